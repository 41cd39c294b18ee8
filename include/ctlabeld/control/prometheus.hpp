// SPDX-License-Identifier: GPL-3.0-or-later
// Statistics in the Prometheus text exposition format (version 0.0.4), for node_exporter's
// textfile collector: a pure formatter over metric families, and an atomic file writer.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ctlabeld/common/expected.hpp"

namespace ctlabeld::control {

enum class MetricType { kCounter, kGauge };

struct MetricSample {
  std::vector<std::pair<std::string, std::string>> labels;  // name, value
  double value = 0;
};

// One family. The exposed name is "ctlabeld_" + name, then "_" + unit unless the name already
// ends with it, then "_total" for counters: {"packets", counter, ""} -> ctlabeld_packets_total,
// {"label_latency", gauge, "seconds"} -> ctlabeld_label_latency_seconds. Use base units
// (seconds, bytes), as Prometheus' conventions ask.
struct MetricFamily {
  std::string name;
  std::string help;
  MetricType type = MetricType::kCounter;
  std::string unit;
  std::vector<MetricSample> samples;
};

[[nodiscard]] std::string exposed_name(const MetricFamily& family);

// The exposition text, or every problem found (bad or duplicate names, duplicate label sets).
[[nodiscard]] Expected<std::string> format_prometheus(const std::vector<MetricFamily>& families);

// Writes the text to `path` atomically (PATH.tmp in the same directory, then rename), mode 0644
// so node_exporter can read it. `what` names the setting in errors, e.g. "--metrics-file".
[[nodiscard]] Status write_text_file_atomically(const std::string& path, const std::string& text,
                                                const std::string& what);

}  // namespace ctlabeld::control
