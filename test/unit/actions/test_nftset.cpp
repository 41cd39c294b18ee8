// SPDX-License-Identifier: GPL-3.0-or-later
// The nftset target module: target_defaults merged under each target, one sink per family with
// the .v4/.v6 suffix, the spec each sink is bound with, bind failures as warnings, the --check
// lines (key and a consumer rule), and the flow's member wish. Bad keys: test/data/config/bad.
#include <catch2/catch.hpp>

#include <any>
#include <map>

#include "ctlabeld/actions/config.hpp"
#include "ctlabeld/nftset/set_spec.hpp"
#include "test_support.hpp"

using namespace ctlabeld;
using namespace ctlabeld::actions;

namespace {

// Records every spec; refuses the sets named in `missing` with a message.
class RecordingBinder final : public SinkBinder {
 public:
  std::vector<nftset::SetSpec> specs;
  std::vector<std::string> missing;
  Expected<SinkRef> bind(std::string_view type, const std::any& spec) override {
    if (type != "nftset") return SinkRef{9, 0};  // the other sink types bind, unrecorded
    const auto* s = std::any_cast<nftset::SetSpec>(&spec);
    REQUIRE(s != nullptr);
    if (std::find(missing.begin(), missing.end(), s->set) != missing.end()) {
      return Expected<SinkRef>::failure("nftset: nft set '" + s->set + "' does not exist: fix");
    }
    specs.push_back(*s);
    return SinkRef{3, static_cast<std::uint16_t>(specs.size() - 1)};
  }
};

Expected<LoadedConfig> load(const std::string& json, SinkBinder* binder = nullptr) {
  LoadOptions options;
  options.sinks = binder;
  return load_config_text(json, "n.json", test::file_factory(), test::risk_lookup(), options);
}

const CtlabelTarget& target(const LoadedConfig& c, const std::string& name) {
  for (const auto& t : c.rules->parts().targets) {
    if (t.name == name) return t;
  }
  FAIL("no target " << name);
  std::abort();
}

constexpr const char* kFile = R"({
  "target_globals": { "ctlabel": { "connlabel_conf": "test/data/config/connlabel.conf" } },
  "target_defaults": { "nftset": { "table_name": "fw", "ttl": 900, "managed": true,
                                   "type": [ "local_addr", "ip_proto", "other_port", "other_addr" ] } },
  "targets": {
    "nftset.blocks": { "target_type": "nftset", "set_name": "nfa.blocks", "max_elements": 4096,
                       "flush_on_create": true, "flush_on_destroy": true },
    "nftset.servers": { "target_type": "nftset", "set_name": "servers", "set_family": "ipv6",
                        "type": [ "other_addr" ], "ttl": 0, "managed": false, "size": 100 },
    "ctlabel.zoom": { "target_type": "ctlabel", "labels": [ "zoom" ] }
  },
  "actions": { "zoom": { "criteria": "app == 'zoom';",
                         "targets": [ "ctlabel.zoom", "nftset.blocks", "nftset.servers" ] } }
})";

}  // namespace

TEST_CASE("nftset: defaults, one spec per family, sinks and ttl", "[actions][nftset]") {
  RecordingBinder binder;
  auto loaded = load(kFile, &binder);
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  CHECK(loaded->warnings.empty());
  REQUIRE(binder.specs.size() == 3);
  const auto& v4 = binder.specs[0];
  CHECK(v4.table == "fw");
  CHECK(v4.table_family == "inet");
  CHECK(v4.set == "nfa.blocks.v4");
  CHECK(v4.family == nftset::Family::kIpv4);
  CHECK(v4.fields.size() == 4);
  CHECK(v4.size == 4096);
  CHECK(v4.timeout);
  CHECK(v4.managed);
  CHECK(v4.flush_on_create);
  CHECK(v4.flush_on_destroy);
  CHECK(binder.specs[1].set == "nfa.blocks.v6");
  CHECK(binder.specs[1].family == nftset::Family::kIpv6);
  const auto& servers = binder.specs[2];
  CHECK(servers.set == "servers.v6");
  CHECK(servers.fields == std::vector<nftset::Field>{nftset::Field::kOtherAddr});
  CHECK(servers.size == 100);
  CHECK_FALSE(servers.timeout);
  CHECK_FALSE(servers.managed);

  const auto& blocks = target(*loaded, "nftset.blocks");
  REQUIRE(blocks.sinks[0].has_value());
  REQUIRE(blocks.sinks[1].has_value());
  CHECK(*blocks.sinks[0] == SinkRef{3, 0});
  CHECK(*blocks.sinks[1] == SinkRef{3, 1});
  CHECK(blocks.ttl_s == 900);
  const auto& s = target(*loaded, "nftset.servers");
  CHECK_FALSE(s.sinks[0].has_value());
  CHECK(*s.sinks[1] == SinkRef{3, 2});
  CHECK(s.ttl_s == 0);

  // A Zoom flow from the LAN wishes its IPv4 sinks, with the target's ttl, and nothing else.
  test::TestFlow flow("192.168.1.10", 50000, "170.114.10.5", 443, 6);
  flow.verdict.app = "zoom";
  Evaluation e = loaded->rules->make_evaluation();
  loaded->rules->evaluate(flow.view, e);
  REQUIRE(e.members.size() == 1);
  CHECK(e.members[0].sink == SinkRef{3, 0});
  CHECK(e.members[0].ttl_s == 900);
  CHECK(e.member_fields.ip_version == 4);
  CHECK(e.member_fields.other_port == 443);
}

TEST_CASE("nftset: a set that cannot be bound is a warning per family; the rest binds",
          "[actions][nftset]") {
  RecordingBinder binder;
  binder.missing = {"nfa.blocks.v6"};
  auto loaded = load(kFile, &binder);
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  REQUIRE(loaded->warnings.size() == 1);
  CHECK(loaded->warnings[0] ==
        "n.json: targets.nftset.blocks: nftset: nft set 'nfa.blocks.v6' does not exist: fix; "
        "until then this target adds no IPv6 flows (everything else keeps working)");
  const auto& blocks = target(*loaded, "nftset.blocks");
  CHECK(blocks.sinks[0].has_value());
  CHECK_FALSE(blocks.sinks[1].has_value());
  CHECK(target(*loaded, "ctlabel.zoom").bits.test(0));
}

TEST_CASE("nftset: --check prints the full set names, key, ttl and a consumer rule",
          "[actions][nftset]") {
  auto loaded = load(kFile);  // the dry binder: every sink binds, nothing is touched
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  const std::string summary = loaded->rules->summary();
  INFO(summary);
  CHECK(
      summary.find("  nftset.blocks (nftset)\n"
                   "    type: [local_addr, ip_proto, other_port, other_addr]\n"
                   "    set (IPv4 flows): inet fw nfa.blocks.v4\n"
                   "      key: ipv4_addr . inet_proto . inet_service . ipv4_addr\n"
                   "      rule: ip saddr . ip protocol . th dport . ip daddr @nfa.blocks.v4 drop\n"
                   "    set (IPv6 flows): inet fw nfa.blocks.v6\n"
                   "      key: ipv6_addr . inet_proto . inet_service . ipv6_addr\n"
                   "      rule: ip6 saddr . meta l4proto . th dport . ip6 daddr @nfa.blocks.v6 "
                   "drop\n"
                   "      (in a forward chain of table inet fw, for packets from the LAN side: "
                   "local = source)\n"
                   "    ttl: 900 s (re-added while the flow lives; removed when it ends)\n"
                   "    max_elements: 4096\n"
                   "    managed: yes (flushed at start-up)\n"
                   "    flush_on_destroy: yes\n") != std::string::npos);
  CHECK(summary.find("    set (IPv6 flows): inet fw servers.v6\n"
                     "      key: ipv6_addr\n"
                     "      rule: ip6 daddr @servers.v6 drop\n") != std::string::npos);
  CHECK(summary.find("    ttl: 0 (elements stay until their flow ends)\n") != std::string::npos);
}

TEST_CASE("nftset: Netify's documented example with log, ipset, ctlabel and nftset loads",
          "[actions][nftset]") {
  RecordingBinder binder;
  auto loaded = load_config_file("test/data/config/good/netify_all_target_types.json",
                                 test::file_factory(), test::risk_lookup(), [&] {
                                   LoadOptions o;
                                   o.sinks = &binder;
                                   return o;
                                 }());
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  REQUIRE(binder.specs.size() == 1);  // set_family ipv4
  CHECK(binder.specs[0].table == "netify");
  CHECK(binder.specs[0].set == "video.v4");
  CHECK(binder.specs[0].size == 65535);
  CHECK(binder.specs[0].managed);
  CHECK(target(*loaded, "nftset.video").ttl_s == 60);
}

TEST_CASE("nftset: target_globals.nftset keys are a warning (Netify documents none)",
          "[actions][nftset]") {
  auto loaded = load(R"({
    "target_globals": { "ctlabel": { "connlabel_conf": "test/data/config/connlabel.conf" },
                        "nftset": { "table": "netify" } },
    "targets": { "nftset.a": { "target_type": "nftset", "set_name": "a", "type": [ "other_addr" ] } },
    "actions": { "a": { "criteria": "app == 'zoom';", "targets": [ "nftset.a" ] } }
  })");
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  REQUIRE(loaded->warnings.size() == 1);
  CHECK(loaded->warnings[0] ==
        "n.json: target_globals.nftset.table: nftset has no global settings: 'table' is ignored; "
        "give the targets' settings in target_defaults.nftset (keys: target_enabled, table_name, "
        "table_family, set_name, set_family, type, max_elements, size, ttl, managed, "
        "flush_on_create, flush_on_destroy)");
}
