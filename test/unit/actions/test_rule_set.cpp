// SPDX-License-Identifier: GPL-3.0-or-later
// RuleSet evaluation: several actions, targets, auto_label, exemptions, managed bits, and the
// promise that evaluate() allocates nothing.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

#include "ctlabeld/actions/config.hpp"
#include "test_support.hpp"

// Counts heap allocations while enabled, to hold evaluate() to "allocates nothing".
// These replacements pair malloc with free themselves; GCC 12 still sees free() reached from
// an inlined "new" and warns (-Wmismatched-new-delete), a known false positive for replaced
// global operators.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

namespace {
void* counted_alloc(std::size_t size) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

void* operator new(std::size_t size) {
  if (void* p = counted_alloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  if (void* p = counted_alloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted_alloc(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return counted_alloc(size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace ctlabeld::actions {
namespace {

using test::TestFlow;

const std::map<std::string, unsigned> kLabels = {
    {"zoom", 0},   {"teams", 1},     {"web", 2},
    {"ssh", 3},    {"a-zoom", 10},   {"a-microsoft-365", 11},
    {"p-tls", 12}, {"p-http-s", 13}, {"a-toohigh", 120}};

std::shared_ptr<const RuleSet> load(const std::string& json) {
  auto loaded =
      load_config_text(json, "rules.json", test::map_factory(kLabels), test::risk_lookup());
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  return loaded->rules;
}

TestFlow flow(const char* app, const char* proto, const char* src = "192.168.1.10",
              const char* dst = "170.114.10.5", std::uint16_t dport = 443) {
  TestFlow f(src, 50000, dst, dport, 6);
  f.verdict.app = app;
  f.verdict.protocol = proto;
  return f;
}

const char* kRules = R"({
  "version": 1,
  "target_globals": { "ctlabel": { "max_bits": 100 } },
  "target_defaults": { "ctlabel": { "log_errors": true } },
  "targets": {
    "ctlabel.zoom": { "target_type": "ctlabel", "labels": [ "zoom" ] },
    "ctlabel.web": { "target_type": "ctlabel", "labels": [ "web", 5 ], "log_errors": false },
    "ctlabel.off": { "target_type": "ctlabel", "labels": [ "ssh" ], "target_enabled": false },
    "ctlabel.auto": { "target_type": "ctlabel", "auto_label": true, "log_errors": false },
    "ipset.x": { "target_type": "ipset", "set_name": "whatever" }
  },
  "exemptions": [ "192.168.99.0/24", "app == 'dns';" ],
  "actions": {
    "zoom": { "criteria": "app == 'zoom';", "targets": [ "ctlabel.zoom" ] },
    "web": { "criteria": "protocol == 'tls' || protocol == 'http';", "targets": [ "ctlabel.web" ],
             "exemptions": [ "dst_port == 8443;", "203.0.113.7" ] },
    "ssh": { "criteria": "app == 'ssh';", "targets": [ "ctlabel.off" ] },
    "disabled": { "enabled": false, "criteria": "*", "targets": [ "ctlabel.zoom" ] },
    "auto": { "criteria": "*;", "targets": [ "ctlabel.auto", "ipset.x" ] }
  }
})";

LabelBits bits(std::initializer_list<unsigned> list) {
  LabelBits b;
  for (unsigned x : list) b.set(x);
  return b;
}

TEST_CASE("rule set: several actions, targets and auto_label", "[actions][rules]") {
  const auto rules = load(kRules);
  Evaluation e = rules->make_evaluation();
  struct Row {
    const char* app;
    const char* proto;
    const char* src;
    const char* dst;
    std::uint16_t dport;
    std::vector<std::string> actions;
    LabelBits labels;
    bool log_errors;
  };
  const std::vector<Row> rows = {
      {"zoom",
       "tls",
       "192.168.1.10",
       "170.114.10.5",
       443,
       {"zoom", "web", "auto"},
       bits({0, 2, 5, 10, 12}),
       true},
      {"zoom",
       "unknown",
       "192.168.1.10",
       "170.114.10.5",
       8801,
       {"zoom", "auto"},
       bits({0, 10}),
       true},
      {"microsoft 365", "http/s", "192.168.1.10", "20.1.1.1", 443, {"auto"}, bits({11, 13}), false},
      {"google", "tls", "192.168.1.10", "8.8.4.4", 8443, {"auto"}, bits({12}), false},  // exempt
                                                                                        // web
      {"google", "tls", "192.168.1.10", "203.0.113.7", 443, {"auto"}, bits({12}), false},
      {"google", "http", "10.0.0.1", "1.2.3.4", 80, {"web", "auto"}, bits({2, 5}), false},
      {"ssh", "ssh", "10.0.0.1", "10.0.0.2", 22, {"ssh", "auto"}, bits({}), false},  // target off
      {"zoom", "tls", "192.168.99.5", "170.114.10.5", 443, {}, bits({}), false},     // global CIDR
      {"zoom", "tls", "170.114.10.5", "192.168.99.5", 443, {}, bits({}), false},     // either side
      {"dns", "dns", "192.168.1.10", "8.8.8.8", 53, {}, bits({}), false},  // global expression
      {"toohigh", "tls", "192.168.1.10", "1.1.1.1", 443, {"web", "auto"}, bits({2, 5, 12}), false},
  };
  for (const auto& row : rows) {
    CAPTURE(row.app, row.proto, row.src, row.dst, row.dport);
    TestFlow f = flow(row.app, row.proto, row.src, row.dst, row.dport);
    rules->evaluate(f.view, e);
    CHECK(rules->action_names(e) == row.actions);
    CHECK(e.labels == row.labels);
    CHECK(e.log_errors == row.log_errors);
  }
}

TEST_CASE("rule set: managed bits, names and summary", "[actions][rules]") {
  const auto rules = load(kRules);
  // Enabled targets only (ssh's target is disabled); auto_label bits within max_bits 100.
  CHECK(rules->managed_bits() == bits({0, 2, 5, 10, 11, 12, 13}));
  CHECK(rules->label_names(bits({0, 5, 12})) == std::vector<std::string>{"zoom", "bit5", "p-tls"});
  CHECK(rules->action_name(0) == "zoom");
  CHECK(rules->action_name(3) == "disabled");
  CHECK(rules->action_name(99).empty());
  const std::string s = rules->summary();
  CHECK_THAT(s, Catch::Contains("  disabled (disabled)"));
  CHECK_THAT(s, Catch::Contains("criteria: protocol == 'tls' || protocol == 'http';"));
  CHECK_THAT(
      s, Catch::Contains(
             "  ipset.x (ipset)\n    sets: whatever.v4 (IPv4 flows) whatever.v6 (IPv6 flows)\n"));
  CHECK_THAT(s, Catch::Contains("ctlabel.off (ctlabel, disabled)"));
  CHECK_THAT(s, Catch::Contains("labels: web=2 bit5=5"));
  CHECK_THAT(s, Catch::Contains("managed bits: zoom, web, bit5, a-zoom, a-microsoft-365, p-tls, "
                                "p-http-s [0 2 5 10 11 12 13]"));
}

TEST_CASE("rule set: evaluate reuses the evaluation and allocates nothing", "[actions][rules]") {
  const auto rules = load(kRules);
  Evaluation e = rules->make_evaluation();
  std::vector<TestFlow> flows;
  flows.push_back(flow("zoom", "tls"));
  flows.push_back(flow("microsoft 365", "http/s"));
  flows.push_back(flow("dns", "dns"));
  TestFlow v6 = flow("zoom", "tls", "fd00::1", "2001:db8::1");
  flows.push_back(v6);
  for (auto& f : flows) f.fix();
  g_allocations = 0;
  g_counting = true;
  for (int round = 0; round < 100; ++round) {
    for (const auto& f : flows) rules->evaluate(f.view, e);
  }
  g_counting = false;
  CHECK(g_allocations.load() == 0);
  rules->evaluate(flows[0].view, e);
  CHECK(e.matched_actions.size() == 3);
}

TEST_CASE("rule set: regex and risk criteria allocate nothing either", "[actions][rules]") {
  const auto rules = load(R"({
    "targets": { "t": { "target_type": "ctlabel", "labels": [ "zoom" ] } },
    "actions": {
      "a": { "criteria": "detected_hostname == 'rx:^(us[0-9]+web\\.)?zoom\\.us$' && risks != 'Possible Exploit';", "targets": [ "t" ] }
    }
  })");
  Evaluation e = rules->make_evaluation();
  TestFlow f = flow("zoom", "tls");
  f.verdict.hostname = "us04web.zoom.us";
  g_allocations = 0;
  g_counting = true;
  rules->evaluate(f.view, e);
  g_counting = false;
  CHECK(g_allocations.load() == 0);
  CHECK(e.labels == bits({0}));
}

TEST_CASE("rule set: Netify's action \"interface\" filter", "[actions][rules]") {
  const auto rules_for = [](const std::string& settings) {
    return load(R"({
      "targets": { "t": { "target_type": "ctlabel", "labels": [ "zoom" ] } },)" +
                settings + R"(
      "actions": {
        "any": { "interface": "*", "criteria": "app == 'zoom';", "targets": [ "t" ] },
        "eth1": { "interface": "eth1", "criteria": "app == 'zoom';", "targets": [ "t" ] },
        "lan": { "interface": "lan", "criteria": "app == 'zoom';", "targets": [ "t" ] },
        "wan": { "interface": "WAN", "criteria": "app == 'zoom';", "targets": [ "t" ] } } })");
  };
  const auto matched = [](const RuleSet& rules, const char* iface) {
    TestFlow f = flow("zoom", "tls");
    f.set_iface(iface);
    Evaluation e = rules.make_evaluation();
    rules.evaluate(f.view, e);
    return rules.action_names(e);
  };
  using V = std::vector<std::string>;
  SECTION("roles without ctlabeld.lan_interfaces/wan_interfaces: every interface has them") {
    const auto rules = rules_for("");
    CHECK(matched(*rules, "eth0") == V{"any", "lan", "wan"});
    CHECK(matched(*rules, "eth1") == V{"any", "eth1", "lan", "wan"});
    const std::string summary = rules->summary();
    CHECK(summary.find("interface: lan (any interface: ctlabeld.lan_interfaces is not set") !=
          std::string::npos);
  }
  SECTION("roles from the settings") {
    const auto rules = rules_for(R"(
      "ctlabeld": { "lan_interfaces": [ "eth0", "nflog:5" ], "wan_interfaces": [ "ppp0" ] },)");
    CHECK(matched(*rules, "eth0") == V{"any", "lan"});
    CHECK(matched(*rules, "nflog:5") == V{"any", "lan"});
    CHECK(matched(*rules, "ppp0") == V{"any", "wan"});
    CHECK(matched(*rules, "eth1") == V{"any", "eth1"});
    CHECK(rules->summary().find("interface: lan (ctlabeld.lan_interfaces: eth0, nflog:5)") !=
          std::string::npos);
  }
}

TEST_CASE("rule set: the interface filter allocates nothing", "[actions][rules]") {
  const auto rules = load(R"({
    "targets": { "t": { "target_type": "ctlabel", "labels": [ "zoom" ] } },
    "actions": { "a": { "interface": "eth1", "criteria": "*", "targets": [ "t" ] } } })");
  TestFlow f = flow("zoom", "tls");
  f.set_iface("eth1");
  Evaluation e = rules->make_evaluation();
  g_allocations = 0;
  g_counting = true;
  for (int i = 0; i < 1000; ++i) rules->evaluate(f.view, e);
  g_counting = false;
  CHECK(g_allocations == 0);
  CHECK(e.matched_actions.size() == 1);
}

TEST_CASE("auto labels: names normalised without allocation", "[actions][rules]") {
  AutoLabels a;
  a.add("zoom", 1);
  a.add("http-s", 2);
  a.add("microsoft-365", 3);
  a.add("zoom", 7);  // a second definition: the lowest bit wins
  a.finish();
  struct Row {
    const char* name;
    int bit;
  };
  const Row rows[] = {{"zoom", 1},          {"ZOOM", 1}, {"http/s", 2}, {"HTTP/S", 2},
                      {"microsoft 365", 3}, {"zoo", -1}, {"zoomx", -1}, {"", -1}};
  for (const auto& row : rows) {
    CAPTURE(row.name);
    const unsigned* bit = a.find(row.name);
    CHECK((bit == nullptr ? -1 : static_cast<int>(*bit)) == row.bit);
  }
}

TEST_CASE("address sets: CIDR edges", "[actions][address]") {
  struct Row {
    const char* cidr;
    const char* addr;
    bool in;
  };
  const Row rows[] = {
      {"10.0.0.0/8", "10.255.255.255", true},
      {"10.0.0.0/8", "11.0.0.0", false},
      {"10.1.2.3/8", "10.9.9.9", true},
      {"0.0.0.0/0", "1.2.3.4", true},
      {"192.168.1.1", "192.168.1.1", true},
      {"192.168.1.1", "192.168.1.2", false},
      {"192.168.1.0/31", "192.168.1.1", true},
      {"192.168.1.0/31", "192.168.1.2", false},
      {"fe80::/10", "febf::1", true},
      {"fe80::/10", "fec0::1", false},
      {"2001:db8::/64", "2001:db8::ffff", true},
      {"2001:db8::/64", "2001:db8:0:1::1", false},
      {"2001:db8::/65", "2001:db8::7fff:0:0:1", true},
      {"2001:db8::/65", "2001:db8::8000:0:0:1", false},
      {"::/0", "::1", true},
      {"::1", "::1", true},
      {"10.0.0.0/8", "::a00:1", false},  // v4 networks never match v6 addresses
  };
  for (const auto& row : rows) {
    CAPTURE(row.cidr, row.addr);
    Cidr c;
    REQUIRE(parse_cidr(row.cidr, c));
    AddressSet set;
    set.add(c);
    Address a;
    const std::uint8_t v = parse_address(row.addr, a);
    REQUIRE(v != 0);
    CHECK(set.contains(a, v) == row.in);
  }
  Cidr c;
  CHECK_FALSE(parse_cidr("10.0.0.0/", c));
  CHECK_FALSE(parse_cidr("10.0.0.0/8x", c));
  CHECK_FALSE(parse_cidr("nonsense", c));
  CHECK_FALSE(parse_cidr("::1/129", c));
}

}  // namespace
}  // namespace ctlabeld::actions

namespace ctlabeld::actions {
namespace {

// Issue 15 item 3: the target index was 16 bits, so target 65,536 became target 0.
TEST_CASE("rule set: more than 65535 targets keep their own labels", "[actions][rules]") {
  constexpr std::size_t kTargets = 70000;
  std::string json = R"({"version": 1, "targets": {)";
  for (std::size_t i = 0; i < kTargets; ++i) {
    if (i != 0) json += ',';
    // Only the last target sets "web": every other target sets "zoom".
    json += "\"t" + std::to_string(i) + "\": {\"target_type\": \"ctlabel\", \"labels\": [\"" +
            (i + 1 == kTargets ? "web" : "zoom") + "\"]}";
  }
  json += R"(}, "actions": {"last": {"criteria": "*;", "targets": ["t69999"]}}})";
  const auto rules = load(json);
  Evaluation e = rules->make_evaluation();
  TestFlow f = flow("zoom", "tls");
  rules->evaluate(f.view, e);
  CHECK(e.labels == bits({2}));
  CHECK(rules->parts().actions.front().targets == std::vector<std::uint32_t>{69999});
}

}  // namespace
}  // namespace ctlabeld::actions
