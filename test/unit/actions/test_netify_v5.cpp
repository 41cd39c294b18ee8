// SPDX-License-Identifier: GPL-3.0-or-later
// Netify v5 files: the tolerated inconsistencies as warnings (and as errors under strict), the
// v5 keys, halt_on_match, and the criteria fields v5 files use (MACs, in/out interfaces,
// @groups, quoted addresses, origin_other, dns_hostname), with the name checks.
#include <catch2/catch.hpp>

#include "ctlabeld/actions/config.hpp"
#include "test_support.hpp"

using namespace ctlabeld;
using namespace ctlabeld::actions;
using test::TestFlow;

namespace {

constexpr const char* kGroups = "test/data/netify/address-groups.json";

Expected<LoadedConfig> load(const std::string& json, const LoadOptions& options = {}) {
  return load_config_text(json, "v5.json", test::file_factory(), test::risk_lookup(), options);
}

// A LAN host (MAC 02:..:0a on br-lan) talking to a remote server through the router.
TestFlow lan_flow() {
  TestFlow f("192.168.1.10", 50000, "170.114.10.5", 443, 6);
  f.verdict.app = "zoom";
  f.verdict.protocol = "tls";
  f.verdict.category = "video";
  f.verdict.hostname = "us04web.zoom.us";
  REQUIRE(parse_mac("02:00:00:00:00:0a", f.view.src_mac));
  REQUIRE(parse_mac("02:00:00:00:00:01", f.view.dst_mac));
  f.view.has_src_mac = true;
  f.view.has_dst_mac = true;
  f.set_iface("nflog:5");
  f.view.in_iface = "br-lan";
  f.view.out_iface = "wan";
  return f;
}

// The same kind of flow seen where the link gave no MACs (tun, PPP) and no interfaces.
TestFlow bare_flow() {
  TestFlow f("192.168.1.10", 50000, "170.114.10.5", 443, 6);
  f.verdict.app = "zoom";
  f.set_iface("tun0");
  return f;
}

// Initiated from outside to a LAN server: the local side is the responder.
TestFlow inbound_flow() {
  TestFlow f("8.8.8.8", 40000, "192.168.1.20", 22, 6);
  REQUIRE(parse_mac("02:00:00:00:00:01", f.view.src_mac));
  REQUIRE(parse_mac("00:11:22:33:44:55", f.view.dst_mac));
  f.view.has_src_mac = true;
  f.view.has_dst_mac = true;
  f.view.in_iface = "wan";
  f.view.out_iface = "br-lan";
  return f;
}

CompileContext group_context(std::map<std::string, AddressGroup>& groups) {
  CompileContext c = test::context();
  c.group = [&groups](std::string_view name, std::string& why) -> const AddressGroup* {
    const auto it = groups.find(std::string(name));
    if (it != groups.end()) return &it->second;
    why = "no group '" + std::string(name) + "'";
    return nullptr;
  };
  return c;
}

}  // namespace

TEST_CASE("netify v5: criteria fields, one row each", "[actions][netify]") {
  std::map<std::string, AddressGroup> groups;
  Cidr c;
  Mac m;
  REQUIRE(parse_cidr("192.168.1.0/24", c));
  groups["lan"].ips.add(c);
  REQUIRE(parse_mac("00:11:22:33:44:55", m));
  groups["iot"].macs.push_back(m);
  const CompileContext context = group_context(groups);
  const LocalNetworks local = default_local_networks();
  struct Row {
    const char* criteria;
    int flow;  // 0 lan, 1 bare, 2 inbound
    bool match;
  };
  const Row rows[] = {
      // MAC fields: src/dst are the initiator's and responder's, local/other follow locality.
      {"src_mac == 02:00:00:00:00:0a;", 0, true},
      {"src_mac == 02:00:00:00:00:0b;", 0, false},
      {"dst_mac == 02:00:00:00:00:01;", 0, true},
      {"local_mac == 02:00:00:00:00:0A;", 0, true},
      {"other_mac == 02:00:00:00:00:01;", 0, true},
      {"local_mac == '02-00-00-00-00-0a';", 0, true},
      {"local_mac != 02:00:00:00:00:0a;", 0, false},
      {"local_mac == 00:11:22:33:44:55;", 2, true},  // the LAN server answered
      {"other_mac == 02:00:00:00:00:01;", 2, true},
      {"local_mac;", 0, true},
      {"local_mac;", 1, false},  // no link header: absent
      {"local_mac == 02:00:00:00:00:0a;", 1, false},
      {"local_mac != 02:00:00:00:00:0a;", 1, false},  // unknown satisfies neither
      {"local_mac == @iot;", 2, true},
      {"local_mac == @iot;", 0, false},
      {"local_mac != '@iot';", 0, true},
      // Interfaces: the packet's input and output interface.
      {"iface_nfq_src == 'br-lan';", 0, true},
      {"iface_nfq_src == 'BR-LAN';", 0, true},
      {"iface_nfq_dst == 'wan';", 0, true},
      {"iface_nfq_src == 'wan';", 0, false},
      {"iface_nfq_src == 'rx:^br-';", 0, true},
      {"iface_nfq_src == 'wan' && iface_nfq_dst == 'br-lan';", 2, true},
      {"iface_nfq_dst;", 1, false},
      {"iface_nfq_src == '*';", 1, true},  // tolerated: any interface (with a warning)
      {"iface_nfq_dst != '*';", 0, false},
      // Quoted address literals and groups.
      {"local_ip == '192.168.1.10';", 0, true},
      {"other_ip == '170.114.0.0/16';", 0, true},
      {"other_ip != '170.114.0.0/16';", 0, false},
      {"local_ip == @lan;", 0, true},
      {"local_ip == '@lan';", 2, true},
      {"other_ip == @lan;", 0, false},
      // origin_other, with the v4 README's origin_remote kept as an alias.
      {"origin == origin_other;", 2, true},
      {"origin == origin_remote;", 2, true},
      {"origin == origin_other;", 0, false},
      {"origin != origin_other;", 0, true},
      // dns_hostname: the name nDPI saw.
      {"dns_hostname == 'us04web.zoom.us';", 0, true},
      {"dns_hostname == 'rx:\\.zoom\\.us$';", 0, true},
      {"dns_hostname;", 2, false},
  };
  for (const auto& row : rows) {
    CAPTURE(row.criteria, row.flow);
    auto compiled = compile_criteria(row.criteria, "t", context);
    INFO(compiled.error_text());
    REQUIRE(compiled.ok());
    const TestFlow f = row.flow == 0 ? lan_flow() : row.flow == 1 ? bare_flow() : inbound_flow();
    TestFlow copy = f;
    copy.view.in_iface = f.view.in_iface;
    copy.view.out_iface = f.view.out_iface;
    CHECK(compiled->matches(copy.view, local) == row.match);
  }
}

TEST_CASE("netify v5: criteria errors for the new syntax", "[actions][netify]") {
  std::map<std::string, AddressGroup> groups;
  Cidr c;
  REQUIRE(parse_cidr("10.0.0.0/8", c));
  groups["servers"].ips.add(c);
  const CompileContext context = group_context(groups);
  struct Row {
    const char* criteria;
    const char* error;
  };
  const Row rows[] = {
      {"local_mac == 10.0.0.1;",
       "w:1:14: 'local_mac' is compared with a MAC address, e.g. local_mac == 00:11:22:33:44:55, "
       "or an address group @name, found '10.0.0.1'"},
      {"local_mac < 00:11:22:33:44:55;",
       "w:1:11: 'local_mac' is a MAC address; use == or !=, not '<'"},
      {"local_mac == '00:11:22:33:44';",
       "w:1:14: 'local_mac' is compared with a MAC address, e.g. local_mac == 00:11:22:33:44:55, "
       "or an address group @name, found '00:11:22:33:44'"},
      {"local_ip == @nope;", "w:1:13: no group 'nope'"},
      {"local_mac == @servers;",
       "w:1:14: address group '@servers' has no \"macs\"; add MAC addresses to it or compare an "
       "address field (local_ip) with it"},
      {"local_ip == '10.0.0.1/33';",
       "w:1:13: 'local_ip' is compared with an address or network, e.g. local_ip == "
       "192.168.1.0/24, or an address group @name, found '10.0.0.1/33'"},
      {"iface_nfq_src == wan;",
       "w:1:18: expected a value after '==', found 'wan'; quote names: 'wan'"},
      {"iface_nfq_src == br-lan;",
       "w:1:18: expected a value after '==', found 'br-lan'; quote names: 'br-lan'"},
      {"local_ip == @;", "w:1:13: expected an address group name after '@', e.g. @iot-devices"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.criteria);
    auto compiled = compile_criteria(row.criteria, "w", context);
    REQUIRE_FALSE(compiled.ok());
    CHECK(compiled.errors()[0] == row.error);
  }
}

TEST_CASE("netify v5: what Netify tolerates loads with one warning each", "[actions][netify]") {
  const std::string json = R"({
    "reprocess_flows": false,
    "target_globals": { "ctlabel": { "connlabel_conf": "test/data/config/connlabel.conf" } },
    "targets": {
      "ctlabel.bulk": { "target_type": "ctlabel", "labels": ["zoom", "bulk-traffic"] },
      "sink.cloud": { "target_type": "sink", "sink": "sink-mqtt", "channel": "flows" }
    },
    "actions": {
      "bulk": {
        "criteria": "iface_nfq_src == '*' && app == 'zoom';",
        "targets": ["ctlabel.bulk", "nftset.bulk", "sink.cloud"]
      }
    }
  })";
  auto loaded = load(json);
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  const std::vector<std::string> expected = {
      "v5.json: targets.ctlabel.bulk.labels[1]: label 'bulk-traffic' is not defined in "
      "test/data/config/connlabel.conf: this label is not set; add the line \"4 bulk-traffic\" "
      "(any free bit 0-127) to that file",
      "v5.json: targets.sink.cloud: target type 'sink' sends match records to a Netify sink "
      "plugin, which ctlabeld does not have: this target does nothing; remove it from the "
      "actions that name it",
      "v5.json: actions.bulk.targets[1]: target 'nftset.bulk' is not defined under \"targets\": "
      "it does nothing; define it or remove the name",
      "v5.json: actions.bulk.criteria:1:18: iface_nfq_src == '*' compares with the literal '*', "
      "which names no interface: matched as any interface (always true); remove the comparison "
      "or name an interface such as 'br-lan'",
  };
  CHECK(loaded->warnings == expected);
  CHECK_FALSE(loaded->reprocess_flows);
  // The defined label still applies; the flow matches through the '*' test.
  TestFlow f = bare_flow();
  Evaluation e = loaded->rules->make_evaluation();
  loaded->rules->evaluate(f.view, e);
  CHECK(loaded->rules->label_names(e.labels) == std::vector<std::string>{"zoom"});

  SECTION("--strict makes each warning an error, all reported at once") {
    LoadOptions strict;
    strict.strict = true;
    auto refused = load(json, strict);
    REQUIRE_FALSE(refused.ok());
    REQUIRE(refused.errors().size() == 4);
    CHECK(refused.errors()[2] == expected[2] + " [an error: --strict]");
  }
  SECTION("so does \"ctlabeld\": {\"strict\": true}") {
    std::string strict_json = json;
    strict_json.insert(strict_json.rfind('}'), R"(, "ctlabeld": { "strict": true })");
    auto refused = load(strict_json);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.errors()[0] == expected[0] + " [an error: ctlabeld.strict is true]");
  }
}

TEST_CASE("netify v5: halt_on_match stops later actions, in file order", "[actions][netify]") {
  const std::string json = R"({
    "target_globals": { "ctlabel": { "connlabel_conf": "test/data/config/connlabel.conf" } },
    "targets": {
      "zoom": { "target_type": "ctlabel", "labels": ["zoom"] },
      "stream": { "target_type": "ctlabel", "labels": ["streaming"] },
      "teams": { "target_type": "ctlabel", "labels": ["teams"] }
    },
    "actions": {
      "z-first": { "criteria": "app == 'zoom';", "targets": ["zoom"], "halt_on_match": true },
      "a-any": { "criteria": "*", "targets": ["stream"] },
      "b-teams": { "criteria": "app == 'teams';", "targets": ["teams"], "halt_on_match": false }
    }
  })";
  auto loaded = load(json);
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  const auto& rules = *loaded->rules;
  Evaluation e = rules.make_evaluation();
  TestFlow zoom = bare_flow();
  rules.evaluate(zoom.view, e);
  CHECK(rules.action_names(e) == std::vector<std::string>{"z-first"});  // not a-any
  TestFlow teams = bare_flow();
  teams.verdict.app = "teams";
  rules.evaluate(teams.view, e);
  CHECK(rules.action_names(e) == std::vector<std::string>{"a-any", "b-teams"});
  CHECK(rules.summary().find("halt_on_match: yes") != std::string::npos);
}

TEST_CASE("netify v5: the action interface matches the NFLOG input interface",
          "[actions][netify]") {
  const std::string json = R"({
    "target_globals": { "ctlabel": { "connlabel_conf": "test/data/config/connlabel.conf" } },
    "targets": { "zoom": { "target_type": "ctlabel", "labels": ["zoom"] } },
    "actions": { "lan": { "criteria": "*", "targets": ["zoom"], "interface": "br-lan" } }
  })";
  auto loaded = load(json);
  REQUIRE(loaded.ok());
  Evaluation e = loaded->rules->make_evaluation();
  TestFlow lan = lan_flow();  // nflog:5, input br-lan
  lan.view.in_iface = "br-lan";
  loaded->rules->evaluate(lan.view, e);
  CHECK(e.matched_actions.size() == 1);
  TestFlow in = inbound_flow();  // arrived on wan
  in.set_iface("nflog:5");
  loaded->rules->evaluate(in.view, e);
  CHECK(e.matched_actions.empty());
  TestFlow captured = bare_flow();
  captured.set_iface("br-lan");  // interface capture on br-lan
  loaded->rules->evaluate(captured.view, e);
  CHECK(e.matched_actions.size() == 1);
}

TEST_CASE("netify v5: keys and their errors", "[actions][netify]") {
  struct Row {
    const char* json;
    const char* error;
  };
  const Row rows[] = {
      {R"({"timezone": "Mars/Olympus", "actions": {}})",
       "v5.json: timezone: 'Mars/Olympus' is not an IANA time zone name known to the system "
       "tzdata; write e.g. \"Europe/Berlin\" or \"UTC\""},
      {R"({"reprocess_flows": "yes", "actions": {}})",
       "v5.json: reprocess_flows: expected true or false, found a string"},
      {R"({"actions": {"a": {"criteria": "*", "targets": [], "halt_on_match": 1}}})",
       "v5.json: actions.a.halt_on_match: expected true or false, found a number"},
      {R"({"actions": {"a": {"criteria": "*", "targets": ["x"], "time_of_day": [{"day": ["mon", "funday"], "time_start": "08:00", "time_end": "17:00"}]}}})",
       "v5.json: actions.a.time_of_day[0].day[1]: expected a day mon, tue, wed, thu, fri, sat or "
       "sun, found 'funday'"},
      {R"({"actions": {"a": {"criteria": "*", "targets": ["x"], "time_of_day": [{"day": "mon", "time_start": "8am", "time_end": "17:00"}]}}})",
       "v5.json: actions.a.time_of_day[0].time_start: '8am' is not a time of day; write HH:MM "
       "from 00:00 to 23:59"},
      {R"({"actions": {"a": {"criteria": "*", "targets": ["x"], "time_of_day": [{"day": "mon", "time_start": "08:00", "time_end": "24:30"}]}}})",
       "v5.json: actions.a.time_of_day[0].time_end: '24:30' is not a time of day; write HH:MM "
       "from 00:00 to 24:00"},
      {R"({"actions": {"a": {"criteria": "*", "targets": ["x"], "time_of_day": [{"day": "mon", "time_start": "08:00"}]}}})",
       "v5.json: actions.a.time_of_day[0]: missing \"time_end\"; add e.g. \"time_end\": \"17:00\""},
      {R"({"actions": {"a": {"criteria": "*", "targets": ["x"], "time_of_day": [{"day": "mon", "time_start": "08:00", "time_end": "08:00"}]}}})",
       "v5.json: actions.a.time_of_day[0]: time_start equals time_end: the window is empty; for "
       "a whole day write \"time_start\": \"00:00\", \"time_end\": \"24:00\""},
      {R"({"actions": {"a": {"criteria": "*", "targets": ["x"], "time_of_day": [{"day": "mon", "time_start": "08:00", "time_end": "09:00", "policy": "inclusiv"}]}}})",
       "v5.json: actions.a.time_of_day[0].policy: unknown policy 'inclusiv'; did you mean "
       "'inclusive'?; use \"inclusive\" (the action applies inside the window) or \"exclusive\" "
       "(outside it)"},
      {R"({"actions": {"a": {"criteria": "*", "targets": ["x"], "time_of_day": {"day": "mon"}}}})",
       "v5.json: actions.a.time_of_day: expected an array of windows [{ \"day\": [\"mon\"], "
       "\"time_start\": \"08:00\", \"time_end\": \"17:00\" }], found an object"},
      {R"({"targets": {"m": {"target_type": "ctmark", "mark": "0x1g", "mask": "0xff"}}, "actions": {}})",
       "v5.json: targets.m.mark: expected a 32-bit value as a decimal or 0x hex string, e.g. "
       "\"0x10\", found '0x1g'"},
      {R"({"targets": {"m": {"target_type": "ctmark", "mark": "16", "mask": "0xff", "shift": 40}}, "actions": {}})",
       "v5.json: targets.m.shift: 40 is out of range; use 0 to 31"},
      {R"({"targets": {"m": {"target_type": "ctmark", "mark": "16", "markk": 1}}, "actions": {}})",
       "v5.json: targets.m.markk: unknown key 'markk'; did you mean 'mark'? (allowed: "
       "target_type, target_enabled, mark, mask, shift)"},
      {R"({"actions": {"a": {"criteria": "local_mac == @x;", "targets": ["x"]}}, "ctlabeld": {"address_groups": "/nonexistent/groups.json"}})",
       "v5.json: actions.a.criteria:1:14: cannot read the address groups file "
       "/nonexistent/groups.json (cannot open the file: No such file or directory (at "
       "/nonexistent)); create it or set "
       "ctlabeld.address_groups to its path"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.json);
    auto loaded = load(row.json);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.errors()[0] == row.error);
  }
  // Valid ctmark keys load (the mark write itself is the targets issue's).
  auto ok = load(R"({"targets": {"m": {"target_type": "ctmark", "mark": "0x10", "mask": 255,
                     "shift": 4}}, "actions": {}})");
  INFO(ok.error_text());
  CHECK(ok.ok());
}

TEST_CASE("netify v5: @groups come from the address-groups file", "[actions][netify]") {
  const std::string json = std::string(R"({
    "target_globals": { "ctlabel": { "connlabel_conf": "test/data/config/connlabel.conf" } },
    "targets": { "kids": { "target_type": "ctlabel", "labels": ["zoom"] } },
    "actions": { "kids": { "criteria": "local_ip == @kids || local_mac == @iot-devices;",
                           "targets": ["kids"] } },
    "ctlabeld": { "address_groups": ")") +
                           kGroups + R"(" }
  })";
  auto loaded = load(json);
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  Evaluation e = loaded->rules->make_evaluation();
  TestFlow lan = lan_flow();
  lan.view.in_iface = "br-lan";
  loaded->rules->evaluate(lan.view, e);
  CHECK(e.matched_actions.size() == 1);
  TestFlow in = inbound_flow();  // local side 192.168.1.20 with MAC 00:11:22:33:44:55
  loaded->rules->evaluate(in.view, e);
  CHECK(e.matched_actions.size() == 1);
  TestFlow other("192.168.3.3", 1, "1.1.1.1", 53, 17);
  loaded->rules->evaluate(other.view, e);
  CHECK(e.matched_actions.empty());
  std::string unknown = json;
  unknown.replace(unknown.find("@kids"), 5, "@kid");
  auto refused = load(unknown);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.errors()[0] ==
        "v5.json: actions.kids.criteria:1:13: address group '@kid' is not "
        "defined in test/data/netify/address-groups.json; did you mean "
        "'kids'?; add it under \"address_groups\" there");
}

TEST_CASE("netify v5: names are checked against nDPI's and mapped", "[actions][netify]") {
  LoadOptions options;
  options.ndpi_names = [](const std::optional<std::string>&) {
    NdpiNames n;
    n.protocols = {"tls", "dns", "zoom", "amazonvideo", "doh_dot", "whatsapp"};
    n.categories = {"game", "socialnetwork", "video", "voip"};
    return n;
  };
  const std::string json = R"({
    "target_globals": { "ctlabel": { "connlabel_conf": "test/data/config/connlabel.conf" } },
    "targets": { "t": { "target_type": "ctlabel", "labels": ["zoom"] } },
    "actions": {
      "a": { "criteria": "app == 'netify.amazon-prime' || protocol == 'doh';", "targets": ["t"] },
      "b": { "criteria": ["ai:netify.nordvpn", "category == 'games'", "ac:whatsap"],
             "targets": ["t"] },
      "c": { "criteria": "app == 'zoom' && category == 'voip' && pi:tls;", "targets": ["t"] }
    },
    "ctlabeld": { "names_file": "etc/ctlabeld/netify-names.tsv" }
  })";
  auto loaded = load(json, options);
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  const std::vector<std::string> warnings = {
      "v5.json: actions.a.criteria:1:8: 'amazon-prime' is Netify's name for nDPI's "
      "'AmazonVideo': matched as that; write 'AmazonVideo' to silence this",
      "v5.json: actions.a.criteria:1:45: 'doh' is Netify's name for nDPI's 'DoH_DoT': matched as "
      "that; write 'DoH_DoT' to silence this",
      "v5.json: actions.b.criteria[0]:1:1: nDPI 4.2 cannot detect 'nordvpn': this comparison "
      "never matches; remove it or write a name nDPI 4.2 knows",
      "v5.json: actions.b.criteria[1]:1:13: 'games' is Netify's name for nDPI's 'Game': matched "
      "as that; write 'Game' to silence this",
      "v5.json: actions.b.criteria[2]:1:1: nDPI 4.2 cannot detect category 'whatsap': this "
      "comparison never matches; remove it or write a name nDPI 4.2 knows",
  };
  CHECK(loaded->warnings == warnings);
  const std::vector<std::string> mappings = {
      "actions.a.criteria: app 'amazon-prime' -> 'amazonvideo'",
      "actions.a.criteria: proto 'doh' -> 'doh_dot'",
      "actions.b.criteria[1]: category 'games' -> 'game'",
  };
  CHECK(loaded->name_mappings == mappings);
  TestFlow prime = bare_flow();
  prime.verdict.app = "amazonvideo";
  Evaluation e = loaded->rules->make_evaluation();
  loaded->rules->evaluate(prime.view, e);
  CHECK(loaded->rules->action_names(e) == std::vector<std::string>{"a"});
  // Netify's protocol "doh" is nDPI's TLS.DoH_DoT: the mapped name is found in either part.
  TestFlow doh = bare_flow();
  doh.verdict.app = "doh_dot";
  doh.verdict.protocol = "tls";
  loaded->rules->evaluate(doh.view, e);
  CHECK(loaded->rules->action_names(e) == std::vector<std::string>{"a"});
  // A names_file the file names must exist.
  std::string missing = json;
  missing.replace(missing.find("etc/ctlabeld/netify-names.tsv"), 29, "/nonexistent/names.tsv");
  auto refused = load(missing, options);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.errors()[0] ==
        "v5.json: ctlabeld.names_file: /nonexistent/names.tsv: cannot read the Netify name table "
        "(cannot open the file: No such file or directory (at /nonexistent)); set "
        "ctlabeld.names_file to its path, or "
        "\"\" to match names as written");
}
