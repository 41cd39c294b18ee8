// SPDX-License-Identifier: GPL-3.0-or-later
// The command line: the names the issues fix, and errors that say what is wrong.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "options.hpp"

using namespace ctlabeld::app;

namespace {
ctlabeld::Expected<Options> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "ctlabeld");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return parse_options(static_cast<int>(args.size()), argv.data());
}
}  // namespace

TEST_CASE("every documented option parses") {
  auto o = parse({"-c",
                  "a.json",
                  "-i",
                  "eth0",
                  "--interface",
                  "nflog:5",
                  "-r",
                  "x.pcap",
                  "--read",
                  "y.pcap",
                  "-n",
                  "--check",
                  "--strict",
                  "--flows",
                  "-",
                  "--protos",
                  "p.txt",
                  "--app-rules",
                  "none",
                  "-l",
                  "debug",
                  "--workers",
                  "3",
                  "--stats-file",
                  "/run/s.json",
                  "--stats-interval",
                  "5",
                  "--max-dpi-packets",
                  "16",
                  "--max-flows",
                  "1000",
                  "--hash-seed",
                  "18446744073709551615"});
  REQUIRE(o.ok());
  CHECK(o->config_file == "a.json");
  CHECK(o->config_given);
  CHECK(o->interfaces == std::vector<std::string>{"eth0", "nflog:5"});
  CHECK(o->read_files == std::vector<std::string>{"x.pcap", "y.pcap"});
  CHECK(o->dry_run);
  CHECK(o->check);
  CHECK(o->strict);
  CHECK(o->flows_file == "-");
  CHECK(o->protos_file == "p.txt");
  CHECK(o->app_rules_file == "none");
  CHECK(o->log_level == "debug");
  CHECK(o->workers == 3u);
  CHECK(o->stats_file == "/run/s.json");
  CHECK(o->stats_interval == 5u);
  CHECK(o->max_dpi_packets == 16u);
  CHECK(o->max_flows == 1000u);
  CHECK(o->hash_seed == 18446744073709551615u);
  CHECK_FALSE(parse({"-n"})->hash_seed.has_value());  // default: random secrets
}

TEST_CASE("long forms, help and version") {
  CHECK(parse({"--help"})->show_help);
  CHECK(parse({"-h"})->show_help);
  CHECK(parse({"--version"})->show_version);
  CHECK(parse({"--dry-run", "--config", "f"})->dry_run);
}

TEST_CASE("mistakes are reported together, each naming the option") {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--workers", "0"}, "--workers: '0' is not a number from 1 to 256"},
      {{"--workers", "x"}, "--workers: 'x' is not a number from 1 to 256"},
      {{"--max-dpi-packets", "300"}, "--max-dpi-packets: '300' is not a number from 1 to 255"},
      {{"--stats-interval", "-1"},
       "--stats-interval: '-1' is not a whole number of seconds above 0"},
      {{"--hash-seed", "-3"},
       "--hash-seed: '-3' is not a whole number from 0 to 18446744073709551615"},
      {{"--bogus"}, "unknown option --bogus (see --help)"},
      {{"-r"}, "option -r needs a value (see --help)"},
      {{"stray.pcap"}, "unexpected argument 'stray.pcap' (to read a file use -r FILE; see --help)"},
  };
  for (const auto& [args, message] : cases) {
    auto o = parse(args);
    REQUIRE_FALSE(o.ok());
    CHECK(o.errors().front() == message);
  }
  auto two = parse({"--workers", "0", "--bogus"});
  REQUIRE_FALSE(two.ok());
  CHECK(two.errors().size() == 2);
}

TEST_CASE("the usage text lists every option") {
  const std::string usage = usage_text();
  for (const char* name : {"--config", "--interface", "--read", "--dry-run", "--check", "--strict",
                           "--flows", "--protos", "--app-rules", "--log-level", "--version",
                           "--help", "--workers", "--stats-file", "--hash-seed"}) {
    CHECK(usage.find(name) != std::string::npos);
  }
}
