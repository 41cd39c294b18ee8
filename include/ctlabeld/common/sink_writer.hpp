// SPDX-License-Identifier: GPL-3.0-or-later
// The seam for target types whose effect is a membership: the flow's element in an nft set or an
// ipset, the flow's record in a log file. A target is bound at load to a *sink* of its type's
// writer (a set, a log file pattern); the enforcement stage adds the flow to the sinks its
// matching targets name and removes it when they stop matching or the flow ends. Every such
// writer implements SinkWriter and has one row in the daemon's writer table (src/writers.cpp).
#pragma once

#include <any>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/common/effect_writer.hpp"
#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/flow_id.hpp"
#include "ctlabeld/common/net.hpp"
#include "ctlabeld/common/set_member.hpp"

namespace ctlabeld {

// One sink: the writer's row in the writer table and that writer's handle for it.
struct SinkRef {
  std::uint8_t writer = 0;
  std::uint16_t handle = 0;
  friend bool operator==(const SinkRef&, const SinkRef&) = default;
};

// A matching target's sink that a flow should be in (the rules' wish, per flow).
struct MemberWish {
  SinkRef sink;
  std::uint32_t ttl_s = 0;   // the element's timeout; 0: none
  std::uint32_t target = 0;  // index into the rule set's targets
  std::uint16_t action = 0;  // the first matching action that named it
};

// The flow as a record shows it, copied at the change so it outlives the classifier's record.
struct FlowRecord {
  FlowTuple tuple{};
  std::string app, protocol, category, hostname, detected_by, iface;
  std::string action;  // the matching action that named the target
  std::string target;  // the target's name
  std::uint64_t first_seen_us = 0;
  std::uint64_t last_seen_us = 0;
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
};

struct MemberChange {
  SetOp op = SetOp::kAdd;
  SinkRef sink;
  std::chrono::seconds timeout{0};  // adds and refreshes; 0: never expires
  MemberFields fields;              // what the sink's element is built from
  // Only for writers whose row says they take records (log): the flow at an add.
  std::shared_ptr<const FlowRecord> record;
  // When the deciding packet reached nDPI (latency runs from here to the kernel's answer).
  std::chrono::steady_clock::time_point origin{};
  // Who asked: a change accepted but not completed (a failure the kernel may not repeat) comes
  // back through `feedback` with this identifier. Null: nobody to tell.
  FlowId flow{};
  WriteFeedback<MemberChange>* feedback = nullptr;
  std::uint8_t attempts = 0;  // hand-backs so far: the enforcer gives up after a few
};

// Per sink figures for the stats (counters per target).
struct SinkCounters {
  std::string name;           // e.g. "nftset inet nfa nfa.blocks.v4", "log /tmp/nfa-*.json"
  std::uint64_t writes = 0;   // element adds, refreshes and deletes (records) the kernel took
  std::uint64_t errors = 0;   // every failure, by errno below
  std::uint64_t present = 0;  // elements ctlabeld added and has not removed (records written)
  std::uint64_t dropped = 0;  // refused for good: set full, no such set, record over the cap
  std::map<int, std::uint64_t> errors_by_errno;
};

// A writer of sinks: submit() only queues (any worker thread); the writer's own thread does the
// I/O in batches. bind() may be called from the main thread at any time (load, reload).
class SinkWriter : public EffectWriter<MemberChange> {
 public:
  // `spec` is the target type's own description of the sink (e.g. nftset::SetSpec). The same
  // spec bound twice (a reload) yields the same handle. Errors say what is wrong and the fix;
  // the target then does nothing and the daemon keeps acting on the rest.
  [[nodiscard]] virtual Expected<std::uint16_t> bind(const std::any& spec) = 0;
  // Sends everything queued, waits for the answers, does the clean-shutdown work (flushes,
  // the last log file) and joins the thread. Idempotent.
  virtual void stop() = 0;
  [[nodiscard]] virtual std::vector<SinkCounters> counters() const = 0;
};

// What the enforcement stage submits through: the writer of a SinkRef's row. Lock-free reads
// from any worker; a row whose writer has not started answers null (nothing is sent).
class SinkTable {
 public:
  virtual ~SinkTable() = default;
  [[nodiscard]] virtual SinkWriter* writer(std::uint8_t row) const noexcept = 0;
  // The row's writer takes records (adds carry a FlowRecord) and has nothing to remove (log).
  [[nodiscard]] virtual bool records(std::uint8_t row) const noexcept = 0;
};

// What the loader binds targets through (the daemon's writer table; a dry binder for --check).
class SinkBinder {
 public:
  virtual ~SinkBinder() = default;
  // `type`: the target type ("nftset"); `spec`: as SinkWriter::bind.
  [[nodiscard]] virtual Expected<SinkRef> bind(std::string_view type, const std::any& spec) = 0;
};

}  // namespace ctlabeld
