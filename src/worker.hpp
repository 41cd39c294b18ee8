// SPDX-License-Identifier: GPL-3.0-or-later
// One classification worker: owns an nDPI classifier and flow table, evaluates the actions on
// each verdict, and asks the conntrack writer for label changes. Shares nothing on the hot path.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ctlabeld/actions/rule_set.hpp"
#include "ctlabeld/classify/classifier.hpp"
#include "ctlabeld/common/log2_histogram.hpp"
#include "ctlabeld/conntrack/label_writer.hpp"
#include "flow_output.hpp"
#include "rules_holder.hpp"

namespace ctlabeld::app {

// Counters another thread may read at any time (relaxed atomics, one writer).
struct WorkerCounters {
  std::atomic<std::uint64_t> packets{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> flows_created{0};
  std::atomic<std::uint64_t> flows_expired{0};
  std::atomic<std::uint64_t> flows_evicted{0};
  std::atomic<std::uint64_t> flows_active{0};
  std::atomic<std::uint64_t> verdicts{0};  // final verdicts
  std::atomic<std::uint64_t> giveups{0};
  std::atomic<std::uint64_t> dpi_packets{0};
  std::atomic<std::uint64_t> actions_matched{0};            // action matches, summed over flows
  std::atomic<std::uint64_t> label_updates{0};              // updates handed to the writer
  std::atomic<std::uint64_t> label_queue_full{0};           // updates the writer's queue refused
  std::atomic<std::uint64_t> label_latency_packets_max{0};  // flow packets seen at first label
  std::atomic<std::uint64_t> flows_peak{0};                 // most flows in the table at once
  std::atomic<std::uint64_t> dpi_peak{0};                   // most flows holding nDPI state at once
  // Label latency, log2 buckets: a flow's packets when its first label was decided, and
  // microseconds from the deciding packet reaching nDPI to the update's submission.
  std::array<std::atomic<std::uint64_t>, kLog2Buckets> label_packets{};
  std::array<std::atomic<std::uint64_t>, kLog2Buckets> label_decide_us{};
};

struct WorkerSnapshot {
  std::uint64_t packets, bytes, flows_created, flows_expired, flows_evicted, flows_active, verdicts,
      giveups, dpi_packets, actions_matched, label_updates, label_queue_full, flows_peak, dpi_peak;
  Log2Counts label_packets;
  Log2Counts label_decide_us;
  std::map<std::string, std::uint64_t> apps;  // final verdicts by app
};

class Worker final : public classify::FlowEvents {
 public:
  Worker(unsigned id, std::unique_ptr<classify::Classifier> classifier, const RulesHolder& rules,
         conntrack::LabelWriter* writer, FlowOutput* flows,
         const std::vector<std::string>& source_names);

  void handle(const capture::DecodedPacket& packet, std::uint32_t source) noexcept;
  // Expires idle flows at `now_us` (packet time, or wall time when no packets arrive).
  void tick(std::uint64_t now_us) noexcept;
  // Picks up a newly published rule set and re-evaluates every classified flow against it.
  void refresh_rules() noexcept;
  // Ends every flow (end of input, shutdown).
  void finish() noexcept;

  [[nodiscard]] WorkerSnapshot snapshot() const;
  [[nodiscard]] unsigned id() const noexcept { return id_; }

  void on_verdict(classify::FlowRecord& flow, const classify::Verdict& verdict,
                  bool final) override;
  void on_end(classify::FlowRecord& flow, const classify::Verdict& verdict,
              classify::EndReason reason) override;
  void on_dpi_start(classify::FlowRecord& flow) noexcept override;

 private:
  // `from_packet`: a packet's verdict caused this (not a rule reload), so its latency counts.
  void apply_rules(classify::FlowRecord& flow, const classify::Verdict& verdict,
                   bool from_packet) noexcept;
  void update_latency_tracking() noexcept;
  void report(classify::FlowRecord& flow, const classify::Verdict& verdict);
  void publish_table_counters() noexcept;
  [[nodiscard]] std::string_view iface_of(const classify::FlowRecord& flow) const noexcept;

  unsigned id_;
  std::unique_ptr<classify::Classifier> classifier_;
  const RulesHolder& rules_holder_;
  std::shared_ptr<const actions::RuleSet> rules_;
  std::uint64_t rules_generation_ = 0;
  actions::Evaluation evaluation_;
  conntrack::LabelWriter* writer_;
  FlowOutput* flows_;
  const std::vector<std::string>& source_names_;
  std::uint64_t next_expiry_us_ = 0;
  // Only when the rules manage label bits is the clock read per DPI packet.
  bool track_latency_ = false;
  std::chrono::steady_clock::time_point dpi_start_{};
  // The flow whose packet is in nDPI during this handle(): a verdict for any other flow (an
  // eviction, expiry, flush) was not decided by a packet and has no latency.
  const classify::FlowRecord* dpi_flow_ = nullptr;
  std::string line_;
  WorkerCounters counters_;
  mutable std::mutex apps_mutex_;
  std::map<std::string, std::uint64_t, std::less<>> apps_;
};

}  // namespace ctlabeld::app
