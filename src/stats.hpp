// SPDX-License-Identifier: GPL-3.0-or-later
// Statistics: gathered from sources, workers and the writer into one report, printed as the
// --read summary, logged on SIGUSR1/interval, and written as JSON to --stats-file.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/sink_writer.hpp"
#include "ctlabeld/conntrack/label_writer.hpp"
#include "pipeline.hpp"

namespace ctlabeld::app {

struct StatsReport {
  double elapsed_s = 0;
  std::vector<SourceSnapshot> sources;
  std::vector<WorkerSnapshot> workers;
  std::optional<conntrack::WriterStats> writer;
  std::vector<SinkCounters> sinks;  // per sink of the sink targets (nftset, ipset, log)
  std::uint64_t reloads = 0;
  std::uint64_t reload_failures = 0;
  std::uint64_t regex_budget_exceeded = 0;  // regex searches cut short (counted as no match)

  [[nodiscard]] std::uint64_t total_packets() const;
  [[nodiscard]] std::uint64_t total_bytes() const;
  [[nodiscard]] std::map<std::string, std::uint64_t> apps() const;
};

StatsReport gather(const Pipeline& pipeline, const conntrack::LabelWriter* writer, double elapsed_s,
                   std::uint64_t reloads, std::uint64_t reload_failures);
// Multi-line human summary (the --read summary and the SIGUSR1 log).
std::string format_summary(const StatsReport& report);
// One JSON object.
std::string format_json(const StatsReport& report);
// Writes JSON to `path` atomically: a temporary file in the same directory, then rename().
Status write_stats_file(const std::string& path, const StatsReport& report);

}  // namespace ctlabeld::app
