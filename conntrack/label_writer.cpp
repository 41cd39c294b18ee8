// SPDX-License-Identifier: GPL-3.0-or-later
// The label writer thread: drains the bounded queue in batches into one ctnetlink socket,
// retries misses as the reply tuple (NAT) and turns every kernel answer into a counter.
#include "ctlabeld/conntrack/label_writer.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "conntrack/logger.hpp"
#include "conntrack/netlink.hpp"
#include "ctlabeld/common/batch_queue.hpp"
#include "ctlabeld/conntrack/table.hpp"

namespace ctlabeld::conntrack {

namespace {

constexpr std::chrono::milliseconds kReplyTimeout{2000};
constexpr int kReplyBytesPerMessage = 2048;  // an error reply's skb truesize, with room to spare
constexpr int kMinRcvbuf = 256 * 1024;

// A tuple no conntrack entry uses: TEST-NET-1 addresses (RFC 5737), never routed.
FlowTuple probe_tuple(std::uint16_t src_port) {
  FlowTuple t;
  t.ip_version = 4;
  t.ip_protocol = kProtoUdp;
  const std::uint8_t src[4] = {192, 0, 2, 1};
  const std::uint8_t dst[4] = {192, 0, 2, 2};
  t.src = Address::from_v4(src);
  t.dst = Address::from_v4(dst);
  t.src_port = src_port;
  t.dst_port = 9;
  return t;
}

// At most `per_second` lines per second; the rest are counted and summarised.
class RateLimit {
 public:
  explicit RateLimit(unsigned per_second) : per_second_(per_second) {}
  // True when a line may be logged now; *suppressed gets the count skipped since the last one.
  bool allow(std::uint64_t* suppressed) {
    const auto now = std::chrono::steady_clock::now();
    if (now - window_start_ >= std::chrono::seconds(1)) {
      window_start_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= per_second_) {
      ++suppressed_;
      return false;
    }
    ++in_window_;
    *suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  unsigned per_second_;
  unsigned in_window_ = 0;
  std::uint64_t suppressed_ = 0;
  std::chrono::steady_clock::time_point window_start_{};
};

std::string describe(const FlowTuple& t) {
  if (is_icmp(t.ip_protocol)) {
    return (t.ip_protocol == kProtoIcmp ? "icmp " : "icmpv6 ") + to_string(t.src, t.ip_version) +
           " -> " + to_string(t.dst, t.ip_version) + " type " + std::to_string(t.icmp_type) +
           " id " + std::to_string(t.icmp_id);
  }
  const std::string proto = t.ip_protocol == kProtoTcp ? "tcp "
                            : t.ip_protocol == kProtoUdp
                                ? "udp "
                                : "proto " + std::to_string(t.ip_protocol) + " ";
  const bool v6 = t.ip_version == 6;
  return proto + (v6 ? "[" : "") + to_string(t.src, t.ip_version) + (v6 ? "]:" : ":") +
         std::to_string(t.src_port) + " -> " + (v6 ? "[" : "") + to_string(t.dst, t.ip_version) +
         (v6 ? "]:" : ":") + std::to_string(t.dst_port);
}

}  // namespace

// The writer thread takes batches off a BatchQueue and is the only thread that touches the
// socket: the workers only queue.
class LabelWriter::Impl {
 public:
  struct Item {
    LabelUpdate update;
    std::chrono::steady_clock::time_point submitted;
  };

  Impl(const WriterOptions& options, netlink::MnlSocketPtr socket)
      : queue_(options.queue_capacity),
        batch_(options.batch == 0 ? 1 : options.batch),
        effective_batch_(batch_),
        socket_(std::move(socket)),
        buffer_(batch_ * netlink::kMaxMessageBytes) {}

  void start_thread() {
    thread_ = std::thread([this] { run(); });
  }

  bool submit(const LabelUpdate& update) noexcept {
    if (!queue_.push(Item{update, std::chrono::steady_clock::now()})) return false;
    submitted_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  void stop() {
    queue_.close();
    std::lock_guard join_lock(join_mutex_);
    if (thread_.joinable()) thread_.join();
  }

  void flush() { queue_.wait_handled(); }

  WriterStats stats() const {
    WriterStats s;
    s.submitted = submitted_.load(std::memory_order_relaxed);
    s.queue_full = queue_.refused();
    std::lock_guard lock(stats_mutex_);
    WriterStats copy = stats_;
    copy.submitted = s.submitted;
    copy.queue_full = s.queue_full;
    return copy;
  }

 private:
  // Which pass an item is in, and whether its reply was already lost once.
  struct Pending {
    std::size_t item;
    netlink::Lookup lookup;
    bool resent;
  };

  void run() {
    while (queue_.pop_batch(work_items_, effective_batch_)) {
      process(work_items_);
      queue_.handled(work_items_.size());
    }
    queue_.consumer_exited();
  }

  void process(const std::vector<Item>& items) {
    std::vector<Pending> pending;
    pending.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      pending.push_back({i, netlink::Lookup::kOriginal, false});
    }
    // Each pass yields the next one: reply-tuple retries and resends after lost replies. Three
    // passes cover original -> reply -> one resend; the bound keeps a faulty kernel from looping.
    for (int pass = 0; pass < 4 && !pending.empty(); ++pass) {
      std::vector<Pending> next;
      // effective_batch_ may shrink inside send_chunk (ENOBUFS); advance by what was sent.
      for (std::size_t start = 0; start < pending.size();) {
        const std::size_t n = std::min(effective_batch_, pending.size() - start);
        send_chunk(items, std::span(pending.data() + start, n), next);
        start += n;
      }
      pending.swap(next);
    }
    for (const Pending& p : pending) finish(items[p.item], EAGAIN, p.lookup, /*unknown=*/true);
  }

  void send_chunk(const std::vector<Item>& items, std::span<const Pending> chunk,
                  std::vector<Pending>& next) {
    std::vector<const Pending*> sent;
    sent.reserve(chunk.size());
    std::size_t used = 0;
    std::size_t last = 0;
    const std::uint32_t first_seq = seq_;
    for (const Pending& p : chunk) {
      const std::size_t len = netlink::put_label_update(buffer_.data() + used, items[p.item].update,
                                                        p.lookup, seq_, false);
      if (len == 0) {
        // Not expressible: an unknown IP version, or an ICMP error type (never its own entry).
        std::lock_guard lock(stats_mutex_);
        ++stats_.untrackable;
        continue;
      }
      last = used;
      used += len;
      ++seq_;
      sent.push_back(&p);
    }
    if (sent.empty()) return;
    netlink::request_ack(buffer_.data() + last);
    auto reply = netlink::exchange(socket_.get(), std::span(buffer_.data(), used), first_seq,
                                   sent.size(), kReplyTimeout);
    {
      std::lock_guard lock(stats_mutex_);
      ++stats_.batches;
      stats_.syscalls += reply.syscalls;
      if (reply.enobufs) ++stats_.enobufs;
    }
    if (reply.send_errno != 0) {
      // Nothing was handled; the whole chunk is resent once, then counted.
      note_error(reply.send_errno, "sendmsg");
      for (const Pending* p : sent) {
        if (!p->resent)
          next.push_back({p->item, p->lookup, true});
        else
          finish(items[p->item], reply.send_errno, p->lookup, false, /*send_failed=*/true);
      }
      return;
    }
    if (reply.enobufs) on_enobufs();
    for (std::size_t i = 0; i < sent.size(); ++i) {
      const Pending& p = *sent[i];
      const int err = reply.errors[i];
      if (err == 0 && !reply.complete) {
        // The answer was dropped with others: a masked write is idempotent, so send it again.
        if (!p.resent)
          next.push_back({p.item, p.lookup, true});
        else
          finish(items[p.item], 0, p.lookup, /*unknown=*/true);
        continue;
      }
      if (err == ENOENT && p.lookup == netlink::Lookup::kOriginal) {
        // Captured on the NAT'd side: the packets carry the entry's reply tuple.
        next.push_back({p.item, netlink::Lookup::kReply, false});
        continue;
      }
      finish(items[p.item], err, p.lookup, false);
    }
  }

  void finish(const Item& item, int err, netlink::Lookup lookup, bool unknown,
              bool send_failed = false) {
    const auto now = std::chrono::steady_clock::now();
    const auto latency =
        std::chrono::duration_cast<std::chrono::microseconds>(now - item.submitted).count();
    const auto origin = item.update.origin != std::chrono::steady_clock::time_point{}
                            ? item.update.origin
                            : item.submitted;
    const auto from_origin =
        std::chrono::duration_cast<std::chrono::microseconds>(now - origin).count();
    {
      std::lock_guard lock(stats_mutex_);
      const auto us = static_cast<std::uint64_t>(latency < 0 ? 0 : latency);
      stats_.latency_sum_us += us;
      stats_.latency_max_us = std::max(stats_.latency_max_us, us);
      log2_add(stats_.latency_log2_us,
               static_cast<std::uint64_t>(from_origin < 0 ? 0 : from_origin));
      // Not written, but not refused by the kernel either (the reply was lost, or the send
      // itself failed): handed back to its submitter, which retries it.
      const bool hand_back = (unknown || send_failed) && item.update.feedback != nullptr;
      if (hand_back) ++stats_.handed_back;
      if (unknown) {
        ++stats_.unknown_outcome;
      } else if (err == 0) {
        ++stats_.written;
        if (lookup == netlink::Lookup::kReply) ++stats_.nat_reply_hits;
      } else {
        ++stats_.errors_by_errno[err];
        if (err == ENOENT)
          ++stats_.enoent;
        else if (err == ENOSPC)
          ++stats_.enospc;
        else
          ++stats_.other_errors;
      }
      if (hand_back) item.update.feedback->failed(item.update);
    }
    if (unknown || err == 0) return;
    if (err == ENOSPC)
      on_enospc();
    else if (err != ENOENT)
      note_error(err, "label update");
    if (item.update.log_errors) {
      std::uint64_t suppressed = 0;
      if (flow_limit_.allow(&suppressed)) {
        logger()->warn(
            "conntrack: labelling {} failed: {}{}", describe(item.update.tuple),
            err == ENOENT
                ? "no such connection (ended, untracked, or not in this network namespace)"
                : std::strerror(err),
            suppressed ? fmt::format(" ({} more flow errors not shown)", suppressed) : "");
      }
    }
  }

  void on_enospc() {
    if (enospc_logged_) return;
    enospc_logged_ = true;
    logger()->error(
        "conntrack: the kernel has no label storage for this connection (ENOSPC). It reserves "
        "label "
        "storage only for connections that start while the nftables ruleset uses labels; load the "
        "label-enabling chain shipped in etc/ctlabeld/ctlabeld.nft (nft -f "
        "/etc/ctlabeld/ctlabeld.nft). "
        "Connections that started before that stay unlabelled; the count is in the stats "
        "(enospc).");
  }

  void on_enobufs() {
    const std::size_t smaller = std::max<std::size_t>(1, effective_batch_ / 2);
    if (!enobufs_logged_) {
      enobufs_logged_ = true;
      logger()->warn(
          "conntrack: netlink replies were dropped (ENOBUFS: the socket receive buffer is full); "
          "resending the unanswered updates and lowering the batch from {} to {} messages. Raise "
          "the writer's socket buffer to avoid this.",
          effective_batch_, smaller);
    }
    effective_batch_ = smaller;
  }

  void note_error(int err, const char* what) {
    std::uint64_t suppressed = 0;
    if (!error_limit_.allow(&suppressed)) return;
    logger()->warn("conntrack: {} failed: {} (errno {}){}", what, std::strerror(err), err,
                   suppressed ? fmt::format("; {} similar errors not shown", suppressed) : "");
  }

  BatchQueue<Item> queue_;
  std::atomic<std::uint64_t> submitted_{0};
  mutable std::mutex stats_mutex_;
  WriterStats stats_;

  // The writer thread's own state.
  std::vector<Item> work_items_;
  const std::size_t batch_;
  std::size_t effective_batch_;
  netlink::MnlSocketPtr socket_;
  std::vector<std::byte> buffer_;
  std::uint32_t seq_ = 1;
  bool enospc_logged_ = false;
  bool enobufs_logged_ = false;
  RateLimit error_limit_{5};
  RateLimit flow_limit_{10};

  std::mutex join_mutex_;
  std::thread thread_;
};

namespace {

// Sends one update that cannot match (a TEST-NET tuple) and returns the kernel's errno:
// ENOENT proves the request was accepted, EPERM that CAP_NET_ADMIN is missing.
int permission_probe(mnl_socket* socket) {
  LabelUpdate probe;
  probe.tuple = probe_tuple(9);
  std::vector<std::byte> buffer(netlink::kMaxMessageBytes);
  const std::size_t len =
      netlink::put_label_update(buffer.data(), probe, netlink::Lookup::kOriginal, 1, true);
  if (len == 0) return EINVAL;
  auto reply = netlink::exchange(socket, std::span(buffer.data(), len), 1, 1, kReplyTimeout);
  if (reply.send_errno != 0) return reply.send_errno;
  if (!reply.complete) return ETIMEDOUT;
  return reply.errors[0];
}

std::string permission_message(int err) {
  if (err == EPERM) {
    return "conntrack: the kernel refused a conntrack update (EPERM): ctlabeld needs CAP_NET_ADMIN "
           "to write labels; run it as root, or grant the capability (systemd: "
           "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW; or setcap cap_net_admin,cap_net_raw+ep)";
  }
  return std::string("conntrack: a test update failed unexpectedly: ") + std::strerror(err) +
         "; check that nf_conntrack_netlink is loaded";
}

}  // namespace

LabelWriter::LabelWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LabelWriter::~LabelWriter() { stop(); }

Expected<std::unique_ptr<LabelWriter>> LabelWriter::start(const WriterOptions& options) {
  using Result = Expected<std::unique_ptr<LabelWriter>>;
  const std::size_t batch = options.batch == 0 ? 1 : options.batch;
  const int rcvbuf = options.socket_rcvbuf > 0
                         ? options.socket_rcvbuf
                         : std::max(kMinRcvbuf, static_cast<int>(batch) * kReplyBytesPerMessage);
  auto socket = netlink::open_socket(rcvbuf);
  if (!socket) return Result::failure(socket.errors());
  const int err = permission_probe(socket->get());
  if (err != ENOENT && err != 0) return Result::failure(permission_message(err));
  auto impl = std::make_unique<Impl>(options, std::move(socket).value());
  impl->start_thread();
  return std::unique_ptr<LabelWriter>(new LabelWriter(std::move(impl)));
}

bool LabelWriter::submit(const LabelUpdate& update) noexcept { return impl_->submit(update); }
void LabelWriter::stop() { impl_->stop(); }
void LabelWriter::flush() { impl_->flush(); }
WriterStats LabelWriter::stats() const { return impl_->stats(); }

SelfCheck self_check() {
  SelfCheck check;
  auto socket = netlink::open_socket(0);
  if (!socket) {
    check.message = socket.error_text();
    return check;
  }
  const int err = permission_probe(socket->get());
  if (err != ENOENT && err != 0) {
    check.message = permission_message(err);
    return check;
  }
  check.can_write = true;
  // A probe entry created the way a packet creates one (no labels asked for), then given an
  // empty masked label write: the kernel answers ENOSPC exactly when new connections get no
  // label storage. (A create that carries labels is not a fair test: this kernel attaches
  // storage to it regardless.) Deleted straight away; it would expire after 1 s anyway.
  const auto base = static_cast<std::uint16_t>(40000 + (static_cast<unsigned>(::getpid()) % 20000));
  std::vector<std::byte> buffer(netlink::kMaxMessageBytes);
  auto ask = [&](std::size_t len, std::uint32_t seq) {
    auto reply =
        netlink::exchange(socket->get(), std::span(buffer.data(), len), seq, 1, kReplyTimeout);
    return reply.send_errno != 0 ? reply.send_errno : !reply.complete ? ETIMEDOUT : reply.errors[0];
  };
  for (std::uint16_t attempt = 0; attempt < 3; ++attempt) {
    const FlowTuple original = probe_tuple(static_cast<std::uint16_t>(base + attempt));
    const auto reply_tuple = reversed(original);
    const int create_err = ask(netlink::put_create(buffer.data(), original, *reply_tuple, 1,
                                                   std::nullopt, std::nullopt, 10, true),
                               10);
    if (create_err == EEXIST) continue;  // someone else's probe: try the next port
    if (create_err != 0) {
      check.message = std::string(
                          "conntrack: could not tell whether labels are usable: the probe "
                          "entry was refused: ") +
                      std::strerror(create_err);
      return check;
    }
    LabelUpdate empty;
    empty.tuple = original;
    const int update_err = ask(
        netlink::put_label_update(buffer.data(), empty, netlink::Lookup::kOriginal, 11, true), 11);
    (void)ask(netlink::put_delete(buffer.data(), original, 12, true), 12);
    if (update_err == 0) {
      check.labels_usable_known = true;
      check.labels_usable = true;
      check.message = "conntrack: labels usable: new connections get label storage";
      return check;
    }
    if (update_err == ENOSPC) {
      check.labels_usable_known = true;
      check.labels_usable = false;
      check.message =
          "conntrack: labels NOT usable yet: new connections get no label storage, so every write "
          "would fail with ENOSPC. The kernel reserves it only while the nftables ruleset uses "
          "labels (on many kernels only a 'ct label set' rule counts). Load the label-enabling "
          "chain: nft -f /etc/ctlabeld/ctlabeld.nft (shipped as etc/ctlabeld/ctlabeld.nft)";
      return check;
    }
    check.message = std::string(
                        "conntrack: could not tell whether labels are usable: a label "
                        "write to the probe entry failed: ") +
                    std::strerror(update_err);
    return check;
  }
  check.message = "conntrack: could not tell whether labels are usable: probe tuples are in use";
  return check;
}

}  // namespace ctlabeld::conntrack
