// SPDX-License-Identifier: GPL-3.0-or-later
// The metrics file's families, from the counter declarations.
#include "metrics.hpp"

#include <cstring>

namespace ctlabeld::app {

namespace {

using control::MetricFamily;
using control::MetricSample;
using control::MetricType;

// "flows.created" -> "flows_created"; units other than Prometheus' base units stay out of the
// name (a count of flows is just a count).
std::string metric_name(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (c == '.') c = '_';
  }
  return out;
}
std::string base_unit(std::string_view unit) {
  return unit == "bytes" || unit == "seconds" ? std::string(unit) : std::string();
}

}  // namespace

std::vector<MetricFamily> metric_families(const StatsReport& r) {
  std::vector<MetricFamily> out;
  // Worker counters (counters.hpp), one sample per worker.
  for (std::size_t i = 0; i < kWorkerCounterCount; ++i) {
    const CounterInfo& info = kWorkerCounterInfo[i];
    MetricFamily f;
    f.name = metric_name(info.name);
    f.help = std::string(info.meaning) + " (" + std::string(info.unit) + ")";
    f.type = is_gauge(static_cast<WorkerCounter>(i)) ? MetricType::kGauge : MetricType::kCounter;
    f.unit = base_unit(info.unit);
    for (std::size_t w = 0; w < r.workers.size(); ++w) {
      f.samples.push_back(MetricSample{{{"worker", std::to_string(w)}},
                                       static_cast<double>(r.workers[w].counters[i])});
    }
    out.push_back(std::move(f));
  }
  // Per-action figures (counters.hpp), one sample per action.
  const auto figures = action_figures(r);
  for (std::size_t i = 0; i < kActionFigureCount; ++i) {
    const FigureInfo& info = kActionFigureInfo[i];
    MetricFamily f;
    f.name = "action_" + metric_name(info.name);
    f.help = std::string(info.meaning) + " (" + std::string(info.unit) + ")";
    f.type = info.gauge ? MetricType::kGauge : MetricType::kCounter;
    f.unit = base_unit(info.unit);
    for (const auto& [name, v] : figures) {
      f.samples.push_back(MetricSample{{{"action", name}}, static_cast<double>(v[i])});
    }
    out.push_back(std::move(f));
  }
  // Capture sources.
  MetricFamily packets{"source_packets", "frames captured", MetricType::kCounter, "", {}};
  MetricFamily bytes{"source", "bytes captured", MetricType::kCounter, "bytes", {}};
  MetricFamily dropped{"source_dropped_packets",
                       "frames lost, by where: queue_full (a worker's ring), kernel, interface",
                       MetricType::kCounter,
                       "",
                       {}};
  MetricFamily up{"source_up", "1 while the source is capturing", MetricType::kGauge, "", {}};
  for (const auto& s : r.sources) {
    packets.samples.push_back({{{"source", s.name}}, static_cast<double>(s.frames)});
    bytes.samples.push_back({{{"source", s.name}}, static_cast<double>(s.bytes)});
    dropped.samples.push_back(
        {{{"source", s.name}, {"reason", "queue_full"}}, static_cast<double>(s.queue_full)});
    dropped.samples.push_back(
        {{{"source", s.name}, {"reason", "kernel"}}, static_cast<double>(s.kernel_drops)});
    dropped.samples.push_back(
        {{{"source", s.name}, {"reason", "interface"}}, static_cast<double>(s.if_drops)});
    up.samples.push_back({{{"source", s.name}}, s.up ? 1.0 : 0.0});
  }
  out.push_back(std::move(packets));
  out.push_back(std::move(bytes));
  out.push_back(std::move(dropped));
  out.push_back(std::move(up));
  // The conntrack label writer (CTLABELD_WRITER_COUNTERS).
  if (r.writer) {
    r.writer->for_each_counter_info(
        [&](std::string_view name, std::string_view meaning, std::uint64_t v) {
          MetricFamily f;
          const bool micro = name.size() > 3 && name.substr(name.size() - 3) == "_us";
          f.name = "conntrack_" + std::string(micro ? name.substr(0, name.size() - 3) : name);
          f.help = std::string(meaning);
          // A maximum is a level; microseconds become the base unit.
          f.type = micro ? MetricType::kGauge : MetricType::kCounter;
          f.unit = micro ? "seconds" : "";
          f.samples.push_back({{}, micro ? static_cast<double>(v) / 1e6 : static_cast<double>(v)});
          out.push_back(std::move(f));
        });
    MetricFamily errs{
        "conntrack_errors", "failed label writes by errno", MetricType::kCounter, "", {}};
    for (const auto& [err, n] : r.writer->errors_by_errno) {
      errs.samples.push_back({{{"errno", std::to_string(err)}, {"error", std::strerror(err)}},
                              static_cast<double>(n)});
    }
    out.push_back(std::move(errs));
  }
  // The sink writers (nftset, ipset, log), one sample per sink.
  if (!r.sinks.empty()) {
    MetricFamily writes{"sink_writes",
                        "element adds, refreshes and deletes (records) the sink took",
                        MetricType::kCounter,
                        "",
                        {}};
    MetricFamily sink_errors{"sink_errors", "failed sink writes", MetricType::kCounter, "", {}};
    MetricFamily present{"sink_present_elements",
                         "elements ctlabeld added and has not removed (records written)",
                         MetricType::kGauge,
                         "",
                         {}};
    MetricFamily sink_dropped{
        "sink_dropped",
        "changes refused for good (set full, no such set, record over the cap)",
        MetricType::kCounter,
        "",
        {}};
    for (const SinkCounters& k : r.sinks) {
      writes.samples.push_back({{{"sink", k.name}}, static_cast<double>(k.writes)});
      sink_errors.samples.push_back({{{"sink", k.name}}, static_cast<double>(k.errors)});
      present.samples.push_back({{{"sink", k.name}}, static_cast<double>(k.present)});
      sink_dropped.samples.push_back({{{"sink", k.name}}, static_cast<double>(k.dropped)});
    }
    out.push_back(std::move(writes));
    out.push_back(std::move(sink_errors));
    out.push_back(std::move(present));
    out.push_back(std::move(sink_dropped));
  }
  out.push_back(MetricFamily{"reloads",
                             "successful reloads of the actions file",
                             MetricType::kCounter,
                             "",
                             {{{}, static_cast<double>(r.reloads)}}});
  out.push_back(MetricFamily{"reload_failures",
                             "reloads refused (the old rules stayed)",
                             MetricType::kCounter,
                             "",
                             {{{}, static_cast<double>(r.reload_failures)}}});
  out.push_back(MetricFamily{"regex_budget_exceeded",
                             "regex searches cut short by the per-flow step budget",
                             MetricType::kCounter,
                             "",
                             {{{}, static_cast<double>(r.regex_budget_exceeded)}}});
  out.push_back(MetricFamily{"uptime",
                             "seconds since the daemon started",
                             MetricType::kGauge,
                             "seconds",
                             {{{}, r.elapsed_s}}});
  return out;
}

Status write_metrics_file(const std::string& path, const StatsReport& report) {
  auto text = control::format_prometheus(metric_families(report));
  if (!text) return Status::failure(text.errors());
  return control::write_text_file_atomically(path, *text, "--metrics-file");
}

}  // namespace ctlabeld::app
