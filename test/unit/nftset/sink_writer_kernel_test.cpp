// SPDX-License-Identifier: GPL-3.0-or-later
// The nftset target's writer (SetSinkWriter) against the real kernel, each case in a private
// network namespace: changes through the queue, elements shared by flows, timed re-adds,
// counters (full set, missing set), bind from another thread, flush_on_destroy at stop, and the
// loader's start-up self-checks through a real binder.
#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "ctlabeld/actions/config.hpp"
#include "ctlabeld/nftset/sink_writer.hpp"
#include "test/unit/set_test_support.hpp"

using namespace ctlabeld;
using namespace ctlabeld::nftset;
using namespace ctlabeld::test;
using namespace std::chrono_literals;

namespace {

const std::vector<Field> kNetify = {Field::kLocalAddr, Field::kIpProto, Field::kOtherPort,
                                    Field::kOtherAddr};

SetSpec spec_of(const std::string& set, bool managed = true, std::uint32_t size = 65536) {
  SetSpec spec;
  spec.set = set;
  spec.fields = kNetify;
  spec.managed = managed;
  spec.size = size;
  return spec;
}

std::string listing(const std::string& set) {
  const auto r = run("nft list set inet nfa " + set);
  INFO(r.output);
  REQUIRE(r.status == 0);
  return r.output;
}

std::unique_ptr<SetSinkWriter> start_writer(SinkOptions options = {}) {
  auto w = SetSinkWriter::start(options);
  INFO(w.error_text());
  REQUIRE(w.ok());
  return std::move(w).value();
}

std::uint16_t bind_ok(SetSinkWriter& w, const SetSpec& spec) {
  auto h = w.bind(std::any(spec));
  INFO(h.error_text());
  REQUIRE(h.ok());
  return h.value();
}

MemberChange change(SetOp op, std::uint16_t handle, const MemberFields& m, std::uint32_t flow,
                    std::chrono::seconds ttl = 900s) {
  MemberChange c;
  c.op = op;
  c.sink = SinkRef{0, handle};
  c.timeout = ttl;
  c.fields = m;
  c.flow = FlowId{flow, 1};
  return c;
}

void submit_ok(SetSinkWriter& w, const MemberChange& c) { REQUIRE(w.submit(c)); }

}  // namespace

TEST_CASE("nftset sink: adds, shared elements and deletes through the writer thread",
          "[nftset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  auto w = start_writer();
  const auto h = bind_ok(*w, spec_of("nfa.blocks.v4"));
  // A managed set is created with the target's key, the timeout flag and its size.
  const std::string created = listing("nfa.blocks.v4");
  CHECK(created.find("type ipv4_addr . inet_proto . inet_service . ipv4_addr") !=
        std::string::npos);
  CHECK(created.find("flags timeout") != std::string::npos);
  CHECK(created.find("size 65536") != std::string::npos);
  // The same spec again (a reload): the same handle, nothing touched.
  CHECK(bind_ok(*w, spec_of("nfa.blocks.v4")) == h);

  const auto a = member("10.1.0.2", 6, 443, "192.0.2.10");
  const auto b = member("10.1.0.3", 17, 8801, "192.0.2.11");
  submit_ok(*w, change(SetOp::kAdd, h, a, 1));
  submit_ok(*w, change(SetOp::kAdd, h, a, 2));  // a second flow with the same element
  submit_ok(*w, change(SetOp::kAdd, h, b, 3));
  w->flush();
  std::string list = listing("nfa.blocks.v4");
  CHECK(list.find("10.1.0.2 . tcp . 443 . 192.0.2.10 timeout 15m") != std::string::npos);
  CHECK(list.find("10.1.0.3 . udp . 8801 . 192.0.2.11") != std::string::npos);
  auto c = w->counters();
  REQUIRE(c.size() == 1);
  CHECK(c[0].name == "nftset inet nfa nfa.blocks.v4");
  CHECK(c[0].writes == 3);
  CHECK(c[0].present == 2);
  CHECK(c[0].errors == 0);
  CHECK(w->tracked() == 2);

  // Flow 1 ends: flow 2 still holds the element, which stays.
  submit_ok(*w, change(SetOp::kDelete, h, a, 1));
  w->flush();
  CHECK(listing("nfa.blocks.v4").find("10.1.0.2 . tcp") != std::string::npos);
  CHECK(w->counters()[0].present == 2);
  // The last holder ends: removed. b's flow ends too.
  submit_ok(*w, change(SetOp::kDelete, h, a, 2));
  submit_ok(*w, change(SetOp::kDelete, h, b, 3));
  w->flush();
  list = listing("nfa.blocks.v4");
  CHECK(list.find("10.1.0.2") == std::string::npos);
  CHECK(list.find("10.1.0.3") == std::string::npos);
  c = w->counters();
  CHECK(c[0].writes == 5);
  CHECK(c[0].present == 0);
  CHECK(w->tracked() == 0);
  // Adds repeated by one flow hold the element once; a delete without a flow (the enforcer's at
  // a flow's end) ends one hold.
  submit_ok(*w, change(SetOp::kAdd, h, a, 5));
  submit_ok(*w, change(SetOp::kAdd, h, a, 5));
  submit_ok(*w, change(SetOp::kAdd, h, a, 6));
  MemberChange anonymous = change(SetOp::kDelete, h, a, 0);
  anonymous.flow = FlowId{};
  submit_ok(*w, anonymous);
  w->flush();
  CHECK(listing("nfa.blocks.v4").find("10.1.0.2 . tcp") != std::string::npos);
  submit_ok(*w, anonymous);
  w->flush();
  CHECK(listing("nfa.blocks.v4").find("10.1.0.2 . tcp") == std::string::npos);
  CHECK(w->counters()[0].present == 0);
  // The anonymous delete may end another flow's hold; that flow's own delete then ends the
  // remaining one: holds are adds minus deletes, so nothing is left behind.
  submit_ok(*w, change(SetOp::kAdd, h, a, 7));
  submit_ok(*w, change(SetOp::kAdd, h, a, 8));
  submit_ok(*w, anonymous);
  submit_ok(*w, change(SetOp::kDelete, h, a, 8));
  w->flush();
  CHECK(listing("nfa.blocks.v4").find("10.1.0.2 . tcp") == std::string::npos);
  CHECK(w->tracked() == 0);
  // An add and a delete of one element in one batch: the kernel sees them in order.
  submit_ok(*w, change(SetOp::kAdd, h, b, 4));
  submit_ok(*w, change(SetOp::kDelete, h, b, 4));
  w->flush();
  CHECK(listing("nfa.blocks.v4").find("10.1.0.3") == std::string::npos);
  CHECK(w->counters()[0].present == 0);
  CHECK(log2_total(w->latency_us()) == 17);
  w->stop();
}

TEST_CASE("nftset sink: IPv6 sets and members of the wrong family", "[nftset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  auto w = start_writer();
  SetSpec six = spec_of("nfa.blocks.v6");
  six.family = Family::kIpv6;
  const auto h6 = bind_ok(*w, six);
  CHECK(listing("nfa.blocks.v6").find("type ipv6_addr . inet_proto . inet_service . ipv6_addr") !=
        std::string::npos);
  submit_ok(*w, change(SetOp::kAdd, h6, member("fd00::2", 6, 443, "fd00:1::10"), 1));
  submit_ok(*w, change(SetOp::kAdd, h6, member("10.0.0.2", 6, 443, "192.0.2.1"), 2));
  w->flush();
  CHECK(listing("nfa.blocks.v6").find("fd00::2 . tcp . 443 . fd00:1::10") != std::string::npos);
  const auto c = w->counters();
  CHECK(c[0].writes == 1);
  CHECK(c[0].present == 1);
  CHECK(c[0].errors == 1);
  CHECK(c[0].errors_by_errno.at(EAFNOSUPPORT) == 1);
  CHECK(c[0].dropped == 1);
  w->stop();
}

TEST_CASE("nftset sink: elements of live flows are re-added before their ttl ends",
          "[nftset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  auto w = start_writer();
  const auto h = bind_ok(*w, spec_of("nfa.live.v4"));
  const auto held = member("10.3.0.2", 6, 443, "192.0.2.30");
  const auto ended = member("10.3.0.3", 6, 443, "192.0.2.31");
  submit_ok(*w, change(SetOp::kAdd, h, held, 1, 3s));
  submit_ok(*w, change(SetOp::kAdd, h, ended, 2, 3s));
  w->flush();
  submit_ok(*w, change(SetOp::kDelete, h, ended, 2, 3s));
  w->flush();
  // More than two ttls later the held element is still there (re-added every 1.1-1.5 s); the
  // one whose flow ended is not.
  const auto until = std::chrono::steady_clock::now() + 7s;
  while (std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(250ms);
    const std::string list = listing("nfa.live.v4");
    INFO(list);
    REQUIRE(list.find("10.3.0.2 . tcp . 443 . 192.0.2.30") != std::string::npos);
    REQUIRE(list.find("10.3.0.3") == std::string::npos);
  }
  CHECK(w->refreshes() >= 4);
  CHECK(w->counters()[0].errors == 0);
  // Its flow ends: removed at once, no more re-adds.
  submit_ok(*w, change(SetOp::kDelete, h, held, 1, 3s));
  w->flush();
  CHECK(listing("nfa.live.v4").find("10.3.0.2") == std::string::npos);
  const auto refreshed = w->refreshes();
  std::this_thread::sleep_for(1500ms);
  CHECK(w->refreshes() == refreshed);
  CHECK(listing("nfa.live.v4").find("10.3.0.2") == std::string::npos);
  w->stop();
}

TEST_CASE("nftset sink: a full set and a vanished set are counted, logged once, dropped",
          "[nftset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  auto log = capture_log("nftset");
  auto w = start_writer();
  const auto full = bind_ok(*w, spec_of("nfa.small.v4", true, 4));
  const auto gone = bind_ok(*w, spec_of("nfa.gone.v4"));
  sh("nft delete set inet nfa nfa.gone.v4");
  for (std::uint32_t i = 0; i < 6; ++i) {
    const std::string local = "10.4.0." + std::to_string(i + 1);
    submit_ok(*w, change(SetOp::kAdd, full, member(local.c_str(), 6, 443, "192.0.2.40"), i));
    submit_ok(*w, change(SetOp::kAdd, gone, member(local.c_str(), 6, 443, "192.0.2.41"), i));
  }
  w->flush();
  const auto c = w->counters();
  REQUIRE(c.size() == 2);
  CHECK(c[0].writes == 4);
  CHECK(c[0].present == 4);
  CHECK(c[0].errors_by_errno.at(ENFILE) == 2);
  CHECK(c[0].dropped == 2);
  CHECK(c[1].writes == 0);
  CHECK(c[1].present == 0);
  CHECK(c[1].errors_by_errno.at(ENOENT) == 6);
  CHECK(c[1].dropped == 6);
  CHECK(w->tracked() == 4);
  CHECK(logged(*log, "nfa.small.v4' is full (size 4)") == 1);
  CHECK(logged(*log, "nfa.gone.v4' no longer exists") == 1);
  w->stop();
}

TEST_CASE("nftset sink: bind while the thread writes; self-check messages; flush at stop",
          "[nftset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  auto w = start_writer();
  SetSpec first = spec_of("nfa.first.v4");
  first.flush_on_destroy = true;
  const auto h = bind_ok(*w, first);
  // Keep the writer thread busy while sets are bound from this thread.
  std::thread producer([&] {
    for (std::uint32_t i = 0; i < 20000; ++i) {
      const std::string local =
          "10.5." + std::to_string((i >> 8) & 0xff) + "." + std::to_string(i & 0xff);
      while (!w->submit(change(SetOp::kAdd, h, member(local.c_str(), 6, 443, "192.0.2.50"), i))) {
        std::this_thread::yield();
      }
    }
  });
  std::vector<std::uint16_t> handles;
  for (int i = 0; i < 20; ++i) {
    handles.push_back(bind_ok(*w, spec_of("nfa.more" + std::to_string(i) + ".v4")));
  }
  producer.join();
  w->flush();
  for (int i = 0; i < 20; ++i) CHECK(handles[static_cast<std::size_t>(i)] == i + 1);
  CHECK(w->counters()[0].present == 20000);
  CHECK(w->counters()[0].writes == 20000);

  // A set that is not managed and does not exist: the message says how to create it.
  auto missing = w->bind(std::any(spec_of("nfa.missing.v4", false)));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error_text() ==
        "nftset: nft set 'inet nfa nfa.missing.v4' does not exist: create it with `nft add table "
        "inet nfa; nft add set inet nfa nfa.missing.v4 '{ type ipv4_addr . inet_proto . "
        "inet_service . ipv4_addr; flags timeout; size 65536; }'`, or set \"managed\": true in "
        "the target\n");
  // A set whose key does not match the target's type.
  sh("nft add set inet nfa nfa.other.v4 '{ type ipv4_addr; flags timeout; }'");
  auto mismatch = w->bind(std::any(spec_of("nfa.other.v4", false)));
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.error_text().find("has key type 'ipv4_addr' (4 bytes) but the target's type "
                                   "[local_addr, ip_proto, other_port, other_addr] needs "
                                   "'ipv4_addr . inet_proto . inet_service . ipv4_addr'") !=
        std::string::npos);
  // Created once the administrator fixed it: the next bind (a reload) attaches it.
  sh("nft add set inet nfa nfa.missing.v4 '{ type ipv4_addr . inet_proto . inet_service . "
     "ipv4_addr; flags timeout; }'");
  CHECK(bind_ok(*w, spec_of("nfa.missing.v4", false)) == 21);
  // A reload binds the same specs again: checked again, same handles. A managed set removed
  // meanwhile is created again; a set that is not managed and gone is reported.
  sh("nft delete set inet nfa nfa.more3.v4");
  CHECK(bind_ok(*w, spec_of("nfa.more3.v4")) == 4);
  CHECK(listing("nfa.more3.v4").find("flags timeout") != std::string::npos);
  sh("nft delete set inet nfa nfa.missing.v4");
  auto gone = w->bind(std::any(spec_of("nfa.missing.v4", false)));
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error_text().find("nft set 'inet nfa nfa.missing.v4' does not exist") !=
        std::string::npos);

  w->stop();
  w->stop();  // idempotent
  // flush_on_destroy: emptied at the clean stop.
  CHECK(listing("nfa.first.v4").find("10.5.") == std::string::npos);
}

namespace {

// The daemon's binder shape: one nftset writer.
class OneWriterBinder final : public SinkBinder {
 public:
  explicit OneWriterBinder(SetSinkWriter& w) : w_(w) {}
  Expected<SinkRef> bind(std::string_view type, const std::any& spec) override {
    REQUIRE(type == "nftset");
    auto h = w_.bind(spec);
    if (!h) return Expected<SinkRef>::failure(h.errors());
    return SinkRef{0, h.value()};
  }

 private:
  SetSinkWriter& w_;
};

}  // namespace

TEST_CASE("nftset target: start-up self-checks warn with the fix and the rest keeps working",
          "[nftset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  sh("nft add table inet nfa");
  sh("nft add set inet nfa wrong.v4 '{ type ipv4_addr; flags timeout; }'");
  auto w = start_writer();
  OneWriterBinder binder(*w);
  const std::string json = R"({
    "target_defaults": { "nftset": { "ttl": 900 } },
    "targets": {
      "label": { "target_type": "ctlabel", "labels": [ 3 ] },
      "missing": { "target_type": "nftset", "set_name": "missing",
                   "type": [ "local_addr", "ip_proto", "other_port", "other_addr" ] },
      "wrong": { "target_type": "nftset", "set_name": "wrong", "set_family": "ipv4",
                 "type": [ "other_addr", "other_port" ] },
      "made": { "target_type": "nftset", "set_name": "made", "managed": true,
                "type": [ "local_addr", "ip_proto", "other_port", "other_addr" ] }
    },
    "actions": { "a": { "criteria": "*", "targets": [ "label", "missing", "wrong", "made" ] } }
  })";
  actions::LoadOptions options;
  options.sinks = &binder;
  auto loaded = actions::load_config_text(json, "t.json", nullptr, {}, options);
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  const auto& warnings = loaded->warnings;
  REQUIRE(warnings.size() == 3);
  CHECK(warnings[0] ==
        "t.json: targets.missing: nftset: nft set 'inet nfa missing.v4' does not exist: create it "
        "with `nft add table inet nfa; nft add set inet nfa missing.v4 '{ type ipv4_addr . "
        "inet_proto . inet_service . ipv4_addr; flags timeout; size 65536; }'`, or set "
        "\"managed\": true in the target; until then this target adds no IPv4 flows (everything "
        "else keeps working)");
  CHECK(warnings[1].find("t.json: targets.missing: nftset: nft set 'inet nfa missing.v6' does "
                         "not exist") == 0);
  CHECK(warnings[2].find("t.json: targets.wrong: nftset: nft set 'inet nfa wrong.v4' has key "
                         "type 'ipv4_addr' (4 bytes) but the target's type [other_addr, "
                         "other_port] needs 'ipv4_addr . inet_service' (8 bytes)") == 0);
  // The managed target's sets were created and bound; the others are not bound; the label
  // target is untouched.
  CHECK(listing("made.v4").find("flags timeout") != std::string::npos);
  CHECK(listing("made.v6").find("ipv6_addr") != std::string::npos);
  const auto& rules = *loaded->rules;
  std::size_t bound = 0;
  for (std::size_t i = 0; i < rules.parts().targets.size(); ++i) {
    const auto& t = rules.parts().targets[i];
    if (t.name == "made") {
      CHECK(t.sinks[0].has_value());
      CHECK(t.sinks[1].has_value());
      CHECK(t.ttl_s == 900);
    }
    if (t.name == "missing" || t.name == "wrong") {
      CHECK_FALSE(t.sinks[0].has_value());
      CHECK_FALSE(t.sinks[1].has_value());
    }
    if (t.name == "label") CHECK(t.bits.test(3));
    bound += (t.sinks[0] ? 1 : 0) + (t.sinks[1] ? 1 : 0);
  }
  CHECK(bound == 2);
  w->stop();
}
