// SPDX-License-Identifier: GPL-3.0-or-later
// The enforcement stage's sink memberships (nftset, ipset, log) and conntrack marks, with fake
// writers: adds and deletes follow the wish, a flow's end removes it, refused and handed-back
// changes are retried in order, records writers get one record per entry and no deletes.
#include <catch2/catch.hpp>

#include "ctlabeld/enforce/enforcer.hpp"
#include "fake_writer.hpp"

namespace ctlabeld::enforce {
namespace {

constexpr FlowId kFlow{3, 1};
const FlowTuple kTuple{};
constexpr SinkRef kSetA{0, 1};
constexpr SinkRef kSetB{0, 2};
constexpr SinkRef kLog{1, 0};

struct Records final : RecordSource {
  mutable int made = 0;
  std::shared_ptr<const FlowRecord> record(const MemberWish& wish) const override {
    ++made;
    auto r = std::make_shared<FlowRecord>();
    r->target = std::to_string(wish.target);
    r->target.insert(0, 1, 't');
    return r;
  }
};

struct Wish {
  std::vector<MemberWish> members;
  MemberFields fields;
  Records records;
  Desired desired() const {
    Desired d;
    d.members = members;
    d.member_fields = &fields;
    d.records = &records;
    return d;
  }
};

TEST_CASE("sinks: added when wished, removed when no longer wished, and at the flow's end",
          "[enforce][sinks]") {
  test::FakeSinkTable sinks;
  Enforcer e(nullptr, 64, &sinks);
  Wish w;
  w.fields.ip_version = 4;
  w.fields.other_port = 443;
  w.members = {{kSetA, 900, 0, 0}, {kSetB, 0, 1, 0}};
  CHECK(e.apply(kFlow, kTuple, w.desired(), {}) == Enforcer::Outcome::kApplied);
  REQUIRE(sinks.sets.accepted.size() == 2);
  CHECK(sinks.sets.accepted[0].op == SetOp::kAdd);
  CHECK(sinks.sets.accepted[0].sink == kSetA);
  CHECK(sinks.sets.accepted[0].timeout == std::chrono::seconds(900));
  CHECK(sinks.sets.accepted[0].fields.other_port == 443);
  CHECK(sinks.sets.accepted[0].flow == kFlow);
  CHECK(e.applied_of(kFlow).sinks == std::vector<SinkRef>{kSetA, kSetB});
  // The same wish again: nothing sent.
  CHECK(e.apply(kFlow, kTuple, w.desired(), {}) == Enforcer::Outcome::kUnchanged);
  CHECK(sinks.sets.accepted.size() == 2);
  // A reload drops the action naming set A: the flow leaves it.
  w.members = {{kSetB, 0, 1, 0}};
  CHECK(e.apply(kFlow, kTuple, w.desired(), {}) == Enforcer::Outcome::kApplied);
  REQUIRE(sinks.sets.accepted.size() == 3);
  CHECK(sinks.sets.accepted[2].op == SetOp::kDelete);
  CHECK(sinks.sets.accepted[2].sink == kSetA);
  CHECK(sinks.sets.accepted[2].fields.other_port == 443);
  // The flow ends: it leaves set B, and is forgotten.
  e.end(kFlow);
  REQUIRE(sinks.sets.accepted.size() == 4);
  CHECK(sinks.sets.accepted[3].op == SetOp::kDelete);
  CHECK(sinks.sets.accepted[3].sink == kSetB);
  CHECK(sinks.sets.accepted[3].feedback == nullptr);
  CHECK(sinks.sets.accepted[3].flow == kFlow);
  CHECK(e.applied_of(kFlow).sinks.empty());
  CHECK(e.stats().member_submitted == 4);
}

TEST_CASE("sinks: a refused change waits, in order, and lands", "[enforce][sinks]") {
  test::FakeSinkTable sinks;
  sinks.sets.refuse = 2;
  Enforcer e(nullptr, 64, &sinks);
  Wish w;
  w.members = {{kSetA, 0, 0, 0}};
  CHECK(e.apply(kFlow, kTuple, w.desired(), {}) == Enforcer::Outcome::kApplied);
  CHECK(sinks.sets.accepted.empty());
  CHECK(e.pending() == 1);
  // The wish changes while the add waits: the delete queues behind it, never before it.
  w.members.clear();
  e.apply(kFlow, kTuple, w.desired(), {});
  CHECK(e.pending() == 2);
  e.service();  // refused again
  CHECK(sinks.sets.accepted.empty());
  e.service();
  CHECK(e.pending() == 0);
  REQUIRE(sinks.sets.accepted.size() == 2);
  CHECK(sinks.sets.accepted[0].op == SetOp::kAdd);
  CHECK(sinks.sets.accepted[1].op == SetOp::kDelete);
  CHECK(e.stats().member_refused == 2);
}

TEST_CASE("sinks: a handed-back add is retried while wished, then given up", "[enforce][sinks]") {
  test::FakeSinkTable sinks;
  Enforcer e(nullptr, 64, &sinks);
  Wish w;
  w.members = {{kSetA, 0, 0, 0}};
  e.apply(kFlow, kTuple, w.desired(), {});
  REQUIRE(sinks.sets.accepted.size() == 1);
  for (int round = 0; round < Enforcer::kMaxAttempts + 1; ++round) {
    MemberChange failed = sinks.sets.accepted.back();
    REQUIRE(failed.feedback != nullptr);
    failed.feedback->failed(failed);
    e.service();
  }
  // kMaxAttempts resends, then the next failure is dropped.
  CHECK(sinks.sets.accepted.size() == 1 + Enforcer::kMaxAttempts);
  CHECK(e.stats().member_handed_back == Enforcer::kMaxAttempts + 1);
  CHECK(e.stats().member_gave_up == 1);
  // A handed-back add for a sink the flow has left since is not resent.
  MemberChange stale = sinks.sets.accepted.back();
  w.members.clear();
  e.apply(kFlow, kTuple, w.desired(), {});  // sends the delete
  const std::size_t sent = sinks.sets.accepted.size();
  stale.attempts = 0;
  stale.feedback->failed(stale);
  e.service();
  CHECK(sinks.sets.accepted.size() == sent);
}

TEST_CASE("sinks: a records writer gets one record per entry and no deletes", "[enforce][sinks]") {
  test::FakeSinkTable sinks;
  Enforcer e(nullptr, 64, &sinks);
  Wish w;
  w.members = {{kLog, 0, 5, 0}};
  e.apply(kFlow, kTuple, w.desired(), {});
  e.apply(kFlow, kTuple, w.desired(), {});
  REQUIRE(sinks.log.accepted.size() == 1);
  REQUIRE(sinks.log.accepted[0].record != nullptr);
  CHECK(sinks.log.accepted[0].record->target == "t5");
  CHECK(w.records.made == 1);
  e.end(kFlow);
  CHECK(sinks.log.accepted.size() == 1);
  CHECK(sinks.sets.accepted.empty());
}

TEST_CASE("sinks: a slot reused by a new flow removes the old flow's elements",
          "[enforce][sinks]") {
  test::FakeSinkTable sinks;
  Enforcer e(nullptr, 64, &sinks);
  Wish w;
  w.fields.local_port = 1111;
  w.members = {{kSetA, 0, 0, 0}};
  e.apply(kFlow, kTuple, w.desired(), {});
  Wish next;
  next.fields.local_port = 2222;
  e.apply(FlowId{kFlow.index, kFlow.generation + 1}, kTuple, next.desired(), {});
  REQUIRE(sinks.sets.accepted.size() == 2);
  CHECK(sinks.sets.accepted[1].op == SetOp::kDelete);
  CHECK(sinks.sets.accepted[1].fields.local_port == 1111);
}

TEST_CASE("marks: written with the managed mask; a reload clears bits set before", "[enforce]") {
  test::FakeLabelWriter w;
  Enforcer e(&w, 64);
  Desired d;
  d.mark = 0x10;
  d.mark_managed = 0xf0;
  CHECK(e.apply(kFlow, kTuple, d, {}) == Enforcer::Outcome::kApplied);
  REQUIRE(w.accepted.size() == 1);
  CHECK(w.accepted[0].mark == 0x10);
  CHECK(w.accepted[0].mark_mask == 0xf0);
  CHECK(w.accepted[0].mask.none());
  CHECK(e.apply(kFlow, kTuple, d, {}) == Enforcer::Outcome::kUnchanged);
  CHECK(e.applied_of(kFlow).mark == 0x10);
  // The reloaded rules own other bits only: the old bit is cleared with them.
  Desired after;
  after.mark = 0;
  after.mark_managed = 0x0f;
  CHECK(e.apply(kFlow, kTuple, after, {}) == Enforcer::Outcome::kApplied);
  REQUIRE(w.accepted.size() == 2);
  CHECK(w.accepted[1].mark == 0);
  CHECK(w.accepted[1].mark_mask == 0x1f);
  CHECK(e.applied_of(kFlow).mark == 0);
}

}  // namespace
}  // namespace ctlabeld::enforce
