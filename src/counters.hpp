// SPDX-License-Identifier: GPL-3.0-or-later
// Every worker counter, declared once: its name in reports ("group.key" nests it in the stats
// JSON), its unit and what it counts. The stats JSON, the summary (--read and SIGUSR1) and the
// periodic log all iterate this list; a new counter is one row here plus the line that bumps it.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ctlabeld::app {

// X(id, name, unit, meaning)
#define CTLABELD_WORKER_COUNTERS(X)                                                             \
  X(kPackets, "packets_classified", "packets", "packets the workers handled")                   \
  X(kBytes, "bytes_classified", "bytes", "their wire bytes")                                    \
  X(kFlowsCreated, "flows.created", "flows", "flows that entered a flow table")                 \
  X(kVerdicts, "flows.classified", "flows", "final verdicts")                                   \
  X(kGiveups, "flows.given_up", "flows", "verdicts through nDPI's give-up guess")               \
  X(kFlowsExpired, "flows.expired", "flows", "flows ended by their idle timeout")               \
  X(kFlowsEvicted, "flows.evicted", "flows", "flows evicted from a full table")                 \
  X(kFlowsActive, "flows.active", "flows", "flows in the tables now")                           \
  X(kDpiPackets, "dpi_packets", "packets", "packets handed to nDPI")                            \
  X(kRuleEvaluations, "rule_evaluations", "evaluations",                                        \
    "rule set evaluations (one a verdict change, and one a flow after a reload or at a "        \
    "time_of_day window edge)")                                                                 \
  X(kActionsMatched, "actions_matched", "matches", "action matches, summed over flows")         \
  X(kLabelUpdates, "label_updates", "updates", "label changes the writer accepted")             \
  X(kLabelQueueFull, "label_queue_full", "submits",                                             \
    "submits the writer refused (kept and "                                                     \
    "retried)")                                                                                 \
  X(kLabelRetries, "label_retries", "updates", "retried label changes the writer accepted")     \
  X(kLabelHandedBack, "label_handed_back", "updates",                                           \
    "accepted label changes the writer could not complete (retried)")                           \
  X(kMemberChanges, "member_changes", "changes",                                                \
    "set element adds and deletes (and log records) the sink writers accepted")                 \
  X(kMemberQueueFull, "member_queue_full", "submits",                                           \
    "sink changes a writer refused (kept and retried in order)")                                \
  X(kMemberHandedBack, "member_handed_back", "changes",                                         \
    "accepted sink changes a writer could not complete (retried)")                              \
  X(kMemberGaveUp, "member_gave_up", "changes", "sink changes dropped after repeated failures") \
  X(kWindowEdges, "window_edges", "edges",                                                      \
    "time_of_day window edges at which every classified flow was re-evaluated")                 \
  X(kFlowsPeak, "peak_flows", "flows", "the most flows in the tables at once")                  \
  X(kDpiPeak, "peak_dpi_flows", "flows", "the most flows holding nDPI state at once")

enum class WorkerCounter : std::size_t {
#define CTLABELD_COUNTER_ID(id, name, unit, meaning) id,
  CTLABELD_WORKER_COUNTERS(CTLABELD_COUNTER_ID)
#undef CTLABELD_COUNTER_ID
      kCount
};
inline constexpr std::size_t kWorkerCounterCount = static_cast<std::size_t>(WorkerCounter::kCount);

struct CounterInfo {
  std::string_view name;  // "group.key" or "key"
  std::string_view unit;
  std::string_view meaning;
};

inline constexpr std::array<CounterInfo, kWorkerCounterCount> kWorkerCounterInfo = {{
#define CTLABELD_COUNTER_INFO(id, name, unit, meaning) {name, unit, meaning},
    CTLABELD_WORKER_COUNTERS(CTLABELD_COUNTER_INFO)
#undef CTLABELD_COUNTER_INFO
}};

using CounterValues = std::array<std::uint64_t, kWorkerCounterCount>;

// One writer thread per array; any thread reads (relaxed atomics).
class WorkerCounterSet {
 public:
  void set(WorkerCounter c, std::uint64_t v) noexcept {
    values_[index(c)].store(v, std::memory_order_relaxed);
  }
  // Single writer: a plain load+store avoids a locked instruction.
  void add(WorkerCounter c, std::uint64_t n = 1) noexcept {
    auto& a = values_[index(c)];
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  [[nodiscard]] CounterValues load() const noexcept {
    CounterValues out{};
    for (std::size_t i = 0; i < kWorkerCounterCount; ++i)
      out[i] = values_[i].load(std::memory_order_relaxed);
    return out;
  }

 private:
  static constexpr std::size_t index(WorkerCounter c) noexcept {
    return static_cast<std::size_t>(c);
  }
  std::array<std::atomic<std::uint64_t>, kWorkerCounterCount> values_{};
};

[[nodiscard]] inline std::uint64_t value_of(const CounterValues& v, WorkerCounter c) noexcept {
  return v[static_cast<std::size_t>(c)];
}

}  // namespace ctlabeld::app
