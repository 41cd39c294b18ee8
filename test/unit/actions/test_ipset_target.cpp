// SPDX-License-Identifier: GPL-3.0-or-later
// The ipset target module: keys and target_defaults.ipset, the specs it binds per family, a
// sink that cannot be bound (a warning with the fix; the rest keeps working), the member wishes
// of matching flows, and the --check lines with the consuming rule.
#include <catch2/catch.hpp>

#include <map>

#include "ctlabeld/actions/config.hpp"
#include "ctlabeld/ipset/set_writer.hpp"
#include "test_support.hpp"

using namespace ctlabeld;
using namespace ctlabeld::actions;
using test::TestFlow;

namespace {

// Records every spec; refuses the set names in `refuse` with the writer's kind of message.
class FakeBinder final : public SinkBinder {
 public:
  std::map<std::string, std::string> refuse;
  std::vector<ipset::SetSpec> specs;

  Expected<SinkRef> bind(std::string_view type, const std::any& spec) override {
    REQUIRE(type == "ipset");
    const auto* s = std::any_cast<ipset::SetSpec>(&spec);
    REQUIRE(s != nullptr);
    if (const auto it = refuse.find(s->name); it != refuse.end()) {
      return Expected<SinkRef>::failure(it->second);
    }
    specs.push_back(*s);
    return SinkRef{3, static_cast<std::uint16_t>(specs.size() - 1)};
  }
};

Expected<LoadedConfig> load(const std::string& json, SinkBinder* binder = nullptr,
                            bool strict = false) {
  LoadOptions options;
  options.sinks = binder;
  options.strict = strict;
  return load_config_text(json, "ipset.json", test::file_factory(), test::risk_lookup(), options);
}

std::string file(const std::string& targets, const std::string& defaults = "") {
  return R"({ "target_globals": { "ctlabel": { "connlabel_conf": "test/data/config/connlabel.conf" } },
  "target_defaults": {)" +
         defaults + R"(},
  "targets": { "ctlabel.zoom": { "target_type": "ctlabel", "labels": [ "zoom" ] }, )" +
         targets + R"( },
  "actions": { "zoom": { "criteria": "app == 'zoom';", "targets": [ "ctlabel.zoom", "ipset.block" ] } } })";
}

}  // namespace

TEST_CASE("ipset target: keys, defaults and the specs bound per family", "[actions][ipset]") {
  FakeBinder binder;
  auto loaded = load(file(R"("ipset.block": { "target_type": "ipset", "set_name": "nfa.blocks",
      "type": "ip,port,ip", "skb_mark": "0x10", "skb_prio": "1:10", "skb_queue": 2,
      "flush_on_create": true })",
                          R"("ipset": { "managed": true, "ttl": 900, "max_elements": 1000,
      "flush_on_destroy": true, "skb_mask": "0xff" })"),
                     &binder);
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  CHECK(loaded->warnings.empty());
  REQUIRE(binder.specs.size() == 2);
  const ipset::SetSpec& v4 = binder.specs[0];
  CHECK(v4.name == "nfa.blocks.v4");
  CHECK(v4.family == ipset::Family::kIpv4);
  CHECK(v4.type == ipset::Type::kHashIpPortIp);
  CHECK(v4.max_elements == 1000);
  CHECK(v4.timeout);
  CHECK(v4.managed);
  CHECK(v4.flush_on_create);
  CHECK(v4.flush_on_destroy);
  CHECK(v4.skb.mark == 0x10u);
  CHECK(v4.skb.mask == 0xffu);
  CHECK(v4.skb.prio == 0x00010010u);
  CHECK(v4.skb.queue == std::uint16_t{2});
  CHECK(binder.specs[1].name == "nfa.blocks.v6");
  CHECK(binder.specs[1].family == ipset::Family::kIpv6);

  const RuleSet& rules = *loaded->rules;
  const auto& target = rules.parts().targets[1];
  CHECK(target.ttl_s == 900);
  REQUIRE(target.sinks[0]);
  REQUIRE(target.sinks[1]);
  CHECK(*target.sinks[0] == SinkRef{3, 0});
  CHECK(*target.sinks[1] == SinkRef{3, 1});

  // A matching flow wishes the sink of its IP version, with the ttl and its member fields.
  Evaluation e = rules.make_evaluation();
  TestFlow f("192.168.1.10", 50000, "203.0.113.5", 443, 6);
  f.verdict.app = "zoom";
  rules.evaluate(f.view, e);
  REQUIRE(e.members.size() == 1);
  CHECK(e.members[0].sink == SinkRef{3, 0});
  CHECK(e.members[0].ttl_s == 900);
  CHECK(e.member_fields.other_port == 443);
  CHECK(e.member_fields.ip_protocol == 6);
  TestFlow six("fd00::10", 50000, "2001:db8::5", 443, 6);
  six.verdict.app = "zoom";
  rules.evaluate(six.view, e);
  REQUIRE(e.members.size() == 1);
  CHECK(e.members[0].sink == SinkRef{3, 1});
  six.verdict.app = "youtube";
  rules.evaluate(six.view, e);
  CHECK(e.members.empty());

  const std::string summary = rules.summary();
  INFO(summary);
  CHECK_THAT(summary,
             Catch::Contains("  ipset.block (ipset)\n"
                             "    sets: nfa.blocks.v4 (IPv4 flows) nfa.blocks.v6 (IPv6 flows)\n"
                             "    type: hash:ip,port,ip (stores the local address, protocol:other "
                             "port, the other address)\n"
                             "    ttl: 900 s (restarted at half of it while the flow matches; "
                             "removed when it ends)\n"
                             "    max_elements: 1000\n"
                             "    managed: yes (created when missing), flush_on_create: yes, "
                             "flush_on_destroy: yes\n"
                             "    skbinfo: mark 0x10/0xff prio 1:10 queue 2\n"
                             "    consume with: iptables -t mangle -I FORWARD -m set --match-set "
                             "nfa.blocks.v4 src,dst,dst -j SET --map-set nfa.blocks.v4 src,dst,dst "
                             "--map-mark --map-prio --map-queue\n"
                             "                  ip6tables -t mangle -I FORWARD -m set --match-set "
                             "nfa.blocks.v6 src,dst,dst -j SET --map-set nfa.blocks.v6 src,dst,dst "
                             "--map-mark --map-prio --map-queue\n"));
}

TEST_CASE("ipset target: Netify's defaults and a drop rule for --check", "[actions][ipset]") {
  FakeBinder binder;
  auto loaded = load(
      file(
          R"("ipset.block": { "target_type": "ipset", "set_name": "blocks", "set_family": "ipv4" })"),
      &binder);
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  REQUIRE(binder.specs.size() == 1);
  const auto& spec = binder.specs[0];
  CHECK(spec.name == "blocks.v4");
  CHECK(spec.type == ipset::Type::kHashIp);
  CHECK(spec.max_elements == 65536);
  CHECK_FALSE(spec.timeout);
  CHECK_FALSE(spec.managed);
  CHECK_FALSE(spec.skb.any());
  const auto& target = loaded->rules->parts().targets[1];
  CHECK(target.sinks[0]);
  CHECK_FALSE(target.sinks[1]);
  const std::string summary = loaded->rules->summary();
  CHECK_THAT(summary,
             Catch::Contains("    sets: blocks.v4 (IPv4 flows)\n"
                             "    type: hash:ip (stores the other (remote) address)\n"
                             "    ttl: 0 (members never expire; removed when the flow ends)\n"
                             "    max_elements: 65536\n"
                             "    managed: no (must exist), flush_on_create: no, "
                             "flush_on_destroy: no\n"
                             "    consume with: iptables -I FORWARD -m set --match-set blocks.v4 "
                             "dst -j DROP\n"));
  // An IPv6 flow matches the action but the target has no IPv6 set: no wish.
  Evaluation e = loaded->rules->make_evaluation();
  TestFlow six("fd00::10", 50000, "2001:db8::5", 443, 6);
  six.verdict.app = "zoom";
  loaded->rules->evaluate(six.view, e);
  CHECK(loaded->rules->action_names(e) == std::vector<std::string>{"zoom"});
  CHECK(e.members.empty());
}

TEST_CASE("ipset target: a set that cannot be bound is a warning; the rest keeps working",
          "[actions][ipset]") {
  FakeBinder binder;
  binder.refuse["nfa.blocks.v4"] =
      "ipset: ipset nfa.blocks.v4 does not exist: create it with `ipset create nfa.blocks.v4 "
      "hash:ip family inet maxelem 65536 timeout 0`, or set \"managed\": true in the target";
  const std::string json =
      file(R"("ipset.block": { "target_type": "ipset", "set_name": "nfa.blocks", "ttl": 60 })");
  auto loaded = load(json, &binder);
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  REQUIRE(loaded->warnings.size() == 1);
  CHECK(loaded->warnings[0] ==
        "ipset.json: targets.ipset.block: ipset: ipset nfa.blocks.v4 does not exist: create it "
        "with `ipset create nfa.blocks.v4 hash:ip family inet maxelem 65536 timeout 0`, or set "
        "\"managed\": true in the target; until then this target adds no IPv4 flows (the daemon "
        "re-checks on reload)");
  const RuleSet& rules = *loaded->rules;
  const auto& target = rules.parts().targets[1];
  CHECK_FALSE(target.sinks[0]);
  CHECK(target.sinks[1]);
  CHECK_THAT(rules.summary(),
             Catch::Contains("sets: nfa.blocks.v4 (IPv4 flows, not bound: does nothing) "
                             "nfa.blocks.v6 (IPv6 flows)"));
  // The label still applies; the IPv4 flow wishes no member.
  Evaluation e = rules.make_evaluation();
  TestFlow f("192.168.1.10", 50000, "203.0.113.5", 443, 6);
  f.verdict.app = "zoom";
  rules.evaluate(f.view, e);
  CHECK(rules.label_names(e.labels) == std::vector<std::string>{"zoom"});
  CHECK(e.members.empty());
  // --strict refuses the file.
  FakeBinder strict_binder;
  strict_binder.refuse = binder.refuse;
  auto strict = load(json, &strict_binder, true);
  REQUIRE_FALSE(strict.ok());
  CHECK_THAT(strict.error_text(), Catch::Contains("[an error: --strict]"));
}

TEST_CASE("ipset target: a disabled target binds nothing; the dry binder binds all",
          "[actions][ipset]") {
  FakeBinder binder;
  auto off = load(file(R"("ipset.block": { "target_type": "ipset", "set_name": "x" })",
                       R"("ipset": { "target_enabled": false })"),
                  &binder);
  REQUIRE(off.ok());
  CHECK(binder.specs.empty());
  CHECK_THAT(off->rules->summary(), Catch::Contains("ipset.block (ipset, disabled)"));
  auto dry = load(file(R"("ipset.block": { "target_type": "ipset", "set_name": "x" })"));
  REQUIRE(dry.ok());
  CHECK(dry->rules->parts().targets[1].sinks[0]);
  CHECK(dry->rules->parts().targets[1].sinks[1]);
}

TEST_CASE("ipset target: the tolerated oddities are warnings", "[actions][ipset]") {
  auto loaded = load(file(
      R"("ipset.block": { "target_type": "ipset", "set_name": "x", "skb_mask": "0xff", "flush_on_create": true })"));
  REQUIRE(loaded.ok());
  REQUIRE(loaded->warnings.size() == 2);
  CHECK(loaded->warnings[0] ==
        "ipset.json: targets.ipset.block.skb_mask: skb_mask has no effect without skb_mark; add "
        "skb_mark");
  CHECK(loaded->warnings[1] ==
        "ipset.json: targets.ipset.block.flush_on_create: flush_on_create applies only to "
        "managed sets: this set is not flushed; add \"managed\": true or remove "
        "flush_on_create");
}
