// SPDX-License-Identifier: GPL-3.0-or-later
// --metrics-file: every declared counter becomes a family (none forgotten, none written twice),
// with conventional names, and promtool accepts the daemon's text.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <set>

#include "metrics.hpp"

namespace ctlabeld::app {
namespace {

StatsReport sample_report() {
  StatsReport r;
  r.elapsed_s = 12.5;
  SourceSnapshot src{};
  src.name = "eth0";
  src.frames = 1000;
  src.bytes = 64000;
  src.queue_full = 3;
  src.up = true;
  r.sources.push_back(src);
  for (int w = 0; w < 2; ++w) {
    WorkerSnapshot ws{};
    for (std::size_t i = 0; i < kWorkerCounterCount; ++i) ws.counters[i] = i + 10 * w;
    ActionFigureValues f{};
    figure(f, ActionFigure::kMatches) = 5;
    figure(f, ActionFigure::kMatchingNow) = 2;
    figure(f, ActionFigure::kLastMatch) = 1796000000 + w;
    ws.actions = {{"zoom", f}, {"block \"quoted\" one", ActionFigureValues{}}};
    r.workers.push_back(ws);
  }
  conntrack::WriterStats ws;
  ws.written = 7;
  ws.latency_max_us = 1500;
  ws.errors_by_errno[2] = 4;  // ENOENT
  r.writer = ws;
  SinkCounters k;
  k.name = "nftset inet ctlabeld zoom4";
  k.writes = 9;
  k.present = 3;
  r.sinks.push_back(k);
  r.reloads = 2;
  return r;
}

std::string run(const std::string& command) {
  std::string out;
  std::FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  out += "\nexit=" + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return out;
}

TEST_CASE("metrics: one family per declared counter and figure, promtool-clean", "[app][metrics]") {
  const StatsReport r = sample_report();
  const auto families = metric_families(r);
  std::set<std::string> names;
  for (const auto& f : families) names.insert(control::exposed_name(f));
  CHECK(names.size() == families.size());
  // Every worker counter and action figure, by its declared name.
  for (const auto& info : kWorkerCounterInfo) {
    std::string n(info.name);
    for (char& c : n) c = c == '.' ? '_' : c;
    CAPTURE(n);
    const bool found = std::any_of(families.begin(), families.end(),
                                   [&](const control::MetricFamily& f) { return f.name == n; });
    CHECK(found);
  }
  CHECK(names.count("ctlabeld_flows_active") == 1);  // a gauge: no _total
  CHECK(names.count("ctlabeld_flows_created_total") == 1);
  CHECK(names.count("ctlabeld_action_matches_total") == 1);
  CHECK(names.count("ctlabeld_action_last_match_time_seconds") == 1);
  CHECK(names.count("ctlabeld_conntrack_latency_max_seconds") == 1);
  CHECK(names.count("ctlabeld_sink_writes_total") == 1);
  CHECK(names.count("ctlabeld_uptime_seconds") == 1);

  auto text = control::format_prometheus(families);
  REQUIRE(text);
  CHECK(text->find("ctlabeld_action_matches_total{action=\"zoom\"} 10\n") != std::string::npos);
  CHECK(text->find("ctlabeld_action_matching_now{action=\"zoom\"} 4\n") != std::string::npos);
  CHECK(text->find("ctlabeld_action_last_match_time_seconds{action=\"zoom\"} 1796000001\n") !=
        std::string::npos);
  CHECK(text->find(
            "ctlabeld_source_dropped_packets_total{source=\"eth0\",reason=\"queue_full\"} 3") !=
        std::string::npos);
  CHECK(text->find("ctlabeld_conntrack_latency_max_seconds 0.0015\n") != std::string::npos);
  CHECK(text->find("action=\"block \\\"quoted\\\" one\"") != std::string::npos);

  if (std::system("command -v promtool > /dev/null 2>&1") != 0) {
    WARN("promtool missing: the text is not checked by the reference linter");
    return;
  }
  char dir[] = "/tmp/ctlabeld-metrics-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/m.prom";
  REQUIRE(write_metrics_file(path, r));
  const std::string out = run("promtool check metrics < " + path);
  INFO(out);
  CHECK(out == "\nexit=0");
  ::unlink(path.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace ctlabeld::app
