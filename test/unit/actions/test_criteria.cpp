// SPDX-License-Identifier: GPL-3.0-or-later
// Criteria compiler and evaluator: every field, precedence, negation, CIDR, regex, compact
// forms, and exact error messages with columns.
#include <catch2/catch.hpp>

#include "ctlabeld/actions/criteria.hpp"
#include "test_support.hpp"

namespace ctlabeld::actions {
namespace {

using test::TestFlow;

// F0: a local client on a Zoom TLS flow.
TestFlow zoom_flow() {
  TestFlow f("192.168.1.10", 50000, "170.114.10.5", 443, 6);
  f.verdict.app = "zoom";
  f.verdict.protocol = "tls";
  f.verdict.category = "video";
  f.verdict.app_category = "video";
  f.verdict.protocol_category = "web";
  f.verdict.hostname = "us04web.zoom.us";
  f.verdict.risks = (1u << 5);
  f.verdict.risk_score = 10;
  f.verdict.complete = true;
  f.view.packets = 12;
  f.view.bytes = 3400;
  f.set_iface("eth0");
  return f;
}

// F1: a remote host initiating DNS to a local server, on VLAN 100.
TestFlow dns_flow() {
  TestFlow f("8.8.8.8", 53, "192.168.1.10", 40000, 17);
  f.view.tuple.vlan = 100;
  f.verdict.app = "dns";
  f.verdict.protocol = "dns";
  f.verdict.category = "network";
  f.verdict.hostname = "Example.COM";
  f.verdict.guessed = true;
  f.view.packets = 2;
  f.view.bytes = 150;
  f.set_iface("nflog:5");
  return f;
}

// F2: IPv6 from a ULA client, HTTP with no app, a self-signed risk.
TestFlow v6_flow() {
  TestFlow f("fd00::5", 40000, "2001:db8::1", 80, 6);
  f.verdict.protocol = "http";
  f.verdict.risks = (1u << 6);
  f.set_iface("eth1");
  return f;
}

// F3: two public hosts, nothing detected, no counters.
TestFlow public_flow() {
  TestFlow f("1.1.1.1", 1234, "9.9.9.9", 853, 6);
  return f;
}

// F4: both sides local: the initiator is "local".
TestFlow both_local_flow() {
  TestFlow f("10.0.0.1", 5000, "192.168.1.1", 22, 6);
  f.verdict.app = "ssh";
  f.verdict.protocol = "ssh";
  return f;
}

struct EvalRow {
  const char* criteria;
  int flow;
  bool match;
};

const EvalRow kEvalRows[] = {
    // names: case-insensitive, netify. prefix, aliases
    {"app == 'zoom';", 0, true},
    {"app == 'Zoom';", 0, true},
    {"app == 'ZOOM';", 0, true},
    {"app == 'netify.zoom';", 0, true},
    {"app == 'Netify.Zoom';", 0, true},
    {"application == 'zoom';", 0, true},
    {"detected_application == 'zoom';", 0, true},
    {"app == 'zoom';", 1, false},
    {"app != 'zoom';", 1, true},
    {"app != 'zoom';", 0, false},
    {"app == 'zoo';", 0, false},
    {"app == 'zoom'", 0, true},  // final ';' optional
    {"protocol == 'tls';", 0, true},
    {"proto == 'TLS';", 0, true},
    {"protocol == 'dns';", 0, false},
    {"category == 'video';", 0, true},
    {"app_category == 'video';", 0, true},
    {"protocol_category == 'web';", 0, true},
    {"protocol_category == 'video';", 0, false},
    {"detected_hostname == 'us04web.zoom.us';", 0, true},
    {"detected_hostname == 'example.com';", 1, true},
    {"host_server_name == 'EXAMPLE.com';", 1, true},
    {"iface == 'eth0';", 0, true},
    {"iface == 'nflog:5';", 1, true},
    {"iface != 'eth0';", 1, true},
    // regex
    {"detected_hostname == 'rx:\\.zoom\\.us$';", 0, true},
    {"detected_hostname == 'rx:^US04';", 0, true},
    {"detected_hostname == 'rx:\\.zoom\\.us$';", 1, false},
    {"detected_hostname != 'rx:zoom';", 1, true},
    {"detected_hostname != 'rx:zoom';", 0, false},
    {"app == 'rx:^(zoom|teams)$';", 0, true},
    {"app == 'rx:^(zoom|teams)$';", 1, false},
    {"iface == 'rx:^nflog:[0-9]+$';", 1, true},
    // numbers
    {"ip_version == 4;", 0, true},
    {"ip_version == 6;", 2, true},
    {"ip_version != 4;", 2, true},
    {"ip_protocol == 6;", 0, true},
    {"ip_protocol == 17;", 1, true},
    {"ip_protocol == 0x11;", 1, true},
    {"vlan_id == 100;", 1, true},
    {"vlan_id == 0;", 0, true},
    {"vlan == 100;", 1, true},
    {"src_port == 50000;", 0, true},
    {"dst_port == 443;", 0, true},
    {"dst_port == 0x1bb;", 0, true},
    {"dst_port < 1024;", 0, true},
    {"dst_port <= 443;", 0, true},
    {"dst_port > 443;", 0, false},
    {"dst_port >= 443;", 0, true},
    {"src_port > 1024 && dst_port < 1024;", 0, true},
    {"any_port == 443;", 0, true},
    {"any_port == 50000;", 0, true},
    {"any_port == 53;", 0, false},
    {"any_port != 53;", 0, true},
    {"any_port != 443;", 0, false},
    {"any_port < 100;", 1, true},
    {"packets == 12;", 0, true},
    {"packets > 10;", 0, true},
    {"bytes >= 3400;", 0, true},
    {"bytes < 3400;", 0, false},
    {"ndpi_risk_score == 10;", 0, true},
    {"ndpi_risk_score > 0;", 1, false},
    // booleans
    {"detection_guessed == true;", 1, true},
    {"detection_guessed == false;", 0, true},
    {"detection_guessed != true;", 0, true},
    {"detection_complete == true;", 0, true},
    {"detection_complete == 1;", 0, true},
    {"detection_complete == 0;", 1, true},
    // bare fields: present and non-zero
    {"detection_guessed;", 1, true},
    {"detection_guessed;", 0, false},
    {"vlan_id;", 1, true},
    {"vlan_id;", 0, false},
    {"detected_hostname;", 0, true},
    {"detected_hostname;", 3, false},
    {"app;", 0, true},
    {"app;", 2, false},  // "unknown" is absent
    {"category;", 3, false},
    {"risks;", 0, true},
    {"risks;", 1, false},
    {"ndpi_risk_score;", 0, true},
    {"packets;", 3, false},
    {"!app;", 3, true},
    {"src_ip;", 0, true},
    // risks
    {"risks == 'Known protocol on non standard port';", 0, true},
    {"risks == 'known PROTOCOL on non standard port';", 0, true},
    {"risks == 'Self-signed certificate';", 0, false},
    {"risks == 'Self-signed certificate';", 2, true},
    {"risks != 'Self-signed certificate';", 0, true},
    {"risks == 6;", 2, true},
    // addresses and CIDR, v4 and v6
    {"src_ip == 192.168.1.10;", 0, true},
    {"src_ip == 192.168.1.0/24;", 0, true},
    {"src_ip == 192.168.2.0/24;", 0, false},
    {"src_ip != 192.168.2.0/24;", 0, true},
    {"dst_ip == 170.114.0.0/16;", 0, true},
    {"dst_ip == 0.0.0.0/0;", 0, true},
    {"dst_ip == 0.0.0.0/0;", 2, false},  // a v4 network never holds a v6 address
    {"src_ip == fd00::/8;", 2, true},
    {"src_ip == fd00::5;", 2, true},
    {"dst_ip == 2001:db8::/32;", 2, true},
    {"dst_ip != 2001:db8::/32;", 2, false},
    {"dst_ip == 2001:db9::/32;", 2, false},
    {"dst_ip == ::/0;", 2, true},
    {"dst_ip == 2001:db8::/127;", 2, true},
    {"dst_ip == 2001:db8::2/128;", 2, false},
    {"any_ip == 170.114.10.5;", 0, true},
    {"any_ip == 192.168.1.10;", 0, true},
    {"any_ip == 10.0.0.0/8;", 0, false},
    {"any_ip != 10.0.0.0/8;", 0, true},
    {"any_ip != 192.168.0.0/16;", 0, false},
    // local / other
    {"local_ip == 192.168.1.10;", 0, true},
    {"other_ip == 170.114.10.5;", 0, true},
    {"local_port == 50000;", 0, true},
    {"other_port == 443;", 0, true},
    {"local_ip == 192.168.1.10;", 1, true},  // local side is the responder here
    {"other_ip == 8.8.8.8;", 1, true},
    {"local_port == 40000;", 1, true},
    {"other_port == 53;", 1, true},
    {"local_ip == fd00::/8;", 2, true},
    {"other_ip == 2001:db8::/32;", 2, true},
    {"local_ip == 1.1.1.1;", 3, true},  // neither local: the initiator
    {"other_ip == 9.9.9.9;", 3, true},
    {"local_ip == 10.0.0.1;", 4, true},  // both local: the initiator
    {"other_port == 22;", 4, true},
    {"local_ip == 192.168.0.0/16;", 0, true},
    {"other_ip == 192.168.0.0/16;", 0, false},
    // logic, precedence, negation
    {"app == 'zoom' && protocol == 'tls';", 0, true},
    {"app == 'zoom' and protocol == 'tls';", 0, true},
    {"app == 'zoom' AND protocol == 'dns';", 0, false},
    {"app == 'dns' || protocol == 'tls';", 0, true},
    {"app == 'dns' OR protocol == 'tls';", 0, true},
    {"app == 'dns' or protocol == 'dns';", 0, false},
    {"app == 'zoom' || app == 'dns' && protocol == 'x';", 0, true},  // && binds tighter
    {"(app == 'zoom' || app == 'dns') && protocol == 'x';", 0, false},
    {"app == 'dns' && protocol == 'x' || app == 'zoom';", 0, true},
    {"app == 'dns' && (protocol == 'x' || app == 'zoom');", 0, false},
    {"!app == 'zoom';", 0, false},  // ! applies to the comparison
    {"!(app == 'zoom');", 0, false},
    {"!!(app == 'zoom');", 0, true},
    {"!app == 'dns';", 0, true},
    {"!(app == 'dns' || app == 'ssh');", 0, true},
    {"!(app == 'dns' || app == 'zoom');", 0, false},
    {"((((app == 'zoom'))));", 0, true},
    {"true;", 3, true},
    {"false;", 0, false},
    {"true && !false;", 0, true},
    {"*", 3, true},
    {"*;", 0, true},
    // compact forms
    {"ai:zoom", 0, true},
    {"ai:Zoom;", 0, true},
    {"ai:netify.zoom", 0, true},
    {"ai:zoom", 1, false},
    {"!ai:zoom", 1, true},
    {"!ai:zoom", 0, false},
    {"pi:tls", 0, true},
    {"pi:dns", 0, false},
    {"ac:video", 0, true},
    {"pc:web", 0, true},
    {"pc:video", 0, false},
    {"ai:zo*", 0, true},
    {"ai:*om", 0, true},
    {"ai:z*m", 0, true},
    {"ai:*", 0, true},
    {"ai:*", 3, false},  // wildcards never match "unknown"
    {"pc:*", 3, false},
    {"!ai:*", 3, true},
    {"ai:zoom || ai:dns", 1, true},
    {"ai:zoom && dst_port == 443;", 0, true},
    {"ai:'zoom'", 0, true},
    // Netify's other_type and origin constants, and the cat/proto_category aliases
    {"other_type == other_remote;", 0, true},
    {"other_type == other_local;", 0, false},
    {"other_type != other_local;", 0, true},
    {"other_type == other_local;", 4, true},   // both local: the responder is "other"
    {"other_type == other_remote;", 1, true},  // 8.8.8.8 is the other side
    {"other_type == other_remote;", 3, true},  // neither local: other is the responder
    {"other_type == other_unknown;", 0, false},
    {"origin == origin_local;", 0, true},
    {"origin == origin_remote;", 1, true},  // 8.8.8.8 initiated to a local server
    {"origin == origin_unknown;", 3, true},
    {"origin != origin_local;", 3, true},
    {"origin == origin_local;", 4, true},
    {"other_type == other_remote && origin == origin_local && app == 'zoom';", 0, true},
    {"other_type == other_local && (app_category == 'video' || protocol_category == 'voip');", 0,
     false},
    {"cat == 'video';", 0, true},
    {"proto_category == 'web';", 0, true},
    {"proto_category == 'video';", 0, false},
};

TestFlow flow_by_index(int i) {
  switch (i) {
    case 0: return zoom_flow();
    case 1: return dns_flow();
    case 2: return v6_flow();
    case 3: return public_flow();
    default: return both_local_flow();
  }
}

TEST_CASE("criteria: evaluation table", "[actions][criteria]") {
  const LocalNetworks local = default_local_networks();
  for (const auto& row : kEvalRows) {
    CAPTURE(row.criteria, row.flow);
    auto c = compile_criteria(row.criteria, "t", test::context());
    INFO(c.error_text());
    REQUIRE(c.ok());
    const TestFlow flow = flow_by_index(row.flow);
    CHECK(c->matches(flow.view, local) == row.match);
  }
}

TEST_CASE("criteria: other_type for multicast and broadcast destinations", "[actions][criteria]") {
  const LocalNetworks local = default_local_networks();
  struct Row {
    const char* src;
    const char* dst;
    const char* criteria;
    bool match;
  };
  const Row rows[] = {
      {"192.168.1.10", "224.0.0.251", "other_type == other_multicast;", true},
      {"192.168.1.10", "239.255.255.250", "other_type == other_multicast;", true},
      {"192.168.1.10", "223.255.255.255", "other_type == other_multicast;", false},
      {"192.168.1.10", "255.255.255.255", "other_type == other_broadcast;", true},
      {"192.168.1.10", "255.255.255.255", "other_type == other_remote;", false},
      {"fe80::1", "ff02::fb", "other_type == other_multicast;", true},
      {"fe80::1", "fe80::2", "other_type == other_local;", true},
      {"fd00::1", "2001:db8::1", "other_type == other_remote;", true},
  };
  for (const auto& row : rows) {
    CAPTURE(row.src, row.dst, row.criteria);
    auto c = compile_criteria(row.criteria, "t", test::context());
    INFO(c.error_text());
    REQUIRE(c.ok());
    TestFlow f(row.src, 5353, row.dst, 5353, 17);
    CHECK(c->matches(f.view, local) == row.match);
  }
}

TEST_CASE("criteria: configured local networks change local_ip", "[actions][criteria]") {
  LocalNetworks local;
  Cidr c;
  REQUIRE(parse_cidr("8.8.8.0/24", c));
  local.add(c);
  auto crit = compile_criteria("local_ip == 8.8.8.8;", "t", test::context());
  REQUIRE(crit.ok());
  CHECK(crit->uses_locality());
  CHECK(crit->matches(dns_flow().view, local));
  CHECK_FALSE(crit->matches(dns_flow().view, default_local_networks()));
}

TEST_CASE("criteria: a flow without a verdict is 'unknown'", "[actions][criteria]") {
  TestFlow f = public_flow();
  f.view.verdict = nullptr;
  const LocalNetworks local = default_local_networks();
  auto unknown =
      compile_criteria("app == 'unknown' && !risks && !detected_hostname;", "t", test::context());
  REQUIRE(unknown.ok());
  CHECK(unknown->matches(f.view, local));
}

struct ErrorRow {
  const char* criteria;
  const char* error;
};

const ErrorRow kErrorRows[] = {
    {"app_id == 0 || proto_id == 0;",
     "actions.zoom.criteria:1:1: 'app_id' is a Netify field that ctlabeld cannot evaluate: "
     "Netify's numeric ids are its own, not nDPI's; match by name, e.g. app == 'zoom'"},
    {"fwmark == 1;",
     "actions.zoom.criteria:1:1: 'fwmark' is a Netify field that ctlabeld cannot evaluate: the "
     "conntrack mark is not read; match it in nftables (ct mark)"},
    {"origin == origin_remot;",
     "actions.zoom.criteria:1:11: unknown origin 'origin_remot'; did you mean 'origin_remote'? "
     "(values: origin_local, origin_other, origin_unknown)"},
    {"origin < 3;",
     "actions.zoom.criteria:1:8: 'origin' is one of origin_local, origin_other, "
     "origin_unknown; use == or !=, not '<'"},
    {"other_type == 'other_local';",
     "actions.zoom.criteria:1:15: 'other_type' is compared with one of other_local, "
     "other_remote, other_multicast, other_broadcast, other_unknown, other_unsupported, "
     "other_error, found 'other_local'"},
    {"app == ;", "actions.zoom.criteria:1:8: expected a value after '==', found ';'"},
    {"app ==", "actions.zoom.criteria:1:7: expected a value after '==', found end of criteria"},
    {"app == zoom;",
     "actions.zoom.criteria:1:8: expected a value after '==', found 'zoom'; quote names: 'zoom'"},
    {"app\n== ;", "actions.zoom.criteria:2:4: expected a value after '==', found ';'"},
    {"ap == 'zoom';", "actions.zoom.criteria:1:1: unknown field 'ap'; did you mean 'app'?"},
    {"protocl == 'tls';",
     "actions.zoom.criteria:1:1: unknown field 'protocl'; did you mean 'protocol'?"},
    {"dst_prot == 1;",
     "actions.zoom.criteria:1:1: unknown field 'dst_prot'; did you mean 'dst_port'?"},
    {"wibble == 1;", "actions.zoom.criteria:1:1: unknown field 'wibble'"},
    {"app = 'zoom';", "actions.zoom.criteria:1:5: unexpected '='; comparisons use '=='"},
    {"(app == 'zoom';",
     "actions.zoom.criteria:1:15: expected ')' to close the '(' at 1:1, found ';'"},
    {"app == 'zoom');", "actions.zoom.criteria:1:14: expected '&&', '||' or ';', found ')'"},
    {"app == 'zoom' proto == 'tls';",
     "actions.zoom.criteria:1:15: expected '&&', '||' or ';', found 'proto'"},
    {"app == 'zoom'; proto == 'tls';",
     "actions.zoom.criteria:1:16: a second statement; a criteria holds one expression: join "
     "the statements with '&&' or '||' into one, ending with ';'"},
    {"", "actions.zoom.criteria:1:1: empty criteria; write an expression such as app == 'zoom';"},
    {"  ;",
     "actions.zoom.criteria:1:3: empty criteria; write an expression such as app == 'zoom';"},
    {"app == 'zoom' &&;",
     "actions.zoom.criteria:1:17: expected an expression after '&&', found ';'"},
    {"app == 'zoom' ||",
     "actions.zoom.criteria:1:17: expected an expression after '||', found end of criteria"},
    {"!;", "actions.zoom.criteria:1:2: expected an expression after '!', found ';'"},
    {"&& app;",
     "actions.zoom.criteria:1:1: expected a field, '(', '!', '*' or ai:/ac:/pi:/pc:, found '&&'"},
    {"();",
     "actions.zoom.criteria:1:2: expected a field, '(', '!', '*' or ai:/ac:/pi:/pc:, found ')'"},
    {"'zoom';",
     "actions.zoom.criteria:1:1: expected a field before the value 'zoom', e.g. app == 'zoom'"},
    {"bytes 5;",
     "actions.zoom.criteria:1:7: expected a comparison (==, !=, <, <=, >, >=) after 'bytes', found "
     "'5'"},
    {"app < 'zoom';", "actions.zoom.criteria:1:5: 'app' is a name; use == or !=, not '<'"},
    {"app == 5;",
     "actions.zoom.criteria:1:8: 'app' is compared with a quoted name, e.g. app == 'zoom', found "
     "'5'"},
    {"bytes == 'x';",
     "actions.zoom.criteria:1:10: 'bytes' is a number; compare it with a number, found 'x'"},
    {"bytes == 1.2.3.4;",
     "actions.zoom.criteria:1:10: 'bytes' is a number; compare it with a number, found '1.2.3.4'"},
    {"src_ip < 10.0.0.1;",
     "actions.zoom.criteria:1:8: 'src_ip' is an address; use == (in) or != (not in), not '<'"},
    {"src_ip == 'ten';",
     "actions.zoom.criteria:1:11: 'src_ip' is compared with an address or network, e.g. "
     "src_ip == 192.168.1.0/24, or an address group @name, found 'ten'"},
    {"local_ip == 10.0.0.0/33;",
     "actions.zoom.criteria:1:13: invalid prefix length in '10.0.0.0/33' (IPv4 allows 0-32)"},
    {"detection_guessed > 0;",
     "actions.zoom.criteria:1:19: 'detection_guessed' is true or false; use == or !=, not '>'"},
    {"detection_guessed == 2;",
     "actions.zoom.criteria:1:22: 'detection_guessed' is compared with true or false, found '2'"},
    {"risks == 'Nope';",
     "actions.zoom.criteria:1:10: unknown nDPI risk 'Nope'; use a risk name as nDPI prints it, "
     "e.g. 'Self-signed certificate'"},
    {"risks > 1;",
     "actions.zoom.criteria:1:7: 'risks' holds nDPI risk names; use == (has) or != (has not), not "
     "'>'"},
    {"risks == 64;", "actions.zoom.criteria:1:10: risk number 64 is out of range (0-63)"},
    {"app == 'rx:(zoom';",
     "actions.zoom.criteria:1:8: invalid regular expression 'rx:(zoom': missing ')' at offset 5"},
    {"ai:123",
     "actions.zoom.criteria:1:1: numeric ids in 'ai:123' are Netify's own; ctlabeld "
     "matches nDPI names, e.g. ai:zoom"},
    {"ai:", "actions.zoom.criteria:1:1: expected a name after 'ai:', e.g. ai:zoom"},
    {"packets == 0xZZ;", "actions.zoom.criteria:1:12: invalid number '0xZZ'"},
    {"app == 'zoom' # note", "actions.zoom.criteria:1:15: unexpected character '#'"},
    {"app == 'zoom", "actions.zoom.criteria:1:8: unterminated string: add the closing quote"},
    {"app == 'zoom' & proto",
     "actions.zoom.criteria:1:15: unexpected '&'; logical and is '&&' or 'and'"},
    {"(app == 'zoom' || (proto == 'tls');",
     "actions.zoom.criteria:1:35: expected ')' to close the '(' at 1:1, found ';'"},
};

TEST_CASE("criteria: error messages name the place, the expectation and the finding",
          "[actions][criteria]") {
  for (const auto& row : kErrorRows) {
    CAPTURE(row.criteria);
    auto c = compile_criteria(row.criteria, "actions.zoom.criteria", test::context());
    REQUIRE_FALSE(c.ok());
    REQUIRE(c.errors().size() == 1);
    CHECK(c.errors()[0] == row.error);
  }
}

TEST_CASE("criteria: without a risk table every risk name is an error", "[actions][criteria]") {
  auto c = compile_criteria("risks == 'Self-signed certificate';", "w", CompileContext{});
  CHECK_FALSE(c.ok());
}

TEST_CASE("criteria: deep nesting compiles and evaluates", "[actions][criteria]") {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "(";
  text += "app == 'zoom'";
  for (int i = 0; i < 200; ++i) text += ")";
  auto c = compile_criteria(text + ";", "t", test::context());
  REQUIRE(c.ok());
  CHECK(c->matches(zoom_flow().view, default_local_networks()));
}

}  // namespace
}  // namespace ctlabeld::actions

namespace ctlabeld::actions {
namespace {

// explain(): the same result as matches(), every comparison evaluated with the value seen, and
// the one that decided.
TEST_CASE("criteria: explain traces the deciding comparison", "[actions][criteria][explain]") {
  const LocalNetworks local = default_local_networks();
  struct Row {
    const char* criteria;
    bool matched;
    std::vector<std::string> steps;  // "expression -> result (seen)"
    std::size_t deciding;
  };
  const std::vector<Row> rows = {
      {"app == 'zoom';", true, {"app == 'zoom' -> 1 (app = 'zoom')"}, 0},
      {"app == 'teams' || dst_port == 443;",
       true,
       {"app == 'teams' -> 0 (app = 'zoom')", "dst_port == 443 -> 1 (dst_port = 443)"},
       1},
      {"protocol == 'tls' && dst_port != 443;",
       false,
       {"protocol == 'tls' -> 1 (protocol = 'tls')", "dst_port != 443 -> 0 (dst_port = 443)"},
       1},
      {"app == 'dns' && dst_port == 53;", false, {"app == 'dns' -> 0 (app = 'zoom')"}, 0},
      {"!(packets < 10);", true, {"packets < 10 -> 0 (packets = 12)"}, 0},
      {"local_ip == 192.168.0.0/16;",
       true,
       {"local_ip == 192.168.0.0/16 -> 1 (local_ip = 192.168.1.10)"},
       0},
      {"detected_hostname == 'rx:\\.zoom\\.us$';",
       true,
       {"detected_hostname == 'rx:\\.zoom\\.us$' -> 1 (detected_hostname = 'us04web.zoom.us')"},
       0},
  };
  const TestFlow f = zoom_flow();
  for (const auto& row : rows) {
    CAPTURE(row.criteria);
    auto c = compile_criteria(row.criteria, "t", test::context());
    REQUIRE(c);
    const FlowFacts facts = FlowFacts::make(f.view, local);
    const CriteriaTrace t = c->explain(facts);
    CHECK(t.matched == c->matches(facts));
    CHECK(t.matched == row.matched);
    std::vector<std::string> steps;
    for (const auto& s : t.steps) {
      steps.push_back(s.expression + " -> " + (s.result ? "1" : "0") + " (" + s.seen + ")");
    }
    CHECK(steps == row.steps);
    CHECK(t.deciding == row.deciding);
  }
}

}  // namespace
}  // namespace ctlabeld::actions
