// SPDX-License-Identifier: GPL-3.0-or-later
// The ipset writer thread: takes member changes off a BatchQueue, counts the flows holding each
// member (two flows to one server share a hash:ip member: the first flow's end must not remove
// it), sends the batch through SetWriter, answers per change, and re-adds long-lived members.
#include "ctlabeld/ipset/sink_writer.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "ctlabeld/common/batch_queue.hpp"
#include "ctlabeld/common/siphash.hpp"
#include "ipset/logger.hpp"

namespace ctlabeld::ipset {

namespace {

using Clock = std::chrono::steady_clock;

// A member as the set stores it: only the fields the set's type uses, so two flows that give
// the same element give the same key. No padding: the bytes are hashed as they are.
struct MemberKey {
  std::uint16_t sink = 0;
  std::uint8_t ip_version = 0;
  std::uint8_t protocol = 0;
  std::uint16_t port = 0;
  std::uint16_t zero = 0;
  std::array<std::uint8_t, 16> a{};  // hash:ip other; ip,port other; ip,port,ip local; mac
  std::array<std::uint8_t, 16> b{};  // ip,port,ip other
  friend bool operator==(const MemberKey&, const MemberKey&) = default;
};
static_assert(sizeof(MemberKey) == 40);

MemberKey key_of(std::uint16_t sink, Type type, const MemberFields& m) noexcept {
  MemberKey k;
  k.sink = sink;
  switch (type) {
    case Type::kHashIp:
      k.ip_version = m.ip_version;
      k.a = m.other_addr.bytes;
      break;
    case Type::kHashIpPort:
      k.ip_version = m.ip_version;
      k.protocol = m.ip_protocol;
      k.port = m.other_port;
      k.a = m.other_addr.bytes;
      break;
    case Type::kHashIpPortIp:
      k.ip_version = m.ip_version;
      k.protocol = m.ip_protocol;
      k.port = m.other_port;
      k.a = m.local_addr.bytes;
      k.b = m.other_addr.bytes;
      break;
    case Type::kHashMac: std::copy(m.local_mac.begin(), m.local_mac.end(), k.a.begin()); break;
  }
  return k;
}

// The member's fields back from its key (for the refresh of a member no change carries).
MemberFields fields_of(Type type, const MemberKey& k) noexcept {
  MemberFields m;
  m.ip_version = k.ip_version;
  m.ip_protocol = k.protocol;
  m.other_port = k.port;
  switch (type) {
    case Type::kHashIp:
    case Type::kHashIpPort: m.other_addr.bytes = k.a; break;
    case Type::kHashIpPortIp:
      m.local_addr.bytes = k.a;
      m.other_addr.bytes = k.b;
      break;
    case Type::kHashMac: std::copy_n(k.a.begin(), m.local_mac.size(), m.local_mac.begin()); break;
  }
  return m;
}

// Keyed by the per-start secret: the network chooses the addresses.
struct KeyHash {
  SipKey secret;
  std::size_t operator()(const MemberKey& k) const noexcept {
    return static_cast<std::size_t>(siphash<1, 3>(secret, &k, sizeof k));
  }
};

struct Member {
  std::uint32_t holders = 0;    // adds without their delete yet (flows holding the member)
  std::uint32_t timeout_s = 0;  // the last add's timeout
  Clock::time_point refresh_at{};
  bool in_set = false;  // the kernel accepted an add and no delete since
};

// Which outcomes mean the change will not succeed if sent again: counted, dropped, logged once.
bool permanent(MemberOutcome o) noexcept {
  return o == MemberOutcome::kNoSet || o == MemberOutcome::kSetFull ||
         o == MemberOutcome::kRejected;
}

}  // namespace

class IpsetSinkWriter::Impl {
 public:
  struct Item {
    MemberChange change;
    Clock::time_point submitted{};
    bool tick = false;  // the refresh timer's wake-up, no change
  };

  Impl(const SinkWriterOptions& options, SetWriter writer, SipKey secret)
      : options_(options),
        queue_(options.queue_capacity),
        writer_(std::move(writer)),
        members_(1024, KeyHash{secret}) {}

  void start_threads() {
    thread_ = std::thread([this] { run(); });
    if (options_.refresh_tick.count() > 0) timer_ = std::thread([this] { tick(); });
  }

  bool submit(const MemberChange& change) noexcept {
    if (!queue_.push(Item{change, Clock::now(), false})) return false;
    submitted_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  Expected<std::uint16_t> bind(const std::any& any) {
    using Result = Expected<std::uint16_t>;
    const auto* spec = std::any_cast<SetSpec>(&any);
    if (spec == nullptr) return Result::failure("ipset writer: the sink is not an ipset::SetSpec");
    std::lock_guard lock(mutex_);
    if (stopped_) return Result::failure("ipset writer: stopped");
    const auto it = std::find_if(sinks_.begin(), sinks_.end(),
                                 [&](const Sink& s) { return s.spec.name == spec->name; });
    // flush_on_create empties a set when the daemon starts, not on a reload: the members the
    // enforcers track stay.
    SetSpec check = *spec;
    if (it != sinks_.end()) check.flush_on_create = false;
    auto attached = writer_.attach(check);
    if (!attached) return Result::failure(attached.errors());
    if (it != sinks_.end()) {
      // A reload: same set, same handle; the settings and logging start afresh.
      it->spec = check;
      it->set = attached.value();
      it->logged = {};
      return static_cast<std::uint16_t>(it - sinks_.begin());
    }
    if (sinks_.size() >= 0xffff) return Result::failure("ipset writer: too many sets");
    Sink sink;
    sink.spec = *spec;
    sink.set = attached.value();
    sink.counters.name = "ipset " + spec->name;
    sinks_.push_back(std::move(sink));
    return static_cast<std::uint16_t>(sinks_.size() - 1);
  }

  void stop() {
    {
      std::lock_guard lock(timer_mutex_);
      timer_stop_ = true;
    }
    timer_cv_.notify_all();
    std::lock_guard join_lock(join_mutex_);
    if (timer_.joinable()) timer_.join();
    queue_.close();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    if (auto done = writer_.shutdown(); !done) {
      for (const auto& e : done.errors()) logger()->warn("{}", e);
    }
  }

  void flush() { queue_.wait_handled(); }

  std::vector<SinkCounters> counters() const {
    std::lock_guard lock(mutex_);
    std::vector<SinkCounters> out;
    out.reserve(sinks_.size());
    for (const auto& s : sinks_) out.push_back(s.counters);
    return out;
  }

  SinkWriterStats stats() const {
    std::lock_guard lock(mutex_);
    SinkWriterStats s = stats_;
    s.submitted = submitted_.load(std::memory_order_relaxed);
    s.queue_full = queue_.refused();
    s.members = members_.size();
    s.messages = writer_.counters().messages;
    s.syscalls = writer_.counters().syscalls;
    return s;
  }

 private:
  struct Sink {
    SetSpec spec;
    SetHandle set = 0;
    SinkCounters counters;
    struct {
      bool no_set = false, full = false, rejected = false, failed = false;
    } logged;
  };

  // What became of one request: which change asked (none: a refresh), and whether the member
  // was in the set before (a delete that lands takes it out of `present`).
  struct Plan {
    std::size_t item = kNoItem;
    MemberKey key;
    bool was_in_set = false;
  };
  static constexpr std::size_t kNoItem = static_cast<std::size_t>(-1);

  void run() {
    while (queue_.pop_batch(items_, std::max<std::size_t>(options_.batch, 1))) {
      process();
      queue_.handled(items_.size());
    }
    queue_.consumer_exited();
  }

  void tick() {
    std::unique_lock lock(timer_mutex_);
    while (!timer_cv_.wait_for(lock, options_.refresh_tick, [&] { return timer_stop_; })) {
      (void)queue_.push(Item{MemberChange{}, Clock::now(), true});
    }
  }

  void process() {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    requests_.clear();
    plans_.clear();
    bool refresh = false;
    for (std::size_t i = 0; i < items_.size(); ++i) {
      const Item& item = items_[i];
      if (item.tick) {
        refresh = true;
        continue;
      }
      const MemberChange& c = item.change;
      if (c.sink.handle >= sinks_.size()) {
        logger()->error("ipset writer: change for unbound sink {} dropped", c.sink.handle);
        continue;
      }
      const Sink& sink = sinks_[c.sink.handle];
      const MemberKey key = key_of(c.sink.handle, sink.spec.type, c.fields);
      Plan plan{i, key, false};
      // Holders count flows, as the enforcer does: a first add holds, a delete lets go, and a
      // retry (attempts > 0: it was handed back) was counted when first sent.
      if (c.op == SetOp::kDelete) {
        const auto it = members_.find(key);
        if (it != members_.end()) {
          Member& m = it->second;
          const bool retry = c.attempts > 0;
          if ((retry && m.holders > 0) || (!retry && m.holders > 1)) {
            // Another flow holds it (or took it again since this delete was handed back).
            if (!retry) --m.holders;
            ++stats_.shared;
            continue;
          }
          m.holders = 0;  // leaving: erased once the kernel answers for good
          plan.was_in_set = m.in_set;
        }
      } else {
        Member& m = members_[key];
        plan.was_in_set = m.in_set;
        if (c.op == SetOp::kAdd && c.attempts == 0) ++m.holders;
        m.timeout_s = static_cast<std::uint32_t>(
            std::clamp<std::int64_t>(c.timeout.count(), 0, std::int64_t{0x7fffffff}));
        m.refresh_at = now + std::chrono::seconds(m.timeout_s) / 2;
        if (m.holders == 0 && !m.in_set) members_.erase(key);  // nobody added it
      }
      requests_.push_back(Request{c.op, sink.set, c.fields, c.timeout});
      plans_.push_back(plan);
    }
    if (refresh) add_refreshes(now);
    if (requests_.empty()) return;
    results_.assign(requests_.size(), MemberResult{});
    writer_.apply(requests_, results_);
    const auto answered = Clock::now();
    for (std::size_t r = 0; r < requests_.size(); ++r)
      answer(plans_[r], requests_[r], results_[r], answered);
  }

  // Members whose timeout is half gone are added again (with -exist the kernel restarts it).
  void add_refreshes(Clock::time_point now) {
    for (auto& [key, m] : members_) {
      if (m.timeout_s == 0 || m.holders == 0 || !m.in_set || m.refresh_at > now) continue;
      m.refresh_at = now + std::chrono::seconds(m.timeout_s) / 2;
      const Sink& sink = sinks_[key.sink];
      requests_.push_back(Request{SetOp::kRefresh, sink.set, fields_of(sink.spec.type, key),
                                  std::chrono::seconds(m.timeout_s)});
      plans_.push_back(Plan{kNoItem, key, true});
    }
  }

  void answer(const Plan& plan, const Request& request, const MemberResult& result,
              Clock::time_point answered) {
    Sink& sink = sinks_[plan.key.sink];
    SinkCounters& c = sink.counters;
    const bool del = request.op == SetOp::kDelete;
    if (plan.item != kNoItem) {
      const Item& item = items_[plan.item];
      const auto from =
          item.change.origin != Clock::time_point{} ? item.change.origin : item.submitted;
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(answered - from);
      log2_add(stats_.latency_us,
               static_cast<std::uint64_t>(std::max<std::int64_t>(us.count(), 0)));
    }
    if (del) {
      // The member leaves the table whatever the answer: a handed-back delete that comes again
      // is sent as for an unknown member; a flow that took the member since keeps it.
      if (const auto it = members_.find(plan.key);
          it != members_.end() && it->second.holders == 0) {
        members_.erase(it);
      }
      if (plan.was_in_set && c.present > 0) --c.present;
    }
    if (result.outcome == MemberOutcome::kApplied || result.outcome == MemberOutcome::kAbsent) {
      ++c.writes;
      if (plan.item == kNoItem) ++stats_.refreshes;
      if (!del) {
        if (const auto it = members_.find(plan.key); it != members_.end() && !it->second.in_set) {
          it->second.in_set = true;
          ++c.present;
        }
      }
      return;
    }
    ++c.errors;
    ++c.errors_by_errno[result.error];
    if (plan.item == kNoItem) return;  // a refresh: the member stays; the next tick tries again
    const MemberChange& change = items_[plan.item].change;
    if (!permanent(result.outcome) && change.feedback != nullptr) {
      // The enforcer sends it again (with attempts + 1) unless a later change superseded it.
      ++stats_.handed_back;
      change.feedback->failed(change);
      log_once(sink, sink.logged.failed, result,
               "failed (the change is retried; if this repeats, check `ipset list " +
                   sink.spec.name + "` and the kernel log)");
      return;
    }
    ++c.dropped;
    switch (result.outcome) {
      case MemberOutcome::kNoSet:
        log_once(sink, sink.logged.no_set, result,
                 "does not exist any more (destroyed while ctlabeld runs): members are dropped; "
                 "create it again (`ipset create " +
                     sink.spec.name + " " + std::string(type_name(sink.spec.type)) +
                     " ... timeout 0`) or set \"managed\": true, then reload ctlabeld (SIGHUP)");
        break;
      case MemberOutcome::kSetFull: break;  // SetWriter logs a full set once
      case MemberOutcome::kRejected:
        log_once(sink, sink.logged.rejected, result,
                 "refused a member (counted in the stats as dropped); check the set's type and "
                 "family against the target's");
        break;
      default:
        log_once(sink, sink.logged.failed, result, "failed and nobody can retry it: dropped");
        break;
    }
  }

  static void log_once(const Sink& sink, bool& logged, const MemberResult& result,
                       const std::string& what) {
    if (logged) return;
    logged = true;
    logger()->warn(
        "ipset {}: {} (errno {}: {}); further such errors are only counted", sink.spec.name, what,
        result.error,
        result.error > 0 && result.error < 4096 ? std::strerror(result.error) : "ipset error");
  }

  SinkWriterOptions options_;
  BatchQueue<Item> queue_;
  std::atomic<std::uint64_t> submitted_{0};

  // The writer thread's state and the sinks; bind() takes the same lock (it talks to the
  // kernel through the same SetWriter), counters() and stats() too.
  mutable std::mutex mutex_;
  SetWriter writer_;
  std::vector<Sink> sinks_;
  std::unordered_map<MemberKey, Member, KeyHash> members_;
  SinkWriterStats stats_;
  bool stopped_ = false;
  std::vector<Item> items_;
  std::vector<Request> requests_;
  std::vector<Plan> plans_;
  std::vector<MemberResult> results_;

  std::mutex timer_mutex_;
  std::condition_variable timer_cv_;
  bool timer_stop_ = false;
  std::mutex join_mutex_;
  std::thread thread_;
  std::thread timer_;
};

IpsetSinkWriter::IpsetSinkWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IpsetSinkWriter::~IpsetSinkWriter() { stop(); }

Expected<std::unique_ptr<IpsetSinkWriter>> IpsetSinkWriter::start(
    const SinkWriterOptions& options) {
  using Result = Expected<std::unique_ptr<IpsetSinkWriter>>;
  auto writer = SetWriter::open(options.set_writer);
  if (!writer) return Result::failure(writer.errors());
  auto secrets = random_hash_secrets();
  if (!secrets) return Result::failure(secrets.errors());
  auto impl = std::make_unique<Impl>(options, std::move(writer).value(), secrets.value().flows);
  impl->start_threads();
  return std::unique_ptr<IpsetSinkWriter>(new IpsetSinkWriter(std::move(impl)));
}

bool IpsetSinkWriter::submit(const MemberChange& change) noexcept { return impl_->submit(change); }
Expected<std::uint16_t> IpsetSinkWriter::bind(const std::any& spec) { return impl_->bind(spec); }
void IpsetSinkWriter::stop() { impl_->stop(); }
std::vector<SinkCounters> IpsetSinkWriter::counters() const { return impl_->counters(); }
void IpsetSinkWriter::flush() { impl_->flush(); }
SinkWriterStats IpsetSinkWriter::stats() const { return impl_->stats(); }

Expected<std::unique_ptr<SinkWriter>> start_sink_writer() {
  auto started = IpsetSinkWriter::start();
  if (!started) return Expected<std::unique_ptr<SinkWriter>>::failure(started.errors());
  return std::unique_ptr<SinkWriter>(std::move(started).value());
}

}  // namespace ctlabeld::ipset
