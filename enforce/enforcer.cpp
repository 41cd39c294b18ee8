// SPDX-License-Identifier: GPL-3.0-or-later
// Applied state per flow, the diff against the rules' wish, and retries of refused changes.
#include "ctlabeld/enforce/enforcer.hpp"

namespace ctlabeld::enforce {

Enforcer::Enforcer(LabelWriter* writer, std::size_t max_flows)
    : writer_(writer), max_flows_(max_flows == 0 ? 1 : max_flows) {}

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
    // The slot's previous flow ended without end(): start afresh.
    detach_pending(e);
    e = Entry{flow.generation, 0, {}};
  }
  return &e;
}

void Enforcer::keep_pending(Entry& e, const conntrack::LabelUpdate& update) noexcept {
  if (e.pending != 0) {
    // One waiting change per flow: the newest wish wins; the mask keeps every bit either
    // change had to set or clear.
    conntrack::LabelUpdate& waiting = pending_[e.pending - 1];
    const LabelBits mask = waiting.mask | update.mask;
    waiting = update;
    waiting.mask = mask;
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
  Entry* e = entry_for(flow);
  if (e == nullptr) return Outcome::kUnchanged;
  conntrack::LabelUpdate update;
  update.tuple = tuple;
  update.bits = desired.labels;
  update.mask = desired.managed | e->applied;
  update.log_errors = desired.log_errors;
  update.origin = origin;
  update.flow = flow;
  update.feedback = &feedback_;
  if (e->pending != 0) {
    keep_pending(*e, update);
    return Outcome::kPending;
  }
  // Only changes go to the kernel: bits already applied are never re-sent.
  if (desired.labels == e->applied) return Outcome::kUnchanged;
  if (writer_ == nullptr) {
    e->applied = desired.labels;
    return Outcome::kApplied;
  }
  if (writer_->submit(update)) {
    e->applied = desired.labels;
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
    if (e.applied != update.bits) continue;
    keep_pending(e, update);
  }
}

void Enforcer::service() noexcept {
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
