// SPDX-License-Identifier: GPL-3.0-or-later
// The worker: verdict -> actions -> label update, and the --flows line for each flow.
#include "worker.hpp"

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
}  // namespace

Worker::Worker(unsigned id, std::unique_ptr<classify::Classifier> classifier,
               const RulesHolder& rules, conntrack::LabelWriter* writer, FlowOutput* flows,
               const std::vector<std::string>& source_names)
    : id_(id),
      classifier_(std::move(classifier)),
      rules_holder_(rules),
      writer_(writer),
      flows_(flows),
      source_names_(source_names) {
  rules_ = rules_holder_.get();
  rules_generation_ = rules_holder_.generation();
  if (rules_) evaluation_ = rules_->make_evaluation();
  update_latency_tracking();
}

void Worker::update_latency_tracking() noexcept {
  track_latency_ = rules_ && rules_->managed_bits().any();
}

void Worker::on_dpi_start(classify::FlowRecord& flow) noexcept {
  dpi_flow_ = &flow;
  if (track_latency_) dpi_start_ = std::chrono::steady_clock::now();
}

void Worker::handle(const capture::DecodedPacket& packet, std::uint32_t source) noexcept {
  classifier_->process(packet, source, *this);
  dpi_flow_ = nullptr;
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
}

void Worker::refresh_rules() noexcept {
  const std::uint64_t generation = rules_holder_.generation();
  if (generation == rules_generation_) return;
  rules_generation_ = generation;
  rules_ = rules_holder_.get();
  update_latency_tracking();
  if (!rules_) return;
  evaluation_ = rules_->make_evaluation();
  // Flows classified under the old rules get the new ones now, not only new flows.
  classifier_->for_each_flow([this](classify::FlowRecord& flow) {
    if ((flow.state & classify::kStateVerdict) == 0) return;
    apply_rules(flow, classifier_->verdict_of(flow), false);
  });
}

void Worker::apply_rules(classify::FlowRecord& flow, const classify::Verdict& verdict,
                         bool from_packet) noexcept {
  if (!rules_) return;
  const classify::FlowView view = classify::Classifier::view_of(flow, verdict, iface_of(flow));
  rules_->evaluate(view, evaluation_);
  counters_.actions_matched.fetch_add(evaluation_.matched_actions.size(),
                                      std::memory_order_relaxed);
  // Only changes go to the kernel: bits already applied are never re-sent.
  if (evaluation_.labels == flow.labels_sent) return;
  const bool first_label = flow.labels_sent.none();
  flow.labels_sent = evaluation_.labels;
  std::chrono::steady_clock::time_point origin{};
  if (from_packet && track_latency_) {
    origin = dpi_start_;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - origin)
                        .count();
    bump(counters_.label_decide_us[log2_bucket(static_cast<std::uint64_t>(us < 0 ? 0 : us))]);
    if (first_label) bump(counters_.label_packets[log2_bucket(flow.packets)]);
  }
  if (writer_ == nullptr) return;
  conntrack::LabelUpdate update;
  update.origin = origin;
  update.tuple = view.tuple;
  update.bits = evaluation_.labels;
  update.mask = rules_->managed_bits();
  update.log_errors = evaluation_.log_errors;
  if (writer_->submit(update)) {
    counters_.label_updates.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_.label_queue_full.fetch_add(1, std::memory_order_relaxed);
  }
}

void Worker::on_verdict(classify::FlowRecord& flow, const classify::Verdict& verdict, bool final) {
  apply_rules(flow, verdict, &flow == dpi_flow_);
  if (!final) return;
  counters_.verdicts.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(apps_mutex_);
    auto it = apps_.find(verdict.app);
    if (it == apps_.end()) it = apps_.emplace(std::string(verdict.app), 0).first;
    ++it->second;
  }
  report(flow, verdict);
}

void Worker::on_end(classify::FlowRecord& flow, const classify::Verdict& verdict,
                    classify::EndReason) {
  report(flow, verdict);
}

void Worker::report(classify::FlowRecord& flow, const classify::Verdict& verdict) {
  if (flows_ == nullptr || (flow.state & classify::kStateReported) != 0) return;
  flow.state |= classify::kStateReported;
  FlowLine line{&flow, &verdict, iface_of(flow), {}, {}};
  if (rules_) {
    rules_->evaluate(classify::Classifier::view_of(flow, verdict, iface_of(flow)), evaluation_);
    line.actions = rules_->action_names(evaluation_);
    line.labels = rules_->label_names(flow.labels_sent);
  }
  line_.clear();
  format_flow_json(line, line_);
  flows_->write(line_);
}

std::string_view Worker::iface_of(const classify::FlowRecord& flow) const noexcept {
  return flow.source < source_names_.size() ? std::string_view(source_names_[flow.source])
                                            : std::string_view();
}

void Worker::finish() noexcept {
  refresh_rules();
  classifier_->flush(*this);
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
  s.label_updates = counters_.label_updates.load(std::memory_order_relaxed);
  s.label_queue_full = counters_.label_queue_full.load(std::memory_order_relaxed);
  s.flows_peak = counters_.flows_peak.load(std::memory_order_relaxed);
  s.dpi_peak = counters_.dpi_peak.load(std::memory_order_relaxed);
  s.label_packets = load_counts(counters_.label_packets);
  s.label_decide_us = load_counts(counters_.label_decide_us);
  std::lock_guard<std::mutex> lock(apps_mutex_);
  s.apps.insert(apps_.begin(), apps_.end());
  return s;
}

}  // namespace ctlabeld::app
