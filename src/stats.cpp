// SPDX-License-Identifier: GPL-3.0-or-later
// Formatting of statistics; the numbers themselves live in the stages' counters.
#include "stats.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <spdlog/fmt/fmt.h>

#include "ctlabeld/actions/regex.hpp"
#include "ctlabeld/common/file_policy.hpp"
#include "flow_output.hpp"

namespace ctlabeld::app {

std::uint64_t StatsReport::total_packets() const {
  std::uint64_t n = 0;
  for (const auto& s : sources) n += s.frames;
  return n;
}

std::uint64_t StatsReport::total_bytes() const {
  std::uint64_t n = 0;
  for (const auto& s : sources) n += s.bytes;
  return n;
}

std::map<std::string, std::uint64_t> StatsReport::apps() const {
  std::map<std::string, std::uint64_t> out;
  for (const auto& w : workers) {
    for (const auto& [app, n] : w.apps) out[app] += n;
  }
  return out;
}

StatsReport gather(const Pipeline& pipeline, const conntrack::LabelWriter* writer, double elapsed_s,
                   std::uint64_t reloads, std::uint64_t reload_failures) {
  StatsReport r;
  r.elapsed_s = elapsed_s;
  r.sources = pipeline.source_snapshots();
  r.workers = pipeline.worker_snapshots();
  if (writer != nullptr) r.writer = writer->stats();
  r.reloads = reloads;
  r.reload_failures = reload_failures;
  r.regex_budget_exceeded = actions::Regex::budget_exceeded();
  return r;
}

namespace {

WorkerSnapshot sum_workers(const StatsReport& r) {
  WorkerSnapshot t{};
  for (const auto& w : r.workers) {
    for (std::size_t i = 0; i < kWorkerCounterCount; ++i) t.counters[i] += w.counters[i];
    log2_merge(t.label_packets, w.label_packets);
    log2_merge(t.label_decide_us, w.label_decide_us);
  }
  return t;
}

// Label latency: microseconds up to the kernel's acknowledgement when a writer runs (the
// update carries its deciding packet's time), else up to the decision (dry run).
struct LabelLatency {
  std::uint64_t p50_us, p99_us, p50_packets, p99_packets, samples;
  const char* until;
};

LabelLatency label_latency(const StatsReport& r, const WorkerSnapshot& t) {
  const bool acked = r.writer && log2_total(r.writer->latency_log2_us) != 0;
  const Log2Counts& us = acked ? r.writer->latency_log2_us : t.label_decide_us;
  return {log2_quantile(us, 0.5),
          log2_quantile(us, 0.99),
          log2_quantile(t.label_packets, 0.5),
          log2_quantile(t.label_packets, 0.99),
          log2_total(us),
          acked ? "kernel_ack" : "decision"};
}

// "group.key" -> ("group", "key"); "key" -> ("", "key").
std::pair<std::string_view, std::string_view> split_name(std::string_view name) {
  const auto dot = name.find('.');
  if (dot == std::string_view::npos) return {{}, name};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

// The worker counters as JSON members (no braces), in declaration order; a "group.key" name
// nests under "group". Every report that lists counters comes from here.
void counters_json(const CounterValues& values, std::string& out) {
  std::string_view open_group;
  for (std::size_t i = 0; i < kWorkerCounterCount; ++i) {
    const auto [group, key] = split_name(kWorkerCounterInfo[i].name);
    if (i != 0) {
      if (!open_group.empty() && group != open_group) out += '}';
      out += ',';
    }
    if (!group.empty() && group != open_group) {
      fmt::format_to(std::back_inserter(out), "\"{}\":{{", group);
    }
    fmt::format_to(std::back_inserter(out), "\"{}\":{}", key, values[i]);
    open_group = group;
  }
  if (!open_group.empty()) out += '}';
}

// The worker counters as summary lines: "group: key=value ..." per group, ungrouped ones on one
// "counters:" line.
void counters_summary(const CounterValues& values, std::string& out) {
  std::string ungrouped;
  std::string_view open_group;
  for (std::size_t i = 0; i < kWorkerCounterCount; ++i) {
    const auto [group, key] = split_name(kWorkerCounterInfo[i].name);
    if (group.empty()) {
      fmt::format_to(std::back_inserter(ungrouped), " {}={}", key, values[i]);
      continue;
    }
    if (group != open_group) {
      if (!open_group.empty()) out += '\n';
      fmt::format_to(std::back_inserter(out), "{}:", group);
      open_group = group;
    }
    fmt::format_to(std::back_inserter(out), " {}={}", key, values[i]);
  }
  if (!open_group.empty()) out += '\n';
  out += "counters:" + ungrouped + '\n';
}

}  // namespace

std::string format_summary(const StatsReport& r) {
  std::string out;
  auto o = std::back_inserter(out);
  const WorkerSnapshot t = sum_workers(r);
  const std::uint64_t packets = r.total_packets();
  const double pps = r.elapsed_s > 0 ? static_cast<double>(packets) / r.elapsed_s : 0.0;
  fmt::format_to(o, "packets: {}  bytes: {}  elapsed: {:.3f}s  packets/s: {:.0f}\n", packets,
                 r.total_bytes(), r.elapsed_s, pps);
  counters_summary(t.counters, out);
  if (r.regex_budget_exceeded != 0) {
    fmt::format_to(o, "regex searches over the per-flow step budget (counted as no match): {}\n",
                   r.regex_budget_exceeded);
  }
  if (const LabelLatency l = label_latency(r, t); l.samples != 0) {
    fmt::format_to(o,
                   "label latency (bucket upper bounds, until {}): p50 {} us / {} packets, p99 {} "
                   "us / {} packets ({} labels)\n",
                   l.until, l.p50_us, l.p50_packets, l.p99_us, l.p99_packets, l.samples);
  }
  out += "flows by app:";
  for (const auto& [app, n] : r.apps()) fmt::format_to(o, " {}={}", app, n);
  out += '\n';
  for (const auto& s : r.sources) {
    fmt::format_to(o, "source {}: packets={} bytes={}", s.name, s.frames, s.bytes);
    for (std::size_t d = 1; d < s.decode.size(); ++d) {
      if (s.decode[d] != 0) {
        fmt::format_to(o, " skipped[{}]={}",
                       capture::to_string(static_cast<capture::DecodeStatus>(d)), s.decode[d]);
      }
    }
    if (s.queue_full != 0) fmt::format_to(o, " dropped[queue full]={}", s.queue_full);
    if (s.kernel_drops != 0) fmt::format_to(o, " dropped[kernel]={}", s.kernel_drops);
    if (s.if_drops != 0) fmt::format_to(o, " dropped[interface]={}", s.if_drops);
    if (s.read_errors != 0) fmt::format_to(o, " read_errors={}", s.read_errors);
    out += '\n';
  }
  if (r.writer) {
    out += "conntrack:";
    r.writer->for_each_counter(
        [&](std::string_view name, std::uint64_t v) { fmt::format_to(o, " {}={}", name, v); });
    for (const auto& [err, n] : r.writer->errors_by_errno)
      fmt::format_to(o, " errno[{}]={}", std::strerror(err), n);
    out += '\n';
  }
  for (const SinkCounters& k : r.sinks) {
    fmt::format_to(o, "{}: writes={} present={} errors={} dropped={}", k.name, k.writes, k.present,
                   k.errors, k.dropped);
    for (const auto& [err, n] : k.errors_by_errno)
      fmt::format_to(o, " errno[{}]={}", std::strerror(err), n);
    out += '\n';
  }
  return out;
}

namespace {
// "errors_by_errno":{"2":5,...}
void errno_json(const std::map<int, std::uint64_t>& errors, std::string& out) {
  out += "\"errors_by_errno\":{";
  bool first = true;
  for (const auto& [err, n] : errors) {
    if (!first) out += ',';
    first = false;
    fmt::format_to(std::back_inserter(out), "\"{}\":{}", err, n);
  }
  out += '}';
}
}  // namespace

std::string format_json(const StatsReport& r) {
  std::string out;
  auto o = std::back_inserter(out);
  const WorkerSnapshot t = sum_workers(r);
  fmt::format_to(
      o,
      "{{\"elapsed_s\":{:.3f},\"packets\":{},\"bytes\":{},\"reloads\":{},\"reload_failures\":{},",
      r.elapsed_s, r.total_packets(), r.total_bytes(), r.reloads, r.reload_failures);
  counters_json(t.counters, out);
  const LabelLatency l = label_latency(r, t);
  fmt::format_to(o,
                 ",\"regex_budget_exceeded\":{},\"label_latency\":{{\"p50_us\":{},\"p99_us\":{},"
                 "\"p50_packets\":{},\"p99_packets\":{},\"samples\":{},\"until\":\"{}\"}},",
                 r.regex_budget_exceeded, l.p50_us, l.p99_us, l.p50_packets, l.p99_packets,
                 l.samples, l.until);
  out += "\"apps\":{";
  bool first = true;
  for (const auto& [app, n] : r.apps()) {
    if (!first) out += ',';
    first = false;
    out += '"';
    append_json_string(app, out);
    fmt::format_to(o, "\":{}", n);
  }
  out += "},\"interfaces\":[";
  for (std::size_t i = 0; i < r.sources.size(); ++i) {
    const auto& s = r.sources[i];
    if (i != 0) out += ',';
    out += "{\"name\":\"";
    append_json_string(s.name, out);
    fmt::format_to(
        o,
        "\",\"up\":{},\"packets\":{},\"bytes\":{},\"dropped_queue_full\":{},\"dropped_kernel\":{},"
        "\"dropped_interface\":{},\"read_errors\":{},\"opens\":{},\"skipped\":{{",
        s.up, s.frames, s.bytes, s.queue_full, s.kernel_drops, s.if_drops, s.read_errors,
        s.reopens);
    bool f = true;
    for (std::size_t d = 1; d < s.decode.size(); ++d) {
      if (!f) out += ',';
      f = false;
      fmt::format_to(o, "\"{}\":{}", capture::to_string(static_cast<capture::DecodeStatus>(d)),
                     s.decode[d]);
    }
    out += "}}";
  }
  out += "],\"workers\":[";
  for (std::size_t i = 0; i < r.workers.size(); ++i) {
    if (i != 0) out += ',';
    out += '{';
    counters_json(r.workers[i].counters, out);
    out += '}';
  }
  out += ']';
  if (r.writer) {
    out += ",\"conntrack\":{";
    r.writer->for_each_counter(
        [&](std::string_view name, std::uint64_t v) { fmt::format_to(o, "\"{}\":{},", name, v); });
    errno_json(r.writer->errors_by_errno, out);
    out += '}';
  }
  out += ",\"sinks\":[";
  for (std::size_t i = 0; i < r.sinks.size(); ++i) {
    const SinkCounters& k = r.sinks[i];
    if (i != 0) out += ',';
    out += "{\"name\":\"";
    append_json_string(k.name, out);
    fmt::format_to(o, "\",\"writes\":{},\"present\":{},\"errors\":{},\"dropped\":{},", k.writes,
                   k.present, k.errors, k.dropped);
    errno_json(k.errors_by_errno, out);
    out += '}';
  }
  out += "]}";
  return out;
}

Status write_stats_file(const std::string& path, const StatsReport& report) {
  // A random O_EXCL temporary name, never a link followed, fsync, rename (common/file_policy).
  return files::write_atomic(path, format_json(report) + "\n", "--stats-file");
}

}  // namespace ctlabeld::app
