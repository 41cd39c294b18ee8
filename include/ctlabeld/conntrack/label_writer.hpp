// The label writer: the ctlabel target's writer. A bounded batching queue from the workers into
// one ctnetlink socket, drained by the writer's own thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

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

struct WriterStats {
  std::uint64_t submitted = 0;        // accepted into the queue
  std::uint64_t queue_full = 0;       // refused: queue full (or writer stopped)
  std::uint64_t written = 0;          // acknowledged by the kernel
  std::uint64_t nat_reply_hits = 0;   // written only when looked up as the reply tuple
  std::uint64_t enoent = 0;           // no such connection in either direction
  std::uint64_t enospc = 0;           // the connection has no label storage
  std::uint64_t other_errors = 0;     // any other errno, see errors_by_errno
  std::uint64_t untrackable = 0;      // never sent: no IP version, or an ICMP error type
  std::uint64_t enobufs = 0;          // replies lost to a full socket buffer (batch shrinks)
  std::uint64_t unknown_outcome = 0;  // messages whose reply was lost even after a retry
  std::uint64_t handed_back = 0;      // incomplete writes returned to their submitter to retry
  std::uint64_t batches = 0;          // sendmsg calls
  std::uint64_t syscalls = 0;         // sendmsg + receive calls
  std::map<int, std::uint64_t> errors_by_errno;  // every failure, by errno
  std::uint64_t latency_max_us = 0;              // submit to acknowledgement
  std::uint64_t latency_sum_us = 0;              // divide by written + failures for the mean
  Log2Counts latency_log2_us{};                  // update's origin (else submit) to acknowledgement
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
