// SPDX-License-Identifier: GPL-3.0-or-later
// The enforcement stage: the one owner of "what has been applied" to each flow, by flow id.
// It diffs what the rules want against what was applied, hands only the difference to the
// writer of that target type, records a change as applied only when the writer accepted it,
// and retries what the writer refused or handed back. One per worker; shares nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "ctlabeld/common/effect_writer.hpp"
#include "ctlabeld/common/flow_id.hpp"
#include "ctlabeld/common/labels.hpp"
#include "ctlabeld/common/net.hpp"
#include "ctlabeld/common/sink_writer.hpp"
#include "ctlabeld/conntrack/label_writer.hpp"

namespace ctlabeld::enforce {

// Builds the record a records writer (log) gets with an add: called only for such sinks.
class RecordSource {
 public:
  virtual ~RecordSource() = default;
  [[nodiscard]] virtual std::shared_ptr<const FlowRecord> record(const MemberWish& wish) const = 0;
};

// What the rules want for one flow, per kind of effect.
struct Desired {
  // Conntrack (ctlabel, ctmark): one write carries both.
  LabelBits labels;   // bits the matching ctlabel targets set
  LabelBits managed;  // every bit the current rules may set
  bool log_errors = false;
  std::uint32_t mark = 0;          // ctmark bits the matching targets set
  std::uint32_t mark_managed = 0;  // every mark bit the current rules may set
  // Sinks (nftset, ipset, log): the ones the flow should be in, each once, the values their
  // elements are built from, and where records come from.
  std::span<const MemberWish> members;
  const MemberFields* member_fields = nullptr;  // required when `members` is not empty
  const RecordSource* records = nullptr;
};

// Plain counters of one enforcer (its worker publishes them).
struct EnforcerStats {
  std::uint64_t submitted = 0;    // changes the writer accepted (retries included)
  std::uint64_t refused = 0;      // submits the writer refused; each is kept and retried
  std::uint64_t retried = 0;      // accepted resubmissions of refused or handed-back changes
  std::uint64_t handed_back = 0;  // accepted changes the writer returned as not completed
  // Sinks: changes (adds, deletes) the sink writers accepted, refused (kept, retried in order),
  // handed back (retried), and gave up on after kMaxAttempts hand-backs.
  std::uint64_t member_submitted = 0;
  std::uint64_t member_refused = 0;
  std::uint64_t member_handed_back = 0;
  std::uint64_t member_gave_up = 0;
};

// What has been applied to one flow (for the control socket and --flows).
struct Applied {
  LabelBits labels;
  std::uint32_t mark = 0;
  std::vector<SinkRef> sinks;
};

class Enforcer {
 public:
  using LabelWriter = EffectWriter<conntrack::LabelUpdate>;
  enum class Outcome : std::uint8_t {
    kUnchanged,  // already applied (or already waiting): nothing sent
    kApplied,    // the writer accepted the change (a dry run applies at once)
    kPending,    // refused for now: kept and resubmitted by service()
  };

  // `writer` null: a dry run, where a change counts as applied at once; `sinks` null alike for
  // sink changes. `max_flows` bounds the flow index (the classifier's table size); state grows
  // with the slots actually used.
  Enforcer(LabelWriter* writer, std::size_t max_flows, const SinkTable* sinks = nullptr);
  // A handed-back sink change is retried this many times, then dropped (counted).
  static constexpr std::uint8_t kMaxAttempts = 5;
  Enforcer(const Enforcer&) = delete;
  Enforcer& operator=(const Enforcer&) = delete;

  // The rules' verdict for a live flow. The write's mask covers the current rules' bits and
  // every bit applied before, so a bit the rules no longer set (label changed, action removed,
  // target disabled by a reload) is cleared rather than left on the connection; marks alike.
  // Sinks: the flow is added to each wished sink it is not in, and removed from each it is in
  // but no longer wished (records writers get adds only).
  Outcome apply(FlowId flow, const FlowTuple& tuple, const Desired& desired,
                std::chrono::steady_clock::time_point origin) noexcept;
  // The flow ended: it leaves every sink it is in, and is forgotten. A change still waiting is
  // sent all the same (the connection may outlive the record, e.g. after an eviction) but no
  // longer tracked.
  void end(FlowId flow) noexcept;
  // Resubmits what was refused and what the writer handed back. Cheap when there is nothing;
  // call it between batches.
  void service() noexcept;

  // The bits applied to (or waiting for) a live flow; none for an unknown one.
  [[nodiscard]] LabelBits labels_of(FlowId flow) const noexcept;
  // Everything applied to (or waiting for) a live flow.
  [[nodiscard]] Applied applied_of(FlowId flow) const;
  // Changes waiting to be resubmitted.
  [[nodiscard]] std::size_t pending() const noexcept {
    return pending_.size() + member_queue_.size();
  }
  [[nodiscard]] const EnforcerStats& stats() const noexcept { return stats_; }

 private:
  struct Entry {
    std::uint32_t generation = 0;  // the flow this entry is for; 0: none
    std::uint32_t pending = 0;     // 1 + index into pending_ of its waiting change; 0: none
    LabelBits applied;             // accepted by the writer
    std::uint32_t mark = 0;        // mark bits set, accepted by the writer
    std::uint32_t members = 0;     // 1 + index into members_; 0: in no sink
  };
  // The sinks one flow is in (or waiting to be in) and the fields its elements were built from.
  struct Members {
    std::vector<SinkRef> in;
    MemberFields fields;
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
  bool apply_members(Entry& e, FlowId flow, const Desired& desired,
                     std::chrono::steady_clock::time_point origin) noexcept;
  void leave_all(Entry& e, FlowId flow) noexcept;
  // Submits in order: behind anything already waiting, else straight to the writer.
  void send_member(const MemberChange& change) noexcept;
  void take_members_handed_back() noexcept;
  void service_members() noexcept;

  LabelWriter* writer_;
  std::size_t max_flows_;
  std::vector<std::unique_ptr<Entry[]>> pages_;  // by FlowId::index / kPageEntries
  std::vector<conntrack::LabelUpdate> pending_;
  WriteFeedback<conntrack::LabelUpdate> feedback_;
  std::vector<conntrack::LabelUpdate> returned_;
  const SinkTable* sinks_;
  std::vector<Members> members_;
  std::vector<std::uint32_t> free_members_;
  std::deque<MemberChange> member_queue_;  // refused sink changes, resubmitted in order
  WriteFeedback<MemberChange> member_feedback_;
  std::vector<MemberChange> member_returned_;
  EnforcerStats stats_;
};

}  // namespace ctlabeld::enforce
