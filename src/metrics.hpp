// SPDX-License-Identifier: GPL-3.0-or-later
// --metrics-file: the statistics report as Prometheus metric families, built by iterating the
// same declarations as the stats JSON (worker counters, action figures, writer counters).
#pragma once

#include <string>
#include <vector>

#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/control/prometheus.hpp"
#include "stats.hpp"

namespace ctlabeld::app {

[[nodiscard]] std::vector<control::MetricFamily> metric_families(const StatsReport& report);
// Formats and writes the file atomically.
[[nodiscard]] Status write_metrics_file(const std::string& path, const StatsReport& report);

}  // namespace ctlabeld::app
