// SPDX-License-Identifier: GPL-3.0-or-later
// The actions file: the shipped seed, the good corpus, and every bad file with its exact
// message (test/data/config/bad/<name>.expected).
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ctlabeld/actions/config.hpp"
#include "test_support.hpp"

namespace ctlabeld::actions {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> corpus(const char* dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Issue 3's seed example, byte for byte: the shipped default must be exactly this.
constexpr const char* kSeed = R"({
  "version": 1,
  "target_globals": { "ctlabel": { "max_bits": 127, "connlabel_conf": "/etc/xtables/connlabel.conf" } },
  "target_defaults": { "ctlabel": { "log_errors": false } },
  "targets": { "ctlabel.zoom": { "target_type": "ctlabel", "labels": [ "zoom" ] } },
  "actions": { "zoom": { "criteria": "app == 'zoom';", "targets": [ "ctlabel.zoom" ] } }
}
)";

TEST_CASE("config: the shipped default is the seed and loads unchanged", "[actions][config]") {
  CHECK(read_file("etc/ctlabeld/actions.json") == kSeed);
  auto loaded =
      load_config_file("etc/ctlabeld/actions.json", test::file_factory(), test::risk_lookup());
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  CHECK(loaded->connlabel_conf == "/etc/xtables/connlabel.conf");
  CHECK(loaded->max_bits == 127);
  const auto& rules = *loaded->rules;
  CHECK(rules.action_count() == 1);
  LabelBits zoom;
  zoom.set(0);
  CHECK(rules.managed_bits() == zoom);

  test::TestFlow f("192.168.1.10", 50000, "170.114.10.5", 8801, 17);
  f.verdict.app = "zoom";
  f.verdict.protocol = "unknown";
  Evaluation e = rules.make_evaluation();
  rules.evaluate(f.view, e);
  CHECK(rules.label_names(e.labels) == std::vector<std::string>{"zoom"});
  CHECK(rules.action_names(e) == std::vector<std::string>{"zoom"});
  f.verdict.app = "zoominfo";
  rules.evaluate(f.view, e);
  CHECK(e.labels.none());
  CHECK(e.matched_actions.empty());

  const std::string summary = rules.summary();
  CHECK_THAT(summary,
             Catch::Contains("  zoom\n    criteria: app == 'zoom';\n    targets: ctlabel.zoom"));
  CHECK_THAT(summary, Catch::Contains("labels: zoom=0"));
  CHECK_THAT(summary,
             Catch::Contains("connlabel.conf: /etc/xtables/connlabel.conf (max_bits 127)"));
}

TEST_CASE("config: every good file loads", "[actions][config]") {
  const auto files = corpus("test/data/config/good");
  REQUIRE(files.size() >= 4);
  for (const auto& path : files) {
    CAPTURE(path.string());
    auto loaded = load_config_file(path.string(), test::file_factory(), test::risk_lookup());
    INFO(loaded.error_text());
    CHECK(loaded.ok());
  }
}

TEST_CASE("config: every bad file fails with its exact message", "[actions][config]") {
  const auto files = corpus("test/data/config/bad");
  REQUIRE(files.size() >= 30);
  for (const auto& path : files) {
    CAPTURE(path.string());
    fs::path expected_path = path;
    expected_path.replace_extension(".expected");
    REQUIRE(fs::exists(expected_path));
    auto loaded = load_config_file(path.string(), test::file_factory(), test::risk_lookup());
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error_text() == read_file(expected_path));
  }
}

TEST_CASE("config: the full example's settings and rules", "[actions][config]") {
  auto loaded = load_config_file("test/data/config/good/full.json", test::file_factory(),
                                 test::risk_lookup());
  REQUIRE(loaded.ok());
  const DaemonSettings& s = loaded->settings;
  CHECK(s.interfaces == std::vector<std::string>{"eth0", "nflog:5"});
  CHECK(s.workers == 2);
  CHECK(s.local_networks.size() == 3);
  CHECK(s.protos_file == "/etc/ctlabeld/protos.txt");
  // Set to "": the application rules are off (unset would mean the installed default).
  REQUIRE(s.app_rules_file.has_value());
  CHECK(s.app_rules_file->empty());
  CHECK(s.max_flows == 100000);
  CHECK(s.max_dpi_packets == 24);
  CHECK(s.tcp_idle == std::chrono::seconds(600));
  CHECK(s.udp_idle == std::chrono::seconds(120));
  CHECK(s.other_idle == std::chrono::seconds(45));
  CHECK(s.stats_interval == std::chrono::seconds(30));
  CHECK(s.stats_file == "/run/ctlabeld/stats.json");
  CHECK(s.log_level == "debug");
  CHECK(s.bpf_filter == "ip or ip6");
  CHECK(s.promiscuous);
  CHECK(s.snaplen == 1600);
  CHECK(s.buffer_bytes == 4194304);

  const RuleSet& rules = *loaded->rules;
  CHECK(rules.local_networks().size() == 3);
  Evaluation e = rules.make_evaluation();
  struct Row {
    const char* app;
    const char* host;
    const char* src;
    const char* dst;
    std::uint16_t dport;
    std::uint64_t bytes;
    std::vector<std::string> actions;
    std::vector<std::string> labels;
  };
  const std::vector<Row> rows = {
      {"zoom",
       "",
       "10.1.1.1",
       "170.114.1.1",
       8801,
       0,
       {"zoom", "everything"},
       {"zoom", "a-zoom", "bit20"}},
      {"unknown",
       "eu01web.ZOOM.us",
       "10.1.1.1",
       "170.114.1.1",
       443,
       0,
       {"zoom", "everything"},
       {"zoom", "bit20"}},
      {"unknown", "notzoom.us", "10.1.1.1", "170.114.1.1", 443, 0, {"everything"}, {}},
      {"zoom", "", "10.1.1.1", "203.0.113.9", 443, 0, {"everything"}, {"a-zoom"}},  // action
                                                                                    // exemption
      {"zoom", "", "192.168.100.4", "170.114.1.1", 443, 0, {}, {}},  // global exemption
      {"youtube",
       "",
       "10.1.1.1",
       "142.250.1.1",
       443,
       0,
       {"streaming", "everything"},
       {"youtube", "streaming"}},
  };
  for (const auto& row : rows) {
    CAPTURE(row.app, row.host, row.dst, row.dport);
    test::TestFlow f(row.src, 40000, row.dst, row.dport, 6);
    f.verdict.app = row.app;
    f.verdict.hostname = row.host;
    f.view.bytes = row.bytes;
    rules.evaluate(f.view, e);
    CHECK(rules.action_names(e) == row.actions);
    CHECK(rules.label_names(e.labels) == row.labels);
  }
}

TEST_CASE("config: all errors are reported at once", "[actions][config]") {
  auto loaded = load_config_file("test/data/config/bad/many_errors.json", test::file_factory(),
                                 test::risk_lookup());
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.errors().size() == 7);
}

TEST_CASE("config: a missing file names the path", "[actions][config]") {
  auto loaded = load_config_file("test/data/config/does-not-exist.json", test::file_factory(),
                                 test::risk_lookup());
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error_text() ==
        "test/data/config/does-not-exist.json: cannot open the actions file: No such file or "
        "directory\n");
}

TEST_CASE("config: JSON offsets become line:col", "[actions][config]") {
  struct Row {
    const char* text;
    std::size_t offset, line, col;
  };
  const Row rows[] = {{"abc", 0, 1, 1},   {"abc", 2, 1, 3},      {"a\nbc", 2, 2, 1},
                      {"a\nbc", 3, 2, 2}, {"a\n\n\nb", 5, 4, 2}, {"ab", 99, 1, 3}};
  for (const auto& row : rows) {
    std::size_t line = 0, col = 0;
    offset_to_line_col(row.text, row.offset, line, col);
    CHECK(line == row.line);
    CHECK(col == row.col);
  }
}

TEST_CASE("config: default local networks", "[actions][config]") {
  auto loaded = load_config_text(kSeed, "seed", test::file_factory(), test::risk_lookup());
  REQUIRE(loaded.ok());
  CHECK(loaded->settings.local_networks == default_local_network_texts());
  CHECK(loaded->rules->local_networks().size() == default_local_network_texts().size());
}

// Issue 15 item 1: about 120,000 levels crashed RapidJSON's recursive parser (--check and
// SIGHUP alike). Now refused before parsing, with where the limit was crossed.
TEST_CASE("config: nesting 120,000 levels deep is refused, not a crash", "[actions][config]") {
  for (const char open : {'[', '{'}) {
    std::string text = "{\"actions\": ";
    for (int i = 0; i < 120000; ++i) text += open == '[' ? "[" : "{\"a\":";
    auto loaded = load_config_text(text, "deep.json", test::file_factory(), test::risk_lookup());
    REQUIRE_FALSE(loaded.ok());
    REQUIRE(loaded.errors().size() == 1);
    CHECK(loaded.errors().front().rfind("deep.json:1:", 0) == 0);
    CHECK(loaded.errors().front().find("JSON nested more than 64 levels deep") !=
          std::string::npos);
  }
  // Brackets inside strings do not count; 64 levels are still fine for the parser.
  std::string ok = "{\"version\": \"" + std::string(100, '[') + "\\\"\", \"actions\": {}}";
  CHECK(load_config_text(ok, "ok.json", test::file_factory(), test::risk_lookup()).ok());
}

TEST_CASE("config: warnings for comparisons that never match and costly regexes",
          "[actions][config]") {
  const std::string text = R"({
  "targets": { "t": { "target_type": "ctlabel", "labels": [ 1 ] } },
  "actions": {
    "port": { "criteria": "src_port == 70000;", "targets": [ "t" ] },
    "ver": { "criteria": "ip_version == 5 || ip_version != 7;", "targets": [ "t" ] },
    "fine": { "criteria": "ip_version < 5 && dst_port == 443 && vlan_id <= 4095;", "targets": [ "t" ] },
    "rx": { "criteria": "detected_hostname == 'rx:(a?){250}a{250}z';", "targets": [ "t" ] }
  }
})";
  auto loaded = load_config_text(text, "w.json", test::file_factory(), test::risk_lookup());
  REQUIRE(loaded.ok());
  const auto& w = loaded->warnings;
  REQUIRE(w.size() == 4);
  CHECK(w[0] ==
        "w.json: actions.port.criteria:1:13: 'src_port' is 0 to 65535, never 70000: this "
        "comparison never matches; check the number");
  CHECK(w[1] ==
        "w.json: actions.ver.criteria:1:15: 'ip_version' is 4 or 6, never 5: this comparison "
        "never matches; check the number");
  CHECK(w[2] ==
        "w.json: actions.ver.criteria:1:34: 'ip_version' is 4 or 6, never 7: this comparison "
        "always matches; check the number");
  CHECK(w[3].rfind("w.json: actions.rx.criteria:1:22: regex 'rx:(a?){250}a{250}z' costs up to "
                   "60912 steps per flow (752 instructions x 81 text positions)",
                   0) == 0);
}

}  // namespace
}  // namespace ctlabeld::actions
