// SPDX-License-Identifier: GPL-3.0-or-later
// The ctmark target module: mark/mask/shift (and target_defaults.ctmark) resolve to the bits
// written, a matching action's targets OR into the evaluation's mark under their masks, two
// targets writing different values to the same bits of one flow are refused at load, and
// --check prints the mark in hex with a consumer rule.
#include <catch2/catch.hpp>

#include "ctlabeld/actions/config.hpp"
#include "test_support.hpp"

using namespace ctlabeld;
using namespace ctlabeld::actions;
using test::TestFlow;

namespace {

Expected<LoadedConfig> load(const std::string& json, const LoadOptions& options = {}) {
  return load_config_text(json, "m.json", test::file_factory(), test::risk_lookup(), options);
}

// A file with the given targets and actions (JSON object bodies) and optional defaults.
std::string file(const std::string& targets, const std::string& actions,
                 const std::string& defaults = "") {
  return R"({ "target_globals": { "ctlabel": { "connlabel_conf": "test/data/config/connlabel.conf" } },)" +
         (defaults.empty() ? std::string()
                           : R"( "target_defaults": { "ctmark": )" + defaults + " },") +
         R"( "targets": { )" + targets + R"( }, "actions": { )" + actions + " } }";
}

TestFlow zoom_flow() {
  TestFlow f("192.168.1.10", 50000, "170.114.10.5", 443, 6);
  f.verdict.app = "zoom";
  f.verdict.protocol = "tls";
  return f;
}

const CtlabelTarget& target(const LoadedConfig& c, const std::string& name) {
  for (const auto& t : c.rules->parts().targets) {
    if (t.name == name) return t;
  }
  FAIL("no target " << name);
  std::abort();
}

}  // namespace

TEST_CASE("ctmark: mark, mask and shift resolve to the written bits", "[actions][ctmark]") {
  struct Row {
    const char* keys;
    const char* defaults;
    std::uint32_t mark;
    std::uint32_t mask;
  };
  const Row rows[] = {
      {R"("mark": "0x10", "mask": "0xf0")", "", 0x10, 0xf0},
      {R"("mark": 16, "mask": 240)", "", 0x10, 0xf0},
      {R"("mark": "16", "mask": "240")", "", 0x10, 0xf0},
      {R"("mark": "0X1", "mask": "0XFF00", "shift": 8)", "", 0x100, 0xff00},
      {R"("mark": "0x1")", "", 0x1, 0xffffffff},  // no mask: the whole mark
      {R"("mark": "0xffffffff")", "", 0xffffffff, 0xffffffff},
      {R"("mark": "0")", "", 0, 0xffffffff},  // clears the whole mark
      {R"("mark": "3", "shift": 30)", "", 0xc0000000, 0xffffffff},
      // target_defaults.ctmark: each key a default, the target's own keys win.
      {R"("mark": "2")", R"({ "mask": "0xff00", "shift": 8 })", 0x200, 0xff00},
      {R"("shift": 4)", R"({ "mark": "0x3", "mask": "0xf0", "shift": 8 })", 0x30, 0xf0},
      {R"("mask": "0xff")", R"({ "mark": "0x7" })", 0x7, 0xff},
  };
  for (const auto& row : rows) {
    CAPTURE(row.keys, row.defaults);
    auto loaded =
        load(file(R"("m": { "target_type": "ctmark", )" + std::string(row.keys) + " }",
                  R"("a": { "criteria": "app == 'zoom';", "targets": ["m"] })", row.defaults));
    INFO(loaded.error_text());
    REQUIRE(loaded.ok());
    CHECK(loaded->warnings.empty());
    const CtlabelTarget& t = target(*loaded, "m");
    CHECK(t.supported);
    CHECK(t.mark == row.mark);
    CHECK(t.mark_mask == row.mask);
    CHECK(loaded->rules->managed_mark() == row.mask);
  }
}

TEST_CASE("ctmark: matching targets OR their bits into the flow's mark", "[actions][ctmark]") {
  auto loaded = load(file(
      R"("qos": { "target_type": "ctmark", "mark": "0x1", "mask": "0xff00", "shift": 8 },
         "wan": { "target_type": "ctmark", "mark": "0x2", "mask": "0x000f" },
         "off": { "target_type": "ctmark", "mark": "0x4", "mask": "0x00f0", "target_enabled": false },
         "zoom": { "target_type": "ctlabel", "labels": ["zoom"] })",
      R"("video": { "criteria": "app == 'zoom';", "targets": ["qos", "zoom", "off"] },
         "uplink": { "criteria": "dst_port == 443;", "targets": ["wan"] })"));
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  const RuleSet& rules = *loaded->rules;
  CHECK(rules.managed_mark() == 0xff0f);  // the disabled target owns no bit
  Evaluation e = rules.make_evaluation();
  TestFlow zoom = zoom_flow();
  rules.evaluate(zoom.view, e);
  CHECK(e.matched_actions.size() == 2);
  CHECK(e.mark == 0x0102);
  CHECK(e.mark_mask == 0xff0f);
  CHECK(e.labels.test(0));
  CHECK(e.members.empty());  // ctmark goes through the conntrack writer, not a sink
  TestFlow dns("192.168.1.10", 50001, "1.1.1.1", 53, 17);
  dns.verdict.app = "dns";
  rules.evaluate(dns.view, e);
  CHECK(e.matched_actions.empty());
  CHECK(e.mark == 0);
  CHECK(e.mark_mask == 0);
  TestFlow web("192.168.1.10", 50002, "93.184.216.34", 443, 6);
  web.verdict.app = "http";
  rules.evaluate(web.view, e);
  CHECK(e.mark == 0x0002);
  CHECK(e.mark_mask == 0x000f);
}

TEST_CASE("ctmark: overlapping masks that can meet on one flow are refused", "[actions][ctmark]") {
  const std::string two = R"("a": { "target_type": "ctmark", "mark": "0x100", "mask": "0xff00" },
                             "b": { "target_type": "ctmark", "mark": "0x200", "mask": "0x0f00" })";
  struct Row {
    std::string targets;
    std::string actions;
    const char* error;  // null: loads
  };
  const Row rows[] = {
      {two,
       R"("x": { "criteria": "app == 'zoom';", "targets": ["a"] },
          "y": { "criteria": "dst_port == 443;", "targets": ["zoom", "b"] })",
       "m.json: actions.y.targets[1]: ctmark target 'b' (mark 0x00000200, mask 0x00000f00) and "
       "target 'a' (mark 0x00000100, mask 0x0000ff00, named at actions.x.targets[0]) write "
       "different values to mark bits 0x00000f00 and can both apply to one flow; give the two "
       "targets disjoint masks, or set \"halt_on_match\": true on actions.x so that a flow it "
       "matches gets only its mark"},
      {two, R"("x": { "criteria": "*", "targets": ["a", "b"] })",
       "m.json: actions.x.targets[1]: ctmark target 'b' (mark 0x00000200, mask 0x00000f00) and "
       "target 'a' (mark 0x00000100, mask 0x0000ff00, named at actions.x.targets[0]) write "
       "different values to mark bits 0x00000f00 and can both apply to one flow; give the two "
       "targets disjoint masks, or name only one of them in this action"},
      // The earlier action halts: a flow gets one of the two marks.
      {two,
       R"("x": { "criteria": "app == 'zoom';", "targets": ["a"], "halt_on_match": true },
          "y": { "criteria": "*", "targets": ["b"] })",
       nullptr},
      // Only the later one halts: both still apply when x and y match.
      {two,
       R"("x": { "criteria": "app == 'zoom';", "targets": ["a"] },
          "y": { "criteria": "*", "targets": ["b"], "halt_on_match": true })",
       "m.json: actions.y.targets[0]: ctmark target 'b' (mark 0x00000200, mask 0x00000f00) and "
       "target 'a' (mark 0x00000100, mask 0x0000ff00, named at actions.x.targets[0]) write "
       "different values to mark bits 0x00000f00 and can both apply to one flow; give the two "
       "targets disjoint masks, or set \"halt_on_match\": true on actions.x so that a flow it "
       "matches gets only its mark"},
      // A disabled action or target cannot apply.
      {two,
       R"("x": { "criteria": "*", "targets": ["a"] },
          "y": { "criteria": "*", "targets": ["b"], "enabled": false })",
       nullptr},
      // Disjoint masks; the same bits with the same value; the same target twice.
      {R"("a": { "target_type": "ctmark", "mark": "0x1", "mask": "0x0f" },
          "b": { "target_type": "ctmark", "mark": "0x10", "mask": "0xf0" })",
       R"("x": { "criteria": "*", "targets": ["a", "b"] })", nullptr},
      {R"("a": { "target_type": "ctmark", "mark": "0x11", "mask": "0xff" },
          "b": { "target_type": "ctmark", "mark": "0x1", "mask": "0x0f" })",
       R"("x": { "criteria": "*", "targets": ["a"] }, "y": { "criteria": "*", "targets": ["b"] })",
       nullptr},
      {two,
       R"("x": { "criteria": "*", "targets": ["a"] }, "y": { "criteria": "*", "targets": ["a"] })",
       nullptr},
  };
  for (const auto& row : rows) {
    CAPTURE(row.actions);
    auto loaded =
        load(file(row.targets + R"(, "zoom": { "target_type": "ctlabel", "labels": ["zoom"] })",
                  row.actions));
    if (row.error == nullptr) {
      INFO(loaded.error_text());
      CHECK(loaded.ok());
      continue;
    }
    REQUIRE_FALSE(loaded.ok());
    REQUIRE(loaded.errors().size() == 1);  // each pair once
    CHECK(loaded.errors()[0] == row.error);
  }
}

TEST_CASE("ctmark: bad settings are refused with the fix", "[actions][ctmark]") {
  struct Row {
    const char* keys;
    const char* defaults;
    const char* message;  // error, or warning when `warning`
    bool warning;
  };
  const Row rows[] = {
      {R"("mask": "0xff")", "",
       "m.json: targets.m: this ctmark target sets no mark; add e.g. \"mark\": \"0x10\" (and "
       "\"mask\": \"0xff\" for the bits it owns)",
       false},
      {R"("mark": "1", "mask": "0")", "",
       "m.json: targets.m.mask: mask 0 writes no bit of the mark; give the bits this target "
       "owns, e.g. \"0xff\"",
       false},
      {R"("mark": "0x100000000")", "",
       "m.json: targets.m.mark: expected a 32-bit value as a decimal or 0x hex string, e.g. "
       "\"0x10\", found '0x100000000'",
       false},
      {R"("mark": "-1")", "",
       "m.json: targets.m.mark: expected a 32-bit value as a decimal or 0x hex string, e.g. "
       "\"0x10\", found '-1'",
       false},
      {R"("mark": "0x")", "",
       "m.json: targets.m.mark: expected a 32-bit value as a decimal or 0x hex string, e.g. "
       "\"0x10\", found '0x'",
       false},
      {R"("mark": 1.5)", "",
       "m.json: targets.m.mark: expected a 32-bit value as a decimal or 0x hex string, e.g. "
       "\"0x10\", found a number",
       false},
      {R"("mark": "1", "mask": true)", "",
       "m.json: targets.m.mask: expected a 32-bit value as a decimal or 0x hex string, e.g. "
       "\"0xff\", found a boolean",
       false},
      {R"("mark": "1")", R"({ "mask": "0xff", "shfit": 1 })",
       "m.json: target_defaults.ctmark.shfit: unknown key 'shfit'; did you mean 'shift'? "
       "(allowed: target_enabled, mark, mask, shift)",
       false},
      {R"("mark": "0x1ff", "mask": "0xff00", "shift": 8)", "",
       "m.json: targets.m: mark 0x000001ff shifted left by 8 has bits outside mask 0x0000ff00: "
       "only 0x0000ff00 is written; widen \"mask\" or correct \"mark\"/\"shift\"",
       true},
      {R"("mark": "0x3", "shift": 31)", "",
       "m.json: targets.m: mark 0x00000003 shifted left by 31 has bits outside mask 0xffffffff: "
       "only 0x80000000 is written; widen \"mask\" or correct \"mark\"/\"shift\"",
       true},
  };
  for (const auto& row : rows) {
    CAPTURE(row.keys, row.defaults);
    auto loaded = load(file(R"("m": { "target_type": "ctmark", )" + std::string(row.keys) + " }",
                            R"("a": { "criteria": "*", "targets": ["m"] })", row.defaults));
    if (row.warning) {
      INFO(loaded.error_text());
      REQUIRE(loaded.ok());
      REQUIRE(loaded->warnings.size() == 1);
      CHECK(loaded->warnings[0] == row.message);
      LoadOptions strict;
      strict.strict = true;
      CHECK_FALSE(load(file(R"("m": { "target_type": "ctmark", )" + std::string(row.keys) + " }",
                            R"("a": { "criteria": "*", "targets": ["m"] })", row.defaults),
                       strict)
                      .ok());
      continue;
    }
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.errors()[0] == row.message);
  }
}

TEST_CASE("ctmark: --check prints the mark in hex and a consumer rule", "[actions][ctmark]") {
  auto loaded = load(
      file(R"("qos": { "target_type": "ctmark", "mark": "0x1", "mask": "0xff00", "shift": 8 })",
           R"("a": { "criteria": "app == 'zoom';", "targets": ["qos"] })"));
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  const std::string summary = loaded->rules->summary();
  INFO(summary);
  CHECK(summary.find("  qos (ctmark)\n"
                     "    mark: 0x00000100 mask 0x0000ff00 (0x00000001 << 8)\n"
                     "    ct mark = (ct mark & ~0x0000ff00) | 0x00000100; the bits go back to 0 "
                     "when no action sets them\n"
                     "    consume, e.g.: nft add rule inet ctlabeld dscp ct mark and 0x0000ff00 "
                     "== 0x00000100 ip dscp set cs5\n"
                     "    or route by it: meta mark set ct mark and 0x0000ff00 (in a prerouting "
                     "chain), ip rule add fwmark 0x00000100/0x0000ff00 table N\n") !=
        std::string::npos);
}
