// SPDX-License-Identifier: GPL-3.0-or-later
// The worker: verdict -> actions -> label update, and the --flows line for each flow.
#include "worker.hpp"

#include <thread>

#include "ctlabeld/common/defaults.hpp"

namespace ctlabeld::app {

namespace {
// Single-writer counters: a plain load+store avoids a locked instruction.
inline void bump(std::atomic<std::uint64_t>& c) noexcept {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
Log2Counts load_counts(const std::array<std::atomic<std::uint64_t>, kLog2Buckets>& a) {
  Log2Counts out{};
  for (std::size_t b = 0; b < kLog2Buckets; ++b) out[b] = a[b].load(std::memory_order_relaxed);
  return out;
}
constexpr std::uint64_t kExpiryEveryUs = static_cast<std::uint64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(defaults::kExpiryScanInterval).count());
// finish(): how long waiting changes are retried while the writer drains (at most 5 s).
constexpr int kFinishRetries = 5000;
constexpr auto kFinishRetryWait = std::chrono::milliseconds(1);
// When the zone database cannot answer for the next edge (tzdata removed under a running
// daemon: the windows count as closed), ask again this much later.
constexpr std::chrono::seconds kEdgeRetry{60};

actions::SysSeconds system_seconds() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}
}  // namespace

Worker::Worker(unsigned id, std::unique_ptr<classify::Classifier> classifier,
               const RulesHolder& rules, LabelWriter* writer, FlowOutput* flows, WallClock clock,
               const SinkTable* sinks)
    : id_(id),
      classifier_(std::move(classifier)),
      rules_holder_(rules),
      enforcer_(writer, classifier_->config().max_flows, sinks),
      flows_(flows),
      clock_(clock ? std::move(clock) : WallClock(&system_seconds)) {
  rules_ = rules_holder_.get();
  rules_generation_ = rules_holder_.generation();
  if (rules_) evaluation_ = rules_->make_evaluation();
  update_latency_tracking();
  schedule_next_edge(window_time());
}

void Worker::update_latency_tracking() noexcept {
  track_latency_ = rules_ && (rules_->managed_bits().any() || rules_->managed_mark() != 0 ||
                              rules_->has_sinks());
}

void Worker::on_dpi_start(FlowId flow) noexcept {
  dpi_flow_ = flow;
  if (track_latency_) dpi_start_ = std::chrono::steady_clock::now();
}

void Worker::handle(const capture::DecodedPacket& packet, std::uint32_t source) noexcept {
  classifier_->process(packet, source, *this);
  dpi_flow_ = FlowId{};
  if (packet.ts_us >= next_expiry_us_) tick(packet.ts_us);
}

void Worker::tick(std::uint64_t now_us) noexcept {
  classifier_->expire(now_us, *this);
  next_expiry_us_ = now_us + kExpiryEveryUs;
  publish_table_counters();
}

void Worker::publish_table_counters() noexcept {
  const auto& t = classifier_->table_stats();
  const auto& c = classifier_->stats();
  counters_.set(WorkerCounter::kPackets, c.packets);
  counters_.set(WorkerCounter::kBytes, c.bytes);
  counters_.set(WorkerCounter::kDpiPackets, c.dpi_packets);
  counters_.set(WorkerCounter::kGiveups, c.giveups);
  counters_.set(WorkerCounter::kFlowsCreated, t.created);
  counters_.set(WorkerCounter::kFlowsExpired, t.expired);
  counters_.set(WorkerCounter::kFlowsEvicted, t.evicted);
  counters_.set(WorkerCounter::kFlowsActive, t.active);
  counters_.set(WorkerCounter::kFlowsPeak, t.peak_active);
  counters_.set(WorkerCounter::kDpiPeak, c.dpi_peak);
  publish_enforcer_counters();
}

void Worker::publish_enforcer_counters() noexcept {
  const enforce::EnforcerStats& e = enforcer_.stats();
  counters_.set(WorkerCounter::kLabelUpdates, e.submitted);
  counters_.set(WorkerCounter::kLabelQueueFull, e.refused);
  counters_.set(WorkerCounter::kLabelRetries, e.retried);
  counters_.set(WorkerCounter::kLabelHandedBack, e.handed_back);
  counters_.set(WorkerCounter::kMemberChanges, e.member_submitted);
  counters_.set(WorkerCounter::kMemberQueueFull, e.member_refused);
  counters_.set(WorkerCounter::kMemberHandedBack, e.member_handed_back);
  counters_.set(WorkerCounter::kMemberGaveUp, e.member_gave_up);
}

std::shared_ptr<const FlowRecord> Worker::Records::record(const MemberWish& wish) const {
  auto r = std::make_shared<FlowRecord>();
  if (flow != nullptr) {
    r->tuple = flow->tuple;
    if (flow->verdict != nullptr) {
      const classify::Verdict& v = *flow->verdict;
      r->app = v.app;
      r->protocol = v.protocol;
      r->category = v.category;
      r->hostname = v.hostname;
      r->detected_by = v.detected_by;
    }
    r->iface = flow->iface;
    r->first_seen_us = flow->first_seen_us;
    r->last_seen_us = flow->last_seen_us;
    r->packets = flow->packets;
    r->bytes = flow->bytes;
  }
  if (rules != nullptr) {
    r->action = rules->action_name(wish.action);
    if (wish.target < rules->parts().targets.size()) {
      r->target = rules->parts().targets[wish.target].name;
    }
  }
  return r;
}

void Worker::poll() noexcept {
  refresh_rules();
  check_windows();
  enforcer_.service();  // with nothing waiting: one atomic load
  publish_enforcer_counters();
}

void Worker::refresh_rules() noexcept {
  const std::uint64_t generation = rules_holder_.generation();
  if (generation == rules_generation_) return;
  rules_generation_ = generation;
  rules_ = rules_holder_.get();
  update_latency_tracking();
  if (rules_) evaluation_ = rules_->make_evaluation();
  const actions::SysSeconds now = window_time();
  schedule_next_edge(now);
  // Flows classified under the old rules get the new ones now, not only new flows (Netify's
  // reprocess_flows, true by default; false leaves them as they are until their own verdict
  // changes). With no rules at all, every flow's wish is "nothing": the enforcer clears what
  // it applied.
  if (!rules_ || rules_->parts().reprocess_flows) reevaluate_all(now);
}

void Worker::reevaluate_all(actions::SysSeconds now) noexcept {
  classifier_->for_each_verdict(
      [this, now](const classify::FlowView& flow) { evaluate_and_enforce(flow, false, now); });
  publish_enforcer_counters();
}

actions::SysSeconds Worker::window_time() const noexcept {
  return rules_ && rules_->has_windows() ? clock_() : actions::SysSeconds{};
}

void Worker::schedule_next_edge(actions::SysSeconds now) noexcept {
  last_window_check_ = now;
  next_edge_.reset();
  if (!rules_ || !rules_->has_windows()) return;
  try {
    next_edge_ = rules_->next_window_edge(now);
  } catch (...) {
    next_edge_ = now + kEdgeRetry;
  }
}

void Worker::check_windows() noexcept {
  if (!next_edge_) return;  // no windows, or none that ever open or close: no clock read
  const actions::SysSeconds now = clock_();
  // A wall clock stepped back (NTP, an operator) may have crossed edges backwards: the
  // windows' state is recomputed then too.
  if (now < *next_edge_ && now >= last_window_check_) {
    last_window_check_ = now;
    return;
  }
  counters_.add(WorkerCounter::kWindowEdges);
  reevaluate_all(now);
  schedule_next_edge(now);
}

void Worker::evaluate_and_enforce(const classify::FlowView& flow, bool from_packet,
                                  actions::SysSeconds now) noexcept {
  enforce::Desired desired;
  if (rules_) {
    rules_->evaluate(flow, evaluation_, now);
    counters_.add(WorkerCounter::kRuleEvaluations);
    counters_.add(WorkerCounter::kActionsMatched, evaluation_.matched_actions.size());
    desired.labels = evaluation_.labels;
    desired.managed = rules_->managed_bits();
    desired.log_errors = evaluation_.log_errors;
    desired.mark = evaluation_.mark;
    desired.mark_managed = rules_->managed_mark();
    desired.members = evaluation_.members;
    desired.member_fields = &evaluation_.member_fields;
    records_.flow = &flow;
    records_.rules = rules_.get();
    desired.records = &records_;
  } else {
    evaluation_.matched_actions.clear();
    evaluation_.labels.reset();
    evaluation_.members.clear();
  }
  const bool first_label = enforcer_.labels_of(flow.id).none();
  std::chrono::steady_clock::time_point origin{};
  if (from_packet && track_latency_) origin = dpi_start_;
  const auto outcome = enforcer_.apply(flow.id, flow.tuple, desired, origin);
  if (outcome == enforce::Enforcer::Outcome::kUnchanged) return;
  if (outcome == enforce::Enforcer::Outcome::kPending) {
    publish_enforcer_counters();
  } else {
    counters_.set(WorkerCounter::kLabelUpdates, enforcer_.stats().submitted);
  }
  if (from_packet && track_latency_) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - origin)
                        .count();
    bump(label_decide_us_[log2_bucket(static_cast<std::uint64_t>(us < 0 ? 0 : us))]);
    if (first_label) bump(label_packets_[log2_bucket(flow.packets)]);
  }
}

void Worker::on_verdict(const classify::FlowView& flow, bool final) {
  evaluate_and_enforce(flow, flow.id == dpi_flow_, window_time());
  if (!final) return;
  counters_.add(WorkerCounter::kVerdicts);
  {
    std::lock_guard<std::mutex> lock(apps_mutex_);
    auto it = apps_.find(flow.verdict->app);
    if (it == apps_.end()) it = apps_.emplace(std::string(flow.verdict->app), 0).first;
    ++it->second;
  }
  report(flow);
}

void Worker::on_end(const classify::FlowView& flow, classify::EndReason) { enforcer_.end(flow.id); }

// The --flows line, written once at the final verdict from the evaluation just made for it.
void Worker::report(const classify::FlowView& flow) {
  if (flows_ == nullptr) return;
  FlowLine line{&flow, {}, {}};
  if (rules_) {
    line.actions = rules_->action_names(evaluation_);
    line.labels = rules_->label_names(evaluation_.labels);
  }
  line_.clear();
  format_flow_json(line, line_);
  flows_->write(line_);
}

void Worker::finish() noexcept {
  refresh_rules();
  classifier_->flush(*this);
  // Every change still waiting goes to the writer before it stops: retried while its queue
  // drains, for a bounded time.
  for (int attempt = 0; attempt < kFinishRetries; ++attempt) {
    enforcer_.service();
    if (enforcer_.pending() == 0) break;
    std::this_thread::sleep_for(kFinishRetryWait);
  }
  publish_table_counters();
}

WorkerSnapshot Worker::snapshot() const {
  WorkerSnapshot s{};
  s.counters = counters_.load();
  s.label_packets = load_counts(label_packets_);
  s.label_decide_us = load_counts(label_decide_us_);
  std::lock_guard<std::mutex> lock(apps_mutex_);
  s.apps.insert(apps_.begin(), apps_.end());
  return s;
}

}  // namespace ctlabeld::app
