// SPDX-License-Identifier: GPL-3.0-or-later
// One classification worker: owns an nDPI classifier (classify/), evaluates the actions once per
// verdict change (actions/) and hands the result to its enforcement stage (enforce/), which
// queues changes for the writers. Shares nothing on the hot path and does no netlink I/O.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ctlabeld/actions/rule_set.hpp"
#include "ctlabeld/classify/classifier.hpp"
#include "ctlabeld/common/log2_histogram.hpp"
#include "ctlabeld/conntrack/label_writer.hpp"
#include "ctlabeld/enforce/enforcer.hpp"
#include "counters.hpp"
#include "flow_output.hpp"
#include "rules_holder.hpp"

namespace ctlabeld::app {

struct WorkerSnapshot {
  CounterValues counters{};  // by WorkerCounter (counters.hpp)
  // Label latency, log2 buckets: a flow's packets when its first label was decided, and
  // microseconds from the deciding packet reaching nDPI to the decision.
  Log2Counts label_packets{};
  Log2Counts label_decide_us{};
  std::map<std::string, std::uint64_t> apps;  // final verdicts by app
};

class Worker final : public classify::FlowEvents {
 public:
  using LabelWriter = EffectWriter<conntrack::LabelUpdate>;
  // The wall clock that time_of_day windows follow (windows are wall-clock and zone based, not
  // packet time); tests pass a fake one. Read only while the rule set has windows.
  using WallClock = std::function<actions::SysSeconds()>;
  // `writer` null: a dry run (nothing is written; changes count as applied); `sinks` null
  // alike for the sink targets (nftset, ipset, log). `clock` empty: the system clock.
  Worker(unsigned id, std::unique_ptr<classify::Classifier> classifier, const RulesHolder& rules,
         LabelWriter* writer, FlowOutput* flows, WallClock clock = {},
         const SinkTable* sinks = nullptr);

  void handle(const capture::DecodedPacket& packet, std::uint32_t source) noexcept;
  // Expires idle flows at `now_us` (packet time, or wall time when no packets arrive).
  void tick(std::uint64_t now_us) noexcept;
  // Between batches (the pipeline calls it at least every 50 ms on live capture, packets or
  // not): picks up a newly published rule set (re-evaluating every classified flow against it,
  // unless it has reprocess_flows false), re-evaluates every classified flow once when a
  // time_of_day window edge has passed on the wall clock, and resubmits changes the writer
  // refused or handed back.
  void poll() noexcept;
  // Ends every flow (end of input, shutdown) and hands every waiting change to the writer.
  void finish() noexcept;

  [[nodiscard]] WorkerSnapshot snapshot() const;
  [[nodiscard]] unsigned id() const noexcept { return id_; }
  [[nodiscard]] const enforce::Enforcer& enforcer() const noexcept { return enforcer_; }

  void on_verdict(const classify::FlowView& flow, bool final) override;
  void on_end(const classify::FlowView& flow, classify::EndReason reason) override;
  void on_dpi_start(FlowId flow) noexcept override;

 private:
  void refresh_rules() noexcept;
  // time_of_day: when the wall clock has reached the next window edge (or stepped back), every
  // classified flow is re-evaluated once and the following edge is computed.
  void check_windows() noexcept;
  void reevaluate_all(actions::SysSeconds now) noexcept;
  void schedule_next_edge(actions::SysSeconds now) noexcept;
  // The instant windows are evaluated at: the wall clock while the rules have windows.
  [[nodiscard]] actions::SysSeconds window_time() const noexcept;
  // Evaluates the rules once for this verdict and hands the wish to the enforcer.
  // `from_packet`: a packet's verdict caused this (not a rule reload), so its latency counts.
  void evaluate_and_enforce(const classify::FlowView& flow, bool from_packet,
                            actions::SysSeconds now) noexcept;
  void update_latency_tracking() noexcept;
  void report(const classify::FlowView& flow);
  void publish_table_counters() noexcept;
  void publish_enforcer_counters() noexcept;

  // Records for records sinks (log): the flow being evaluated, named by the current rules.
  class Records final : public enforce::RecordSource {
   public:
    [[nodiscard]] std::shared_ptr<const FlowRecord> record(const MemberWish& wish) const override;
    const classify::FlowView* flow = nullptr;
    const actions::RuleSet* rules = nullptr;
  };

  unsigned id_;
  std::unique_ptr<classify::Classifier> classifier_;
  const RulesHolder& rules_holder_;
  std::shared_ptr<const actions::RuleSet> rules_;
  std::uint64_t rules_generation_ = 0;
  actions::Evaluation evaluation_;
  Records records_;
  enforce::Enforcer enforcer_;
  FlowOutput* flows_;
  WallClock clock_;
  // The next time_of_day edge of rules_; empty when it has none (then the clock is not read).
  std::optional<actions::SysSeconds> next_edge_;
  actions::SysSeconds last_window_check_{};
  std::uint64_t next_expiry_us_ = 0;
  // Only when the rules manage label bits is the clock read per DPI packet.
  bool track_latency_ = false;
  std::chrono::steady_clock::time_point dpi_start_{};
  // The flow whose packet is in nDPI during this handle(): a verdict for any other flow (an
  // eviction, expiry, flush) was not decided by a packet and has no latency.
  FlowId dpi_flow_{};
  std::string line_;
  WorkerCounterSet counters_;
  std::array<std::atomic<std::uint64_t>, kLog2Buckets> label_packets_{};
  std::array<std::atomic<std::uint64_t>, kLog2Buckets> label_decide_us_{};
  mutable std::mutex apps_mutex_;
  std::map<std::string, std::uint64_t, std::less<>> apps_;
};

}  // namespace ctlabeld::app
