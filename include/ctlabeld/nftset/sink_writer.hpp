// SPDX-License-Identifier: GPL-3.0-or-later
// The nftset target's writer: a SinkWriter on its own thread over SetWriter. It keeps which
// flows hold each element (an element shared by several flows leaves the set with the last
// one) and re-adds the elements of sets with a timeout before they expire while flows hold them.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/log2_histogram.hpp"
#include "ctlabeld/common/sink_writer.hpp"
#include "ctlabeld/nftset/set_writer.hpp"

namespace ctlabeld::nftset {

struct SinkOptions {
  std::size_t queue_capacity = 65536;  // changes waiting for the writer thread
  std::size_t batch = 1024;            // changes taken off the queue at once
  Options writer;                      // the netlink side (batch size, buffers, refresh probe)
  // Elements of sets with a timeout are added again (their timeout restarted) once this
  // fraction of it has passed while a flow still holds them: ttl is a backstop, not a limit
  // on how long a flow may stay in the set.
  double refresh_at = 0.5;
  // Lower bound between two refresh sweeps (each sweep reads every tracked element).
  std::chrono::milliseconds min_sweep{50};
};

class SetSinkWriter final : public SinkWriter {
 public:
  // Opens the netlink socket (checks CAP_NET_ADMIN through the kernel probe) and starts the
  // thread.
  [[nodiscard]] static Expected<std::unique_ptr<SetSinkWriter>> start(
      const SinkOptions& options = {});
  ~SetSinkWriter() override;

  [[nodiscard]] bool submit(const MemberChange& change) noexcept override;
  // `spec`: an nftset::SetSpec. Attaches the set (managed creation, key type check) on first
  // sight; the same spec again (a reload) is checked again and keeps its handle.
  [[nodiscard]] Expected<std::uint16_t> bind(const std::any& spec) override;
  void stop() override;
  [[nodiscard]] std::vector<SinkCounters> counters() const override;

  // Blocks until every change submitted before the call was handled (tests, benchmark).
  void flush();
  // From each change's origin (else its submission) to the kernel's answer, microseconds.
  [[nodiscard]] Log2Counts latency_us() const;
  // Elements tracked (held by at least one flow), all sets.
  [[nodiscard]] std::size_t tracked() const;
  [[nodiscard]] std::uint64_t refreshes() const;
  [[nodiscard]] bool refreshes_in_place() const;

 private:
  struct Impl;
  explicit SetSinkWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The writer table's start function (src/writers.cpp).
[[nodiscard]] Expected<std::unique_ptr<SinkWriter>> start_sink_writer();

}  // namespace ctlabeld::nftset
