// SPDX-License-Identifier: GPL-3.0-or-later
// The log target type: its keys and defaults, the one sink it binds for both IP versions, the
// warning when the writer refuses the sink, and its --check lines. (The exact error messages
// are test/data/config/bad/log_*.json, run by test_config.cpp.)
#include <catch2/catch.hpp>

#include "ctlabeld/actions/config.hpp"
#include "ctlabeld/flowlog/log_spec.hpp"
#include "test_support.hpp"

namespace ctlabeld::actions {
namespace {

using flowlog::LogSpec;

// Records what the loader binds; refuses specs whose path is "/refused".
class RecordingBinder final : public SinkBinder {
 public:
  Expected<SinkRef> bind(std::string_view type, const std::any& spec) override {
    types.emplace_back(type);
    specs.push_back(std::any_cast<LogSpec>(spec));
    if (specs.back().path == "/refused") {
      return Expected<SinkRef>::failure(
          "log directory /refused does not exist; create it (mkdir -p /refused) or set \"path\" "
          "to an existing directory");
    }
    return SinkRef{5, static_cast<std::uint16_t>(specs.size() + 10)};
  }
  std::vector<std::string> types;
  std::vector<LogSpec> specs;
};

constexpr const char* kFile = R"({
  "target_defaults": { "log": { "path": "/var/log/nfa", "prefix": "flows", "interval": 300 } },
  "targets": {
    "log.a": { "target_type": "log" },
    "log.b": { "target_type": "log", "path": "/srv/", "prefix": "b", "suffix": ".js", "interval": 5 },
    "log.off": { "target_type": "log", "target_enabled": false, "prefix": "off" },
    "ctlabel.zoom": { "target_type": "ctlabel", "labels": [ "zoom" ] }
  },
  "actions": {
    "zoom": { "criteria": "app == 'zoom';", "targets": [ "ctlabel.zoom", "log.a", "log.b", "log.off" ] },
    "all": { "criteria": "*", "targets": [ "log.a" ] }
  }
})";

const CtlabelTarget& target(const RuleSet& rules, const std::string& name) {
  for (const auto& t : rules.parts().targets) {
    if (t.name == name) return t;
  }
  FAIL("no target " << name);
  return rules.parts().targets.front();
}

TEST_CASE("log target: defaults, overrides and one sink for both IP versions", "[actions][log]") {
  RecordingBinder binder;
  LoadOptions options;
  options.sinks = &binder;
  auto loaded =
      load_config_text(kFile, "t.json", test::file_factory(), test::risk_lookup(), options);
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  CHECK(loaded->warnings.empty());
  // Only the enabled targets are bound, each through the log writer's row.
  REQUIRE(binder.specs.size() == 2);
  CHECK(binder.types == std::vector<std::string>{"log", "log"});
  const LogSpec a = binder.specs[0];
  CHECK(a.path == "/var/log/nfa");
  CHECK(a.prefix == "flows");
  CHECK(a.suffix == ".json");
  CHECK(a.interval == std::chrono::seconds(300));
  const LogSpec b = binder.specs[1];
  CHECK(b.path == "/srv/");
  CHECK(b.prefix == "b");
  CHECK(b.suffix == ".js");
  CHECK(b.interval == std::chrono::seconds(5));

  const RuleSet& rules = *loaded->rules;
  const CtlabelTarget& ta = target(rules, "log.a");
  REQUIRE(ta.sinks[0].has_value());
  CHECK(*ta.sinks[0] == SinkRef{5, 11});
  CHECK(ta.sinks[1] == ta.sinks[0]);
  CHECK(ta.ttl_s == 0);
  CHECK_FALSE(target(rules, "log.off").sinks[0].has_value());

  // A Zoom flow: both sinks, once each (log.a through the first action that names it).
  test::TestFlow v4("192.168.1.10", 50000, "170.114.10.5", 443, 6);
  v4.verdict.app = "zoom";
  Evaluation e = rules.make_evaluation();
  rules.evaluate(v4.view, e);
  REQUIRE(e.members.size() == 2);
  CHECK(e.members[0].sink == SinkRef{5, 11});
  CHECK(e.members[0].action == 0);
  CHECK(e.members[1].sink == SinkRef{5, 12});
  CHECK(e.member_fields.ip_version == 4);
  CHECK(e.member_fields.other_port == 443);

  // IPv6 flows land in the same sinks; another app matches only "all".
  test::TestFlow v6("fd00::10", 50000, "2001:db8::5", 443, 6);
  v6.verdict.app = "netflix";
  rules.evaluate(v6.view, e);
  REQUIRE(e.members.size() == 1);
  CHECK(e.members[0].sink == SinkRef{5, 11});
  CHECK(e.members[0].action == 1);
  CHECK(e.member_fields.ip_version == 6);
}

TEST_CASE("log target: a sink the writer refuses is a warning; the rest works", "[actions][log]") {
  RecordingBinder binder;
  LoadOptions options;
  options.sinks = &binder;
  const std::string file = R"({
    "targets": {
      "log.bad": { "target_type": "log", "path": "/refused" },
      "ctlabel.zoom": { "target_type": "ctlabel", "labels": [ "zoom" ] }
    },
    "actions": { "zoom": { "criteria": "app == 'zoom';", "targets": [ "ctlabel.zoom", "log.bad" ] } }
  })";
  auto loaded =
      load_config_text(file, "t.json", test::file_factory(), test::risk_lookup(), options);
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  REQUIRE(loaded->warnings.size() == 1);
  CHECK(loaded->warnings[0] ==
        "t.json: targets.log.bad: log directory /refused does not exist; create it (mkdir -p "
        "/refused) or set \"path\" to an existing directory (until then this target logs "
        "nothing)");
  const RuleSet& rules = *loaded->rules;
  CHECK_FALSE(target(rules, "log.bad").sinks[0].has_value());
  test::TestFlow f("192.168.1.10", 50000, "170.114.10.5", 443, 6);
  f.verdict.app = "zoom";
  Evaluation e = rules.make_evaluation();
  rules.evaluate(f.view, e);
  CHECK(e.members.empty());
  CHECK(rules.label_names(e.labels) == std::vector<std::string>{"zoom"});

  // Under --strict the refused sink is an error.
  options.strict = true;
  RecordingBinder strict_binder;
  options.sinks = &strict_binder;
  auto strict =
      load_config_text(file, "t.json", test::file_factory(), test::risk_lookup(), options);
  CHECK_FALSE(strict.ok());
}

TEST_CASE("log target: --check shows the file pattern and how to read it", "[actions][log]") {
  auto loaded = load_config_text(kFile, "t.json", test::file_factory(), test::risk_lookup());
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  const std::string summary = loaded->rules->summary();
  CHECK_THAT(summary, Catch::Contains(
                          "    files: /var/log/nfa/flows-<YYYYmmddTHHMMSSZ>.json every 300 s (UTC "
                          "start of the interval; a file only for an interval with matches)\n"
                          "    read: jq -c '.flows[] | {action, app, hostname, src_ip, dst_ip, "
                          "dst_port}' /var/log/nfa/flows-*.json\n"));
  CHECK_THAT(summary, Catch::Contains("    files: /srv/b-<YYYYmmddTHHMMSSZ>.js every 5 s"));
  CHECK_THAT(summary, Catch::Contains("log.a (log"));
  CHECK_THAT(summary, !Catch::Contains("log.a (log, not implemented"));
}

TEST_CASE("log target: Netify's documented defaults", "[actions][log]") {
  RecordingBinder binder;
  LoadOptions options;
  options.sinks = &binder;
  auto loaded = load_config_text(
      R"({ "targets": { "log": { "target_type": "log" } },
           "actions": { "a": { "criteria": "*", "targets": [ "log" ] } } })",
      "t.json", test::file_factory(), test::risk_lookup(), options);
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  REQUIRE(binder.specs.size() == 1);
  CHECK(binder.specs[0] ==
        LogSpec{"/tmp", "netify-flow-actions", ".json", std::chrono::seconds(60)});
}

}  // namespace
}  // namespace ctlabeld::actions
