// SPDX-License-Identifier: GPL-3.0-or-later
// Applied state per flow, the diff against the rules' wish, and retries of refused changes.
#include "ctlabeld/enforce/enforcer.hpp"

#include <algorithm>

namespace ctlabeld::enforce {

namespace {
bool contains(const std::vector<SinkRef>& v, SinkRef s) noexcept {
  return std::find(v.begin(), v.end(), s) != v.end();
}
}  // namespace

Enforcer::Enforcer(LabelWriter* writer, std::size_t max_flows, const SinkTable* sinks)
    : writer_(writer), max_flows_(max_flows == 0 ? 1 : max_flows), sinks_(sinks) {}

Enforcer::Entry* Enforcer::slot(std::uint32_t index) const noexcept {
  const std::size_t page = index / kPageEntries;
  if (page >= pages_.size() || !pages_[page]) return nullptr;
  return &pages_[page][index % kPageEntries];
}

Enforcer::Entry* Enforcer::find(FlowId flow) const noexcept {
  Entry* e = slot(flow.index);
  return e != nullptr && e->generation == flow.generation && flow.generation != 0 ? e : nullptr;
}

Enforcer::Entry* Enforcer::entry_for(FlowId flow) noexcept {
  if (flow.generation == 0 || flow.index >= max_flows_) return nullptr;
  Entry* found = slot(flow.index);
  if (found == nullptr) {
    const std::size_t page = flow.index / kPageEntries;
    try {
      if (page >= pages_.size()) pages_.resize(page + 1);
      pages_[page] = std::make_unique<Entry[]>(kPageEntries);
    } catch (...) {
      return nullptr;  // out of memory: this flow is not enforced (as if no rule matched)
    }
    found = slot(flow.index);
  }
  Entry& e = *found;
  if (e.generation != flow.generation) {
    // The slot's previous flow ended without end(): it leaves its sinks; start afresh.
    detach_pending(e);
    leave_all(e, FlowId{flow.index, e.generation});
    e = Entry{};
    e.generation = flow.generation;
  }
  return &e;
}

void Enforcer::keep_pending(Entry& e, const conntrack::LabelUpdate& update) noexcept {
  if (e.pending != 0) {
    // One waiting change per flow: the newest wish wins; the mask keeps every bit either
    // change had to set or clear.
    conntrack::LabelUpdate& waiting = pending_[e.pending - 1];
    const LabelBits mask = waiting.mask | update.mask;
    const std::uint32_t mark_mask = waiting.mark_mask | update.mark_mask;
    waiting = update;
    waiting.mask = mask;
    waiting.mark_mask = mark_mask;
    return;
  }
  try {
    pending_.push_back(update);
  } catch (...) {
    return;  // out of memory: dropped, like a refused update before this stage existed
  }
  e.pending = static_cast<std::uint32_t>(pending_.size());
}

Enforcer::Outcome Enforcer::apply(FlowId flow, const FlowTuple& tuple, const Desired& desired,
                                  std::chrono::steady_clock::time_point origin) noexcept {
  // Most flows match nothing: they get no entry (nor its page) until something is wished,
  // unless their slot still holds an older flow's state (then entry_for clears it).
  const bool wants_nothing = desired.labels.none() && (desired.mark & desired.mark_managed) == 0 &&
                             desired.members.empty();
  if (wants_nothing) {
    const Entry* held = slot(flow.index);
    if (held == nullptr || held->generation == 0) return Outcome::kUnchanged;
  }
  Entry* e = entry_for(flow);
  if (e == nullptr) return Outcome::kUnchanged;
  const bool members_changed = apply_members(*e, flow, desired, origin);
  conntrack::LabelUpdate update;
  update.tuple = tuple;
  update.bits = desired.labels;
  update.mask = desired.managed | e->applied;
  update.mark = desired.mark & desired.mark_managed;
  update.mark_mask = desired.mark_managed | e->mark;
  update.log_errors = desired.log_errors;
  update.origin = origin;
  update.flow = flow;
  update.feedback = &feedback_;
  if (e->pending != 0) {
    keep_pending(*e, update);
    return Outcome::kPending;
  }
  // Only changes go to the kernel: bits already applied are never re-sent.
  if (desired.labels == e->applied && update.mark == e->mark) {
    return members_changed ? Outcome::kApplied : Outcome::kUnchanged;
  }
  if (writer_ == nullptr) {
    e->applied = desired.labels;
    e->mark = update.mark;
    return Outcome::kApplied;
  }
  if (writer_->submit(update)) {
    e->applied = desired.labels;
    e->mark = update.mark;
    ++stats_.submitted;
    return Outcome::kApplied;
  }
  ++stats_.refused;
  keep_pending(*e, update);
  return Outcome::kPending;
}

void Enforcer::end(FlowId flow) noexcept {
  Entry* found = find(flow);
  if (found == nullptr) return;
  Entry& e = *found;
  detach_pending(e);
  leave_all(e, flow);
  e = Entry{};
}

void Enforcer::detach_pending(Entry& e) noexcept {
  if (e.pending == 0) return;
  // The flow left the classifier, not necessarily the kernel (an eviction): its last wish is
  // still sent, but no longer tracked or handed back.
  conntrack::LabelUpdate& waiting = pending_[e.pending - 1];
  waiting.flow = FlowId{};
  waiting.feedback = nullptr;
  e.pending = 0;
}

LabelBits Enforcer::labels_of(FlowId flow) const noexcept {
  const Entry* e = find(flow);
  if (e == nullptr) return {};
  return e->pending != 0 ? pending_[e->pending - 1].bits : e->applied;
}

Applied Enforcer::applied_of(FlowId flow) const {
  Applied out;
  const Entry* e = find(flow);
  if (e == nullptr) return out;
  out.labels = e->pending != 0 ? pending_[e->pending - 1].bits : e->applied;
  out.mark = e->pending != 0 ? pending_[e->pending - 1].mark : e->mark;
  if (e->members != 0) out.sinks = members_[e->members - 1].in;
  return out;
}

bool Enforcer::apply_members(Entry& e, FlowId flow, const Desired& desired,
                             std::chrono::steady_clock::time_point origin) noexcept {
  if (e.members == 0 && desired.members.empty()) return false;
  if (e.members == 0) {
    if (desired.member_fields == nullptr) return false;
    try {
      if (free_members_.empty()) {
        members_.emplace_back();
        e.members = static_cast<std::uint32_t>(members_.size());
      } else {
        e.members = free_members_.back() + 1;
        free_members_.pop_back();
      }
    } catch (...) {
      return false;  // out of memory: this flow joins no sink (as if no rule matched)
    }
    Members& fresh = members_[e.members - 1];
    fresh.in.clear();
    fresh.fields = *desired.member_fields;
  }
  Members& m = members_[e.members - 1];
  bool changed = false;
  MemberChange change;
  change.fields = m.fields;
  change.origin = origin;
  change.flow = flow;
  change.feedback = &member_feedback_;
  // Leave the sinks no longer wished (records writers have nothing to remove).
  for (std::size_t i = 0; i < m.in.size();) {
    const SinkRef sink = m.in[i];
    const bool wished = std::any_of(desired.members.begin(), desired.members.end(),
                                    [&](const MemberWish& w) { return w.sink == sink; });
    if (wished) {
      ++i;
      continue;
    }
    if (sinks_ == nullptr || !sinks_->records(sink.writer)) {
      change.op = SetOp::kDelete;
      change.sink = sink;
      change.timeout = std::chrono::seconds(0);
      send_member(change);
    }
    m.in.erase(m.in.begin() + static_cast<std::ptrdiff_t>(i));
    changed = true;
  }
  // Enter the newly wished ones.
  for (const MemberWish& w : desired.members) {
    if (contains(m.in, w.sink)) continue;
    try {
      m.in.push_back(w.sink);
    } catch (...) {
      continue;  // out of memory: not entered
    }
    change.op = SetOp::kAdd;
    change.sink = w.sink;
    change.timeout = std::chrono::seconds(w.ttl_s);
    change.record.reset();
    if (sinks_ != nullptr && sinks_->records(w.sink.writer) && desired.records != nullptr) {
      try {
        change.record = desired.records->record(w);
      } catch (...) {
        change.record.reset();
      }
    }
    send_member(change);
    changed = true;
  }
  if (m.in.empty()) {
    free_members_.push_back(e.members - 1);  // capacity: at most one entry per member slot
    e.members = 0;
  }
  return changed;
}

void Enforcer::leave_all(Entry& e, FlowId flow) noexcept {
  if (e.members == 0) return;
  Members& m = members_[e.members - 1];
  MemberChange change;
  change.op = SetOp::kDelete;
  change.fields = m.fields;
  // Named, so a writer that counts the flows holding a shared element ends this flow's hold;
  // but the flow is gone: nobody to hand a failure back to.
  change.flow = flow;
  for (const SinkRef sink : m.in) {
    if (sinks_ != nullptr && sinks_->records(sink.writer)) continue;
    change.sink = sink;
    send_member(change);
  }
  m.in.clear();
  try {
    free_members_.push_back(e.members - 1);
  } catch (...) {
    // the slot is leaked, not reused: harmless
  }
  e.members = 0;
}

void Enforcer::send_member(const MemberChange& change) noexcept {
  if (sinks_ == nullptr) return;  // a dry run: applied at once
  SinkWriter* writer = sinks_->writer(change.sink.writer);
  if (writer == nullptr) return;  // nothing was bound to a writer that never started
  if (member_queue_.empty()) {
    if (writer->submit(change)) {
      ++stats_.member_submitted;
      return;
    }
    ++stats_.member_refused;
  }
  try {
    member_queue_.push_back(change);
  } catch (...) {
    // out of memory: dropped, like a refused change before this stage existed
  }
}

void Enforcer::take_members_handed_back() noexcept {
  if (!member_feedback_.take(member_returned_)) return;
  for (MemberChange& change : member_returned_) {
    ++stats_.member_handed_back;
    const Entry* e = find(change.flow);
    if (e == nullptr) continue;  // the flow ended meanwhile (and left its sinks)
    const bool in = e->members != 0 && contains(members_[e->members - 1].in, change.sink);
    if ((change.op != SetOp::kDelete) != in) continue;  // superseded by a later change
    if (++change.attempts > kMaxAttempts) {
      ++stats_.member_gave_up;
      continue;
    }
    try {
      member_queue_.push_back(change);
    } catch (...) {
      ++stats_.member_gave_up;
    }
  }
}

void Enforcer::service_members() noexcept {
  take_members_handed_back();
  while (!member_queue_.empty()) {
    const MemberChange& change = member_queue_.front();
    SinkWriter* writer = sinks_ != nullptr ? sinks_->writer(change.sink.writer) : nullptr;
    if (writer != nullptr) {
      if (!writer->submit(change)) {
        ++stats_.member_refused;
        return;  // still full: the rest waits, in order
      }
      ++stats_.member_submitted;
    }
    member_queue_.pop_front();
  }
}

void Enforcer::take_handed_back() noexcept {
  if (!feedback_.take(returned_)) return;
  for (const conntrack::LabelUpdate& update : returned_) {
    Entry* found = find(update.flow);
    if (found == nullptr) continue;  // the flow ended meanwhile
    ++stats_.handed_back;
    Entry& e = *found;
    if (e.pending != 0) {
      // A newer change waits anyway: it also sets or clears what this one had to.
      pending_[e.pending - 1].mask |= update.mask;
      continue;
    }
    // A later accepted write carries the whole mask and supersedes this one.
    if (e.applied != update.bits || e.mark != update.mark) continue;
    keep_pending(e, update);
  }
}

void Enforcer::service() noexcept {
  service_members();
  take_handed_back();
  if (pending_.empty()) return;
  std::size_t kept = 0;
  bool writer_full = false;
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    const conntrack::LabelUpdate update = pending_[i];
    Entry* e = update.flow.generation != 0 ? slot(update.flow.index) : nullptr;  // or detached
    if (!writer_full) {
      if (writer_ == nullptr || writer_->submit(update)) {
        if (e != nullptr) {
          e->applied = update.bits;
          e->mark = update.mark;
          e->pending = 0;
        }
        if (writer_ != nullptr) {
          ++stats_.submitted;
          ++stats_.retried;
        }
        continue;
      }
      ++stats_.refused;
      writer_full = true;  // still full: the rest waits for the next call, in order
    }
    pending_[kept] = update;
    if (e != nullptr) e->pending = static_cast<std::uint32_t>(kept + 1);
    ++kept;
  }
  pending_.resize(kept);
}

}  // namespace ctlabeld::enforce
