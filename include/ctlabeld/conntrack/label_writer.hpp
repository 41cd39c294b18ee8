// SPDX-License-Identifier: GPL-3.0-or-later
// The label writer: the ctlabel target's writer. A bounded batching queue from the workers into
// one ctnetlink socket, drained by the writer's own thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/common/effect_writer.hpp"
#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/flow_id.hpp"
#include "ctlabeld/common/labels.hpp"
#include "ctlabeld/common/log2_histogram.hpp"
#include "ctlabeld/common/net.hpp"

namespace ctlabeld::conntrack {

struct LabelUpdate {
  // Initiator orientation: the conntrack original tuple as captured. Ports and ICMP id are in
  // host byte order (as capture/ decodes them); ip_version 4 or 6 selects AF_INET/AF_INET6.
  FlowTuple tuple{};
  LabelBits bits;  // the bits to set, a subset of `mask`
  LabelBits mask;  // every bit ctlabeld manages: these are set or cleared, all others survive
  bool log_errors = false;  // log this flow's failure (rate-limited), as Netify's log_errors
  // ctmark: ct mark = (ct mark & ~mark_mask) | mark (mark within mark_mask). mark_mask 0: the
  // mark is not written. An empty `mask` with a mark_mask: only the mark is written.
  std::uint32_t mark = 0;
  std::uint32_t mark_mask = 0;
  // When the work that decided this update began (the deciding packet reaching nDPI); the
  // latency histogram runs from here to the kernel's answer. Unset: from submit().
  std::chrono::steady_clock::time_point origin{};
  // Who asked: a write that was accepted but did not complete (reply lost, send failed) is
  // handed back through `feedback` with this identifier, to be retried. Null: nobody to tell.
  FlowId flow{};
  WriteFeedback<LabelUpdate>* feedback = nullptr;
};

struct WriterOptions {
  std::size_t queue_capacity = defaults::kWriterQueueCapacity;
  std::size_t batch = defaults::kWriterBatch;  // messages per sendmsg
  int socket_rcvbuf = 0;                       // bytes; 0: sized for `batch` error replies
};

// The writer's counters, declared once: (field, meaning). Reports iterate the list.
#define CTLABELD_WRITER_COUNTERS(X)                                        \
  X(submitted, "accepted into the queue")                                  \
  X(written, "acknowledged by the kernel")                                 \
  X(nat_reply_hits, "written only when looked up as the reply tuple")      \
  X(enoent, "no such connection in either direction")                      \
  X(enospc, "the connection has no label storage")                         \
  X(other_errors, "any other errno, see errors_by_errno")                  \
  X(untrackable, "never sent: no IP version, or an ICMP error type")       \
  X(enobufs, "replies lost to a full socket buffer (the batch shrinks)")   \
  X(unknown_outcome, "messages whose reply was lost even after a resend")  \
  X(handed_back, "incomplete writes returned to their submitter to retry") \
  X(queue_full, "refused: queue full (or writer stopped)")                 \
  X(batches, "sendmsg calls")                                              \
  X(syscalls, "sendmsg + receive calls")                                   \
  X(latency_max_us, "the longest submit to acknowledgement, microseconds")

struct WriterStats {
#define CTLABELD_WRITER_FIELD(field, meaning) std::uint64_t field = 0;
  CTLABELD_WRITER_COUNTERS(CTLABELD_WRITER_FIELD)
#undef CTLABELD_WRITER_FIELD
  std::map<int, std::uint64_t> errors_by_errno;  // every failure, by errno
  std::uint64_t latency_sum_us = 0;              // divide by written + failures for the mean
  Log2Counts latency_log2_us{};                  // update's origin (else submit) to acknowledgement

  // Calls fn(name, value) for each counter of the list, in order.
  template <typename Fn>
  void for_each_counter(Fn&& fn) const {
#define CTLABELD_WRITER_VISIT(field, meaning) fn(std::string_view(#field), field);
    CTLABELD_WRITER_COUNTERS(CTLABELD_WRITER_VISIT)
#undef CTLABELD_WRITER_VISIT
  }
  // The same with each counter's meaning (the metrics' help text).
  template <typename Fn>
  void for_each_counter_info(Fn&& fn) const {
#define CTLABELD_WRITER_VISIT_INFO(field, meaning) \
  fn(std::string_view(#field), std::string_view(meaning), field);
    CTLABELD_WRITER_COUNTERS(CTLABELD_WRITER_VISIT_INFO)
#undef CTLABELD_WRITER_VISIT_INFO
  }
};

class LabelWriter final : public EffectWriter<LabelUpdate> {
 public:
  // Opens the socket, verifies permission (EPERM is a failure naming CAP_NET_ADMIN) and
  // starts the writer thread.
  [[nodiscard]] static Expected<std::unique_ptr<LabelWriter>> start(const WriterOptions& options);
  ~LabelWriter() override;
  LabelWriter(const LabelWriter&) = delete;
  LabelWriter& operator=(const LabelWriter&) = delete;

  // Any thread; only queues (the writer thread does all netlink I/O). False: queue full or
  // stopped (counted); the caller keeps the update and retries it.
  [[nodiscard]] bool submit(const LabelUpdate& update) noexcept override;
  // Sends everything queued, waits for all replies, joins the thread. Idempotent.
  void stop();
  // Blocks until everything submitted before the call has been answered by the kernel.
  void flush();
  [[nodiscard]] WriterStats stats() const;

  class Impl;

 private:
  explicit LabelWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct SelfCheck {
  bool can_write = false;            // the socket opened and the kernel accepted our requests
  bool labels_usable_known = false;  // the label-storage probe gave an answer
  bool labels_usable = false;        // new connections get label storage right now
  std::string message;               // one paragraph for the log: what we found, what to do
};

// Start-up check in the current network namespace: opens a ctnetlink socket, verifies
// permission, then creates a short-lived probe entry (UDP between TEST-NET-1 addresses
// 192.0.2.1 -> 192.0.2.2, 1 s timeout) with an empty label write and deletes it again. The
// kernel answers ENOSPC exactly when new connections would get no label storage.
[[nodiscard]] SelfCheck self_check();

}  // namespace ctlabeld::conntrack
