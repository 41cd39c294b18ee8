// SPDX-License-Identifier: GPL-3.0-or-later
// The command line: exactly the names the issues fix, parsed into one struct.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ctlabeld/common/expected.hpp"

namespace ctlabeld::app {

struct Options {
  std::string config_file;  // -c; empty: the default path if it exists
  bool config_given = false;
  std::vector<std::string> interfaces;        // -i, repeatable
  std::vector<std::string> read_files;        // -r, repeatable
  bool dry_run = false;                       // -n: classify and evaluate, write no labels
  bool check = false;                         // --check: validate the config and exit
  bool strict = false;                        // --strict: config warnings are errors
  std::string flows_file;                     // --flows FILE|-
  std::optional<std::string> protos_file;     // --protos FILE ("none": no file)
  std::optional<std::string> app_rules_file;  // --app-rules FILE ("none": no file)
  std::string log_level;                      // -l
  std::optional<unsigned> workers;            // --workers N
  std::string stats_file;                     // --stats-file PATH
  std::string metrics_file;                   // --metrics-file PATH
  std::optional<std::string> socket;          // --socket PATH ("none": no control socket)
  std::optional<unsigned> stats_interval;     // --stats-interval SECONDS
  std::optional<unsigned> max_dpi_packets;    // --max-dpi-packets N
  std::optional<std::size_t> max_flows;       // --max-flows N
  std::optional<std::uint64_t> hash_seed;     // --hash-seed N: fixed hash secrets (tests only)
  bool show_version = false;
  bool show_help = false;
};

Expected<Options> parse_options(int argc, char** argv);
const char* usage_text();

}  // namespace ctlabeld::app
