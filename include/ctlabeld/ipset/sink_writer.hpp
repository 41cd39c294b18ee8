// SPDX-License-Identifier: GPL-3.0-or-later
// The ipset target's writer: member changes from the enforcement stage, queued and sent in
// batches by one thread through ipset::SetWriter; shared members counted per flow, long-lived
// members re-added before their timeout runs out, counters per set.
#pragma once

#include <any>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/log2_histogram.hpp"
#include "ctlabeld/common/sink_writer.hpp"
#include "ctlabeld/ipset/set_writer.hpp"

namespace ctlabeld::ipset {

struct SinkWriterOptions {
  std::size_t queue_capacity = defaults::kWriterQueueCapacity;
  std::size_t batch = 4096;  // changes taken off the queue per pass of the writer thread
  // How often the writer looks for members whose timeout is half gone (they are added again,
  // which restarts the timeout: -exist). 0: never (tests of the kernel's expiry).
  std::chrono::milliseconds refresh_tick{1000};
  Options set_writer;
};

// The writer's own figures beyond the per-set SinkCounters.
struct SinkWriterStats {
  std::uint64_t submitted = 0;    // changes accepted into the queue
  std::uint64_t queue_full = 0;   // refused: queue full or writer stopped
  std::uint64_t handed_back = 0;  // accepted but failed transiently: returned to be retried
  std::uint64_t refreshes = 0;    // members re-added at half their timeout
  std::uint64_t shared = 0;       // deletes not sent: another flow still holds the member
  std::uint64_t members = 0;      // distinct members tracked (all sets)
  std::uint64_t messages = 0;     // netlink messages (SetWriter)
  std::uint64_t syscalls = 0;     // sendmsg + receive calls (SetWriter)
  Log2Counts latency_us{};        // origin (else submit) to the kernel's answer, per change
};

class IpsetSinkWriter final : public SinkWriter {
 public:
  // Opens the ipset netlink socket and libipset session and starts the writer thread.
  [[nodiscard]] static Expected<std::unique_ptr<IpsetSinkWriter>> start(
      const SinkWriterOptions& options = {});
  ~IpsetSinkWriter() override;
  IpsetSinkWriter(const IpsetSinkWriter&) = delete;
  IpsetSinkWriter& operator=(const IpsetSinkWriter&) = delete;

  // Any thread; only queues. False: queue full or stopped (counted); the caller retries.
  [[nodiscard]] bool submit(const MemberChange& change) noexcept override;
  // Main thread, while the writer runs. `spec` holds an ipset::SetSpec. The set is checked (or
  // created when managed); one handle per set name, so a reload keeps its sinks (changed
  // settings, e.g. skb_mark, apply to the members sent after it).
  [[nodiscard]] Expected<std::uint16_t> bind(const std::any& spec) override;
  // Sends everything queued, waits for the answers, flushes the flush_on_destroy sets, joins.
  void stop() override;
  [[nodiscard]] std::vector<SinkCounters> counters() const override;

  // Blocks until every change submitted before the call has its kernel answer.
  void flush();
  [[nodiscard]] SinkWriterStats stats() const;

  class Impl;

 private:
  explicit IpsetSinkWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The writer table's start function (src/writers.cpp), with the default options.
[[nodiscard]] Expected<std::unique_ptr<SinkWriter>> start_sink_writer();

}  // namespace ctlabeld::ipset
