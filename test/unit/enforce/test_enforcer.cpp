// SPDX-License-Identifier: GPL-3.0-or-later
// The enforcement stage alone, with a fake writer: what is sent, what counts as applied, what is
// retried and what a reload clears.
#include <catch2/catch.hpp>

#include "fake_writer.hpp"
#include "ctlabeld/enforce/enforcer.hpp"

namespace ctlabeld::enforce {
namespace {

using conntrack::LabelUpdate;

using FakeWriter = test::FakeLabelWriter;

LabelBits bits(std::initializer_list<unsigned> list) {
  LabelBits b;
  for (unsigned x : list) b.set(x);
  return b;
}

Desired want(LabelBits labels, LabelBits managed) {
  Desired d;
  d.labels = labels;
  d.managed = managed;
  return d;
}

constexpr FlowId kFlow{7, 1};
const FlowTuple kTuple{};

TEST_CASE("enforcer: only changes are sent, with the managed mask", "[enforce]") {
  FakeWriter w;
  Enforcer e(&w, 64);
  CHECK(e.apply(kFlow, kTuple, want({}, bits({0, 1})), {}) == Enforcer::Outcome::kUnchanged);
  CHECK(e.apply(kFlow, kTuple, want(bits({0}), bits({0, 1})), {}) == Enforcer::Outcome::kApplied);
  CHECK(e.apply(kFlow, kTuple, want(bits({0}), bits({0, 1})), {}) == Enforcer::Outcome::kUnchanged);
  REQUIRE(w.accepted.size() == 1);
  CHECK(w.accepted[0].bits == bits({0}));
  CHECK(w.accepted[0].mask == bits({0, 1}));
  CHECK(w.accepted[0].flow == kFlow);
  CHECK(e.labels_of(kFlow) == bits({0}));
  CHECK(e.stats().submitted == 1);
}

TEST_CASE("enforcer: a refused submit is not applied, is retried, and lands", "[enforce]") {
  FakeWriter w;
  w.refuse = 2;
  Enforcer e(&w, 64);
  CHECK(e.apply(kFlow, kTuple, want(bits({0}), bits({0})), {}) == Enforcer::Outcome::kPending);
  CHECK(w.accepted.empty());
  CHECK(e.pending() == 1);
  // The same wish again while it waits: still one waiting change, nothing sent.
  CHECK(e.apply(kFlow, kTuple, want(bits({0}), bits({0})), {}) == Enforcer::Outcome::kPending);
  CHECK(e.pending() == 1);
  e.service();  // refused a second time
  CHECK(w.accepted.empty());
  CHECK(e.pending() == 1);
  e.service();  // accepted
  CHECK(e.pending() == 0);
  REQUIRE(w.accepted.size() == 1);
  CHECK(w.accepted[0].bits == bits({0}));
  CHECK(e.stats().refused == 2);
  CHECK(e.stats().retried == 1);
  // Applied now: the same wish sends nothing more.
  CHECK(e.apply(kFlow, kTuple, want(bits({0}), bits({0})), {}) == Enforcer::Outcome::kUnchanged);
  CHECK(w.accepted.size() == 1);
}

TEST_CASE("enforcer: a reload that stops setting a bit clears it", "[enforce]") {
  FakeWriter w;
  Enforcer e(&w, 64);
  REQUIRE(e.apply(kFlow, kTuple, want(bits({0}), bits({0})), {}) == Enforcer::Outcome::kApplied);
  SECTION("the target's label changed (zoom -> other)") {
    e.apply(kFlow, kTuple, want(bits({1}), bits({1})), {});
    REQUIRE(w.accepted.size() == 2);
    CHECK(w.accepted[1].bits == bits({1}));
    CHECK(w.accepted[1].mask == bits({0, 1}));  // bit 0 is cleared, not left behind
  }
  SECTION("the action was removed, or its target disabled: no bit is managed any more") {
    e.apply(kFlow, kTuple, want({}, {}), {});
    REQUIRE(w.accepted.size() == 2);
    CHECK(w.accepted[1].bits.none());
    CHECK(w.accepted[1].mask == bits({0}));
  }
  CHECK(e.labels_of(kFlow) == w.accepted.back().bits);
}

TEST_CASE("enforcer: a change the writer hands back is resent", "[enforce]") {
  FakeWriter w;
  Enforcer e(&w, 64);
  REQUIRE(e.apply(kFlow, kTuple, want(bits({0}), bits({0})), {}) == Enforcer::Outcome::kApplied);
  REQUIRE(w.accepted.size() == 1);
  // The writer thread lost the kernel's answer and returns it.
  REQUIRE(w.accepted[0].feedback != nullptr);
  w.accepted[0].feedback->failed(w.accepted[0]);
  e.service();
  REQUIRE(w.accepted.size() == 2);
  CHECK(w.accepted[1].bits == bits({0}));
  CHECK(e.stats().handed_back == 1);
  CHECK(e.stats().retried == 1);
}

TEST_CASE("enforcer: state belongs to one flow generation", "[enforce]") {
  FakeWriter w;
  Enforcer e(&w, 64);
  REQUIRE(e.apply(kFlow, kTuple, want(bits({0}), bits({0})), {}) == Enforcer::Outcome::kApplied);
  e.end(kFlow);
  CHECK(e.labels_of(kFlow).none());
  // The slot's next flow starts with nothing applied, so its label is sent.
  const FlowId next{kFlow.index, kFlow.generation + 1};
  CHECK(e.apply(next, kTuple, want(bits({0}), bits({0})), {}) == Enforcer::Outcome::kApplied);
  // A hand-back for the ended flow is ignored.
  w.accepted[0].feedback->failed(w.accepted[0]);
  e.service();
  CHECK(w.accepted.size() == 2);
}

TEST_CASE("enforcer: a change waiting when its flow ends is still sent", "[enforce]") {
  FakeWriter w;
  w.refuse = 1;
  Enforcer e(&w, 64);
  REQUIRE(e.apply(kFlow, kTuple, want(bits({0}), bits({0})), {}) == Enforcer::Outcome::kPending);
  e.end(kFlow);
  e.service();
  REQUIRE(w.accepted.size() == 1);
  CHECK(w.accepted[0].feedback == nullptr);  // no longer tracked
  CHECK(e.pending() == 0);
}

TEST_CASE("enforcer: a dry run applies at once and sends nothing", "[enforce]") {
  Enforcer e(nullptr, 64);
  CHECK(e.apply(kFlow, kTuple, want(bits({3}), bits({3})), {}) == Enforcer::Outcome::kApplied);
  CHECK(e.labels_of(kFlow) == bits({3}));
  CHECK(e.stats().submitted == 0);
}

}  // namespace
}  // namespace ctlabeld::enforce
