// SPDX-License-Identifier: GPL-3.0-or-later
// The enforcement stage: the one owner of "what has been applied" to each flow, by flow id.
// It diffs what the rules want against what was applied, hands only the difference to the
// writer of that target type, records a change as applied only when the writer accepted it,
// and retries what the writer refused or handed back. One per worker; shares nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "ctlabeld/common/effect_writer.hpp"
#include "ctlabeld/common/flow_id.hpp"
#include "ctlabeld/common/labels.hpp"
#include "ctlabeld/common/net.hpp"
#include "ctlabeld/conntrack/label_writer.hpp"

namespace ctlabeld::enforce {

// What the rules want for one flow, per target type (ctlabel today).
struct Desired {
  LabelBits labels;   // bits the matching ctlabel targets set
  LabelBits managed;  // every bit the current rules may set
  bool log_errors = false;
};

// Plain counters of one enforcer (its worker publishes them).
struct EnforcerStats {
  std::uint64_t submitted = 0;    // changes the writer accepted (retries included)
  std::uint64_t refused = 0;      // submits the writer refused; each is kept and retried
  std::uint64_t retried = 0;      // accepted resubmissions of refused or handed-back changes
  std::uint64_t handed_back = 0;  // accepted changes the writer returned as not completed
};

class Enforcer {
 public:
  using LabelWriter = EffectWriter<conntrack::LabelUpdate>;
  enum class Outcome : std::uint8_t {
    kUnchanged,  // already applied (or already waiting): nothing sent
    kApplied,    // the writer accepted the change (a dry run applies at once)
    kPending,    // refused for now: kept and resubmitted by service()
  };

  // `writer` null: a dry run, where a change counts as applied at once. `max_flows` bounds the
  // flow index (the classifier's table size); state grows with the slots actually used.
  Enforcer(LabelWriter* writer, std::size_t max_flows);
  Enforcer(const Enforcer&) = delete;
  Enforcer& operator=(const Enforcer&) = delete;

  // The rules' verdict for a live flow. The write's mask covers the current rules' bits and
  // every bit applied before, so a bit the rules no longer set (label changed, action removed,
  // target disabled by a reload) is cleared rather than left on the connection.
  Outcome apply(FlowId flow, const FlowTuple& tuple, const Desired& desired,
                std::chrono::steady_clock::time_point origin) noexcept;
  // The flow ended: forget it. A change still waiting is sent all the same (the connection may
  // outlive the record, e.g. after an eviction) but no longer tracked.
  void end(FlowId flow) noexcept;
  // Resubmits what was refused and what the writer handed back. Cheap when there is nothing;
  // call it between batches.
  void service() noexcept;

  // The bits applied to (or waiting for) a live flow; none for an unknown one.
  [[nodiscard]] LabelBits labels_of(FlowId flow) const noexcept;
  // Changes waiting to be resubmitted.
  [[nodiscard]] std::size_t pending() const noexcept { return pending_.size(); }
  [[nodiscard]] const EnforcerStats& stats() const noexcept { return stats_; }

 private:
  struct Entry {
    std::uint32_t generation = 0;  // the flow this entry is for; 0: none
    std::uint32_t pending = 0;     // 1 + index into pending_ of its waiting change; 0: none
    LabelBits applied;             // accepted by the writer
  };
  // Entries live in fixed pages allocated on first use: memory follows the flow slots in use,
  // and growing never copies (nor doubles the peak).
  static constexpr std::size_t kPageEntries = 4096;
  [[nodiscard]] Entry* slot(std::uint32_t index) const noexcept;
  [[nodiscard]] Entry* find(FlowId flow) const noexcept;
  Entry* entry_for(FlowId flow) noexcept;  // resets a slot that held an older flow
  void keep_pending(Entry& e, const conntrack::LabelUpdate& update) noexcept;
  void detach_pending(Entry& e) noexcept;
  void take_handed_back() noexcept;

  LabelWriter* writer_;
  std::size_t max_flows_;
  std::vector<std::unique_ptr<Entry[]>> pages_;  // by FlowId::index / kPageEntries
  std::vector<conntrack::LabelUpdate> pending_;
  WriteFeedback<conntrack::LabelUpdate> feedback_;
  std::vector<conntrack::LabelUpdate> returned_;
  EnforcerStats stats_;
};

}  // namespace ctlabeld::enforce
