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
}  // namespace

Worker::Worker(unsigned id, std::unique_ptr<classify::Classifier> classifier,
               const RulesHolder& rules, LabelWriter* writer, FlowOutput* flows)
    : id_(id),
      classifier_(std::move(classifier)),
      rules_holder_(rules),
      enforcer_(writer, classifier_->config().max_flows),
      flows_(flows) {
  rules_ = rules_holder_.get();
  rules_generation_ = rules_holder_.generation();
  if (rules_) evaluation_ = rules_->make_evaluation();
  update_latency_tracking();
}

void Worker::update_latency_tracking() noexcept {
  track_latency_ = rules_ && rules_->managed_bits().any();
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
  counters_.packets.store(c.packets, std::memory_order_relaxed);
  counters_.bytes.store(c.bytes, std::memory_order_relaxed);
  counters_.dpi_packets.store(c.dpi_packets, std::memory_order_relaxed);
  counters_.giveups.store(c.giveups, std::memory_order_relaxed);
  counters_.flows_created.store(t.created, std::memory_order_relaxed);
  counters_.flows_expired.store(t.expired, std::memory_order_relaxed);
  counters_.flows_evicted.store(t.evicted, std::memory_order_relaxed);
  counters_.flows_active.store(t.active, std::memory_order_relaxed);
  counters_.flows_peak.store(t.peak_active, std::memory_order_relaxed);
  counters_.dpi_peak.store(c.dpi_peak, std::memory_order_relaxed);
  publish_enforcer_counters();
}

void Worker::publish_enforcer_counters() noexcept {
  const enforce::EnforcerStats& e = enforcer_.stats();
  counters_.label_updates.store(e.submitted, std::memory_order_relaxed);
  counters_.label_queue_full.store(e.refused, std::memory_order_relaxed);
  counters_.label_retries.store(e.retried, std::memory_order_relaxed);
  counters_.label_handed_back.store(e.handed_back, std::memory_order_relaxed);
}

void Worker::poll() noexcept {
  refresh_rules();
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
  // Flows classified under the old rules get the new ones now, not only new flows. With no
  // rules at all, every flow's wish is "nothing": the enforcer clears what it applied.
  classifier_->for_each_verdict(
      [this](const classify::FlowView& flow) { evaluate_and_enforce(flow, false); });
  publish_enforcer_counters();
}

void Worker::evaluate_and_enforce(const classify::FlowView& flow, bool from_packet) noexcept {
  enforce::Desired desired;
  if (rules_) {
    rules_->evaluate(flow, evaluation_);
    bump(counters_.rule_evaluations);
    counters_.actions_matched.fetch_add(evaluation_.matched_actions.size(),
                                        std::memory_order_relaxed);
    desired.labels = evaluation_.labels;
    desired.managed = rules_->managed_bits();
    desired.log_errors = evaluation_.log_errors;
  } else {
    evaluation_.matched_actions.clear();
    evaluation_.labels.reset();
  }
  const bool first_label = enforcer_.labels_of(flow.id).none();
  std::chrono::steady_clock::time_point origin{};
  if (from_packet && track_latency_) origin = dpi_start_;
  const auto outcome = enforcer_.apply(flow.id, flow.tuple, desired, origin);
  if (outcome == enforce::Enforcer::Outcome::kUnchanged) return;
  if (outcome == enforce::Enforcer::Outcome::kPending) {
    publish_enforcer_counters();
  } else {
    counters_.label_updates.store(enforcer_.stats().submitted, std::memory_order_relaxed);
  }
  if (from_packet && track_latency_) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - origin)
                        .count();
    bump(counters_.label_decide_us[log2_bucket(static_cast<std::uint64_t>(us < 0 ? 0 : us))]);
    if (first_label) bump(counters_.label_packets[log2_bucket(flow.packets)]);
  }
}

void Worker::on_verdict(const classify::FlowView& flow, bool final) {
  evaluate_and_enforce(flow, flow.id == dpi_flow_);
  if (!final) return;
  counters_.verdicts.fetch_add(1, std::memory_order_relaxed);
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
  s.packets = counters_.packets.load(std::memory_order_relaxed);
  s.bytes = counters_.bytes.load(std::memory_order_relaxed);
  s.flows_created = counters_.flows_created.load(std::memory_order_relaxed);
  s.flows_expired = counters_.flows_expired.load(std::memory_order_relaxed);
  s.flows_evicted = counters_.flows_evicted.load(std::memory_order_relaxed);
  s.flows_active = counters_.flows_active.load(std::memory_order_relaxed);
  s.verdicts = counters_.verdicts.load(std::memory_order_relaxed);
  s.giveups = counters_.giveups.load(std::memory_order_relaxed);
  s.dpi_packets = counters_.dpi_packets.load(std::memory_order_relaxed);
  s.actions_matched = counters_.actions_matched.load(std::memory_order_relaxed);
  s.rule_evaluations = counters_.rule_evaluations.load(std::memory_order_relaxed);
  s.label_updates = counters_.label_updates.load(std::memory_order_relaxed);
  s.label_queue_full = counters_.label_queue_full.load(std::memory_order_relaxed);
  s.label_retries = counters_.label_retries.load(std::memory_order_relaxed);
  s.label_handed_back = counters_.label_handed_back.load(std::memory_order_relaxed);
  s.flows_peak = counters_.flows_peak.load(std::memory_order_relaxed);
  s.dpi_peak = counters_.dpi_peak.load(std::memory_order_relaxed);
  s.label_packets = load_counts(counters_.label_packets);
  s.label_decide_us = load_counts(counters_.label_decide_us);
  std::lock_guard<std::mutex> lock(apps_mutex_);
  s.apps.insert(apps_.begin(), apps_.end());
  return s;
}

}  // namespace ctlabeld::app
