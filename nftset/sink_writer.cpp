// SPDX-License-Identifier: GPL-3.0-or-later
// The nftset writer thread: changes from the enforcement stage in batches through SetWriter,
// which flows hold which element, timed re-adds, and the per-set counters.
#include "ctlabeld/nftset/sink_writer.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "ctlabeld/common/batch_queue.hpp"
#include "nftset/logger.hpp"

namespace ctlabeld::nftset {

namespace {

using Clock = std::chrono::steady_clock;

// Longest wait of the thread with nothing queued and nothing to refresh (it only re-checks).
constexpr std::chrono::hours kIdleWait{1};

std::string sink_name(const SetSpec& spec) {
  return "nftset " + spec.table_family + " " + spec.table + " " + spec.set;
}

}  // namespace

struct SetSinkWriter::Impl {
  struct Item {
    MemberChange change;
    Clock::time_point submitted;
  };
  struct Bound {
    SetSpec spec;
    SetHandle set = 0;  // SetWriter's handle
    bool no_set_logged = false;
    bool rejected_logged = false;
  };
  // An element some flows hold. Keyed by the sink handle and the element's key bytes.
  // The element's fields are not kept: a re-add decodes them from the key (which is most of
  // what a member is), so an element costs its key, this entry and the map's node.
  struct Entry {
    Clock::time_point due{};  // refresh (re-add) from here on
    std::chrono::duration<std::uint32_t> timeout{0};
    std::vector<FlowId> flows;
  };
  // One change of the batch being processed: its request, if it needs the kernel.
  struct Step {
    std::size_t item;
    std::size_t request;  // kNoRequest: handled without the kernel
    std::string key;      // empty: nothing to undo if refused (wrong family, already held)
  };
  static constexpr std::size_t kNoRequest = ~std::size_t{0};

  Impl(const SinkOptions& o, SetWriter w)
      : options(o), queue(o.queue_capacity), writer(std::move(w)) {}

  SinkOptions options;
  BatchQueue<Item> queue;

  // The kernel side: the writer thread processing a batch, or bind() attaching a set.
  mutable std::mutex set_mutex;
  SetWriter writer;
  std::vector<Bound> bound;

  mutable std::mutex stats_mutex;
  std::vector<SinkCounters> sink_counters;  // by handle
  Log2Counts latency{};
  std::uint64_t refreshed = 0;
  std::atomic<std::size_t> tracked_count{0};

  // The writer thread's own state.
  std::unordered_map<std::string, Entry> tracked;
  Clock::time_point next_sweep = Clock::time_point::max();
  std::vector<Item> items;
  std::vector<Step> steps;
  std::vector<Request> requests;
  std::vector<MemberResult> results;

  std::mutex join_mutex;
  std::thread thread;

  [[nodiscard]] std::chrono::nanoseconds interval(std::chrono::seconds timeout) const {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout);
    return std::chrono::nanoseconds(
        static_cast<std::int64_t>(static_cast<double>(ns.count()) * options.refresh_at));
  }
  // Refreshed elements are taken a quarter interval early, so one sweep serves many.
  [[nodiscard]] Clock::time_point early(const Entry& e) const {
    return e.due - interval(std::chrono::seconds(e.timeout.count())) / 4;
  }

  std::string key_of(std::uint16_t handle, const MemberFields& fields) const {
    std::array<std::byte, kMaxKeyBytes> buffer{};
    const SetSpec& spec = bound[handle].spec;
    const std::size_t len = encode_key(spec.fields, spec.family, fields, buffer.data());
    if (len == 0) return {};
    std::string key(2 + len, '\0');
    key[0] = static_cast<char>(handle >> 8);
    key[1] = static_cast<char>(handle & 0xff);
    std::memcpy(key.data() + 2, buffer.data(), len);
    return key;
  }

  static void forget(std::vector<FlowId>& flows, const FlowId& flow) {
    const auto it = std::find(flows.rbegin(), flows.rend(), flow);
    if (it != flows.rend()) flows.erase(std::next(it).base());
  }

  void erase_entry(std::unordered_map<std::string, Entry>::iterator it, SinkCounters& c) {
    tracked.erase(it);
    tracked_count.store(tracked.size(), std::memory_order_relaxed);
    if (c.present > 0) --c.present;
  }

  void run() {
    for (;;) {
      const auto now = Clock::now();
      const auto deadline = std::min(next_sweep, now + kIdleWait);
      if (!queue.pop_batch_until(items, options.batch, deadline)) break;
      if (!items.empty()) {
        process();
        queue.handled(items.size());
      }
      if (Clock::now() >= next_sweep) sweep();
    }
    {
      std::lock_guard lock(set_mutex);
      if (auto done = writer.shutdown(); !done) {
        for (const auto& e : done.errors()) logger()->warn("{} at shutdown", e);
      }
    }
    queue.consumer_exited();
  }

  // Tracks the change before the kernel answers (so an add and a delete of one element in one
  // batch see each other) and undoes what the kernel refused.
  void plan(std::size_t index, Clock::time_point now, std::vector<SinkCounters>& counters) {
    const MemberChange& c = items[index].change;
    const std::uint16_t h = c.sink.handle;
    std::string key = key_of(h, c.fields);
    Request request{c.op, bound[h].set, c.fields, c.timeout};
    const bool trackable = !key.empty();
    bool held = false;  // an add from a flow that already holds the element
    switch (c.op) {
      case SetOp::kAdd: {
        if (trackable) {
          auto [it, fresh] = tracked.try_emplace(key);
          Entry& e = it->second;
          if (fresh) {
            ++counters[h].present;
            tracked_count.store(tracked.size(), std::memory_order_relaxed);
          }
          e.timeout =
              std::chrono::duration<std::uint32_t>(static_cast<std::uint32_t>(c.timeout.count()));
          // A flow holds an element once, however often its add comes (one delete ends it);
          // changes without a flow are counted one by one.
          held = c.flow != FlowId{} &&
                 std::find(e.flows.begin(), e.flows.end(), c.flow) != e.flows.end();
          if (!held) e.flows.push_back(c.flow);
          if (c.timeout.count() > 0) {
            e.due = now + interval(c.timeout);
            next_sweep = std::min(next_sweep, early(e));
          }
        }
        break;
      }
      case SetOp::kRefresh: {
        if (const auto it = tracked.find(key); it != tracked.end() && c.timeout.count() > 0) {
          it->second.timeout =
              std::chrono::duration<std::uint32_t>(static_cast<std::uint32_t>(c.timeout.count()));
          it->second.due = now + interval(c.timeout);
        }
        break;
      }
      case SetOp::kDelete: {
        if (const auto it = tracked.find(key); it != tracked.end()) {
          // Each delete ends one hold: its flow's, or, for a delete without a flow (the
          // enforcer's at a flow's end) or whose flow's hold such a delete already ended, one
          // of the others, so the count of holds stays adds minus deletes.
          auto& flows = it->second.flows;
          const auto own = std::find(flows.rbegin(), flows.rend(), c.flow);
          if (c.flow != FlowId{} && own != flows.rend()) {
            flows.erase(std::next(own).base());
          } else if (!flows.empty()) {
            flows.pop_back();
          }
          if (!it->second.flows.empty()) {
            // Other flows still hold the element: it stays.
            steps.push_back({index, kNoRequest, {}});
            return;
          }
          erase_entry(it, counters[h]);
        }
        break;
      }
    }
    // The add is sent anyway (the kernel takes it as it is: someone may have removed it).
    steps.push_back({index, requests.size(), held ? std::string() : std::move(key)});
    requests.push_back(request);
  }

  // One answer: counters, the once-per-set log lines, the undo of a refused add.
  void account(std::uint16_t h, const MemberResult& r, SinkCounters& c) {
    switch (r.outcome) {
      case MemberOutcome::kApplied: ++c.writes; return;
      case MemberOutcome::kAbsent: return;  // a delete of an element already gone
      case MemberOutcome::kSetFull: break;  // SetWriter logs the full set once
      case MemberOutcome::kNoSet:
        if (!bound[h].no_set_logged) {
          bound[h].no_set_logged = true;
          logger()->warn(
              "nft set '{} {} {}' no longer exists: its elements are dropped and counted; "
              "create it again (or set \"managed\": true in the target) and reload ctlabeld",
              bound[h].spec.table_family, bound[h].spec.table, bound[h].spec.set);
        }
        break;
      case MemberOutcome::kRejected:
        if (!bound[h].rejected_logged) {
          bound[h].rejected_logged = true;
          logger()->warn(
              "nft set '{} {} {}' refused an element ({}, errno {}): such elements are dropped "
              "and counted; check that the set's type matches the target's type",
              bound[h].spec.table_family, bound[h].spec.table, bound[h].spec.set,
              std::strerror(r.error), r.error);
        }
        break;
      case MemberOutcome::kFailed: break;
    }
    ++c.errors;
    ++c.errors_by_errno[r.error];
  }

  void process() {
    const auto now = Clock::now();
    std::vector<std::size_t> back;  // items handed back to their submitter
    {
      std::lock_guard lock(set_mutex);
      steps.clear();
      requests.clear();
      {
        std::lock_guard s(stats_mutex);
        for (std::size_t i = 0; i < items.size(); ++i) {
          // A handle this writer never gave out breaks the seam's invariant.
          if (items[i].change.sink.handle >= bound.size()) std::abort();
          plan(i, now, sink_counters);
        }
      }
      results.assign(requests.size(), MemberResult{});
      writer.apply(requests, results);
      const auto done = Clock::now();
      std::lock_guard s(stats_mutex);
      for (const Step& step : steps) {
        if (step.request == kNoRequest) continue;
        const MemberChange& c = items[step.item].change;
        const std::uint16_t h = c.sink.handle;
        SinkCounters& counters = sink_counters[h];
        const MemberResult& r = results[step.request];
        account(h, r, counters);
        if (c.op == SetOp::kAdd && r.outcome != MemberOutcome::kApplied && !step.key.empty()) {
          if (const auto it = tracked.find(step.key); it != tracked.end()) {
            forget(it->second.flows, c.flow);
            if (it->second.flows.empty()) erase_entry(it, counters);
          }
        }
        if (r.outcome == MemberOutcome::kFailed && c.feedback != nullptr) {
          // Transient: the submitter sends it again (a delete then finds it untracked).
          back.push_back(step.item);
        } else if (r.outcome != MemberOutcome::kApplied && r.outcome != MemberOutcome::kAbsent) {
          ++counters.dropped;
        }
      }
      for (const Item& item : items) {
        const auto from =
            item.change.origin != Clock::time_point{} ? item.change.origin : item.submitted;
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(done - from).count();
        log2_add(latency, static_cast<std::uint64_t>(us < 0 ? 0 : us));
      }
    }
    for (const std::size_t i : back) items[i].change.feedback->failed(items[i].change);
  }

  // Re-adds the elements whose refresh is due, restarting their timeout.
  void sweep() {
    const auto now = Clock::now();
    std::lock_guard lock(set_mutex);
    requests.clear();
    std::vector<std::uint16_t> handles;
    Clock::time_point next = Clock::time_point::max();
    for (auto& [key, e] : tracked) {
      if (e.timeout.count() == 0) continue;
      if (now >= early(e)) {
        const auto h = static_cast<std::uint16_t>((static_cast<unsigned char>(key[0]) << 8) |
                                                  static_cast<unsigned char>(key[1]));
        MemberFields fields;
        const SetSpec& spec = bound[h].spec;
        const auto timeout = std::chrono::seconds(e.timeout.count());
        e.due = now + interval(timeout);
        if (!decode_key(spec.fields, spec.family,
                        reinterpret_cast<const std::byte*>(key.data() + 2), key.size() - 2,
                        fields)) {
          std::abort();  // the key was encoded from this spec: it decodes
        }
        requests.push_back(Request{SetOp::kRefresh, bound[h].set, fields, timeout});
        handles.push_back(h);
      }
      next = std::min(next, early(e));
    }
    next_sweep =
        next == Clock::time_point::max()
            ? next
            : std::max(next, now + std::chrono::duration_cast<Clock::duration>(options.min_sweep));
    if (requests.empty()) return;
    results.assign(requests.size(), MemberResult{});
    writer.apply(requests, results);
    std::lock_guard s(stats_mutex);
    for (std::size_t i = 0; i < requests.size(); ++i) {
      account(handles[i], results[i], sink_counters[handles[i]]);
      if (results[i].outcome == MemberOutcome::kApplied) ++refreshed;
    }
  }
};

SetSinkWriter::SetSinkWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SetSinkWriter::~SetSinkWriter() { stop(); }

Expected<std::unique_ptr<SetSinkWriter>> SetSinkWriter::start(const SinkOptions& options) {
  using Result = Expected<std::unique_ptr<SetSinkWriter>>;
  auto writer = SetWriter::open(options.writer);
  if (!writer) return Result::failure(writer.errors());
  auto impl = std::make_unique<Impl>(options, std::move(writer.value()));
  Impl* raw = impl.get();
  std::unique_ptr<SetSinkWriter> sink(new SetSinkWriter(std::move(impl)));
  raw->thread = std::thread([raw] { raw->run(); });
  return sink;
}

bool SetSinkWriter::submit(const MemberChange& change) noexcept {
  return impl_->queue.push(Impl::Item{change, Clock::now()});
}

Expected<std::uint16_t> SetSinkWriter::bind(const std::any& spec) {
  using Result = Expected<std::uint16_t>;
  const auto* s = std::any_cast<SetSpec>(&spec);
  if (s == nullptr) return Result::failure("nftset: bind() takes an nftset::SetSpec");
  std::lock_guard lock(impl_->set_mutex);
  auto& bound = impl_->bound;
  for (std::size_t i = 0; i < bound.size(); ++i) {
    if (bound[i].spec != *s) continue;
    // Bound before (a reload): the same handle, once the set passes its checks again (a
    // managed set removed meanwhile is created again).
    if (auto checked = impl_->writer.recheck(bound[i].set); !checked) {
      return Result::failure(checked.errors());
    }
    bound[i].no_set_logged = false;
    return static_cast<std::uint16_t>(i);
  }
  if (bound.size() >= 0xffff) return Result::failure("nftset: too many sets");
  auto handle = impl_->writer.attach(*s);
  if (!handle) return Result::failure(handle.errors());
  bound.push_back(Impl::Bound{*s, handle.value(), false, false});
  {
    std::lock_guard stats(impl_->stats_mutex);
    SinkCounters c;
    c.name = sink_name(*s);
    impl_->sink_counters.push_back(std::move(c));
  }
  logger()->info("{}: attached ({}{})", sink_name(*s), key_layout(s->fields, s->family).text,
                 s->managed ? ", managed" : "");
  return static_cast<std::uint16_t>(bound.size() - 1);
}

void SetSinkWriter::stop() {
  impl_->queue.close();
  std::lock_guard join(impl_->join_mutex);
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::vector<SinkCounters> SetSinkWriter::counters() const {
  std::lock_guard lock(impl_->stats_mutex);
  return impl_->sink_counters;
}

void SetSinkWriter::flush() { impl_->queue.wait_handled(); }

Log2Counts SetSinkWriter::latency_us() const {
  std::lock_guard lock(impl_->stats_mutex);
  return impl_->latency;
}

std::size_t SetSinkWriter::tracked() const {
  return impl_->tracked_count.load(std::memory_order_relaxed);
}

std::uint64_t SetSinkWriter::refreshes() const {
  std::lock_guard lock(impl_->stats_mutex);
  return impl_->refreshed;
}

bool SetSinkWriter::refreshes_in_place() const {
  std::lock_guard lock(impl_->set_mutex);
  return impl_->writer.refreshes_in_place();
}

Expected<std::unique_ptr<SinkWriter>> start_sink_writer() {
  auto started = SetSinkWriter::start();
  if (!started) return Expected<std::unique_ptr<SinkWriter>>::failure(started.errors());
  return std::unique_ptr<SinkWriter>(std::move(started.value()));
}

}  // namespace ctlabeld::nftset
