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
    t.packets += w.packets;
    t.bytes += w.bytes;
    t.flows_created += w.flows_created;
    t.flows_expired += w.flows_expired;
    t.flows_evicted += w.flows_evicted;
    t.flows_active += w.flows_active;
    t.verdicts += w.verdicts;
    t.giveups += w.giveups;
    t.dpi_packets += w.dpi_packets;
    t.actions_matched += w.actions_matched;
    t.label_updates += w.label_updates;
    t.label_queue_full += w.label_queue_full;
    t.flows_peak += w.flows_peak;
    t.dpi_peak += w.dpi_peak;
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

}  // namespace

std::string format_summary(const StatsReport& r) {
  std::string out;
  auto o = std::back_inserter(out);
  const WorkerSnapshot t = sum_workers(r);
  const std::uint64_t packets = r.total_packets();
  const double pps = r.elapsed_s > 0 ? static_cast<double>(packets) / r.elapsed_s : 0.0;
  fmt::format_to(o, "packets: {}  bytes: {}  elapsed: {:.3f}s  packets/s: {:.0f}\n", packets,
                 r.total_bytes(), r.elapsed_s, pps);
  fmt::format_to(
      o, "flows: {} (classified by nDPI: {}, given up: {}, expired: {}, evicted: {}, active: {})\n",
      t.flows_created, t.verdicts, t.giveups, t.flows_expired, t.flows_evicted, t.flows_active);
  fmt::format_to(o,
                 "dpi packets: {}  actions matched: {}  label updates: {}  label queue full: {}\n",
                 t.dpi_packets, t.actions_matched, t.label_updates, t.label_queue_full);
  fmt::format_to(o, "peak flows: {}  peak flows in nDPI: {}\n", t.flows_peak, t.dpi_peak);
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
    const auto& w = *r.writer;
    fmt::format_to(o,
                   "conntrack: written={} nat_reply={} enoent={} enospc={} other_errors={} "
                   "queue_full={} batches={}",
                   w.written, w.nat_reply_hits, w.enoent, w.enospc, w.other_errors, w.queue_full,
                   w.batches);
    for (const auto& [err, n] : w.errors_by_errno)
      fmt::format_to(o, " errno[{}]={}", std::strerror(err), n);
    out += '\n';
  }
  return out;
}

std::string format_json(const StatsReport& r) {
  std::string out;
  auto o = std::back_inserter(out);
  const WorkerSnapshot t = sum_workers(r);
  fmt::format_to(
      o,
      "{{\"elapsed_s\":{:.3f},\"packets\":{},\"bytes\":{},\"reloads\":{},\"reload_failures\":{},",
      r.elapsed_s, r.total_packets(), r.total_bytes(), r.reloads, r.reload_failures);
  fmt::format_to(
      o,
      "\"flows\":{{\"created\":{},\"classified\":{},\"given_up\":{},\"expired\":{},\"evicted\":{},"
      "\"active\":{}}},\"actions_matched\":{},\"label_updates\":{},\"label_queue_full\":{},",
      t.flows_created, t.verdicts, t.giveups, t.flows_expired, t.flows_evicted, t.flows_active,
      t.actions_matched, t.label_updates, t.label_queue_full);
  const LabelLatency l = label_latency(r, t);
  fmt::format_to(o,
                 "\"regex_budget_exceeded\":{},\"peak_flows\":{},\"peak_dpi_flows\":{},\"label_"
                 "latency\":{{\"p50_us\":{},\"p99_us\":{},"
                 "\"p50_packets\":{},\"p99_packets\":{},\"samples\":{},\"until\":\"{}\"}},",
                 r.regex_budget_exceeded, t.flows_peak, t.dpi_peak, l.p50_us, l.p99_us,
                 l.p50_packets, l.p99_packets, l.samples, l.until);
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
    const auto& w = r.workers[i];
    if (i != 0) out += ',';
    fmt::format_to(o,
                   "{{\"packets\":{},\"bytes\":{},\"flows_created\":{},\"flows_expired\":{},"
                   "\"flows_evicted\":{},"
                   "\"flows_active\":{},\"verdicts\":{},\"dpi_packets\":{},\"label_updates\":{}}}",
                   w.packets, w.bytes, w.flows_created, w.flows_expired, w.flows_evicted,
                   w.flows_active, w.verdicts, w.dpi_packets, w.label_updates);
  }
  out += ']';
  if (r.writer) {
    const auto& w = *r.writer;
    fmt::format_to(
        o,
        ",\"conntrack\":{{\"submitted\":{},\"written\":{},\"nat_reply_hits\":{},\"enoent\":{},"
        "\"enospc\":{},"
        "\"other_errors\":{},\"enobufs\":{},\"queue_full\":{},\"batches\":{},\"syscalls\":{},"
        "\"latency_max_us\":{},\"errors_by_errno\":{{",
        w.submitted, w.written, w.nat_reply_hits, w.enoent, w.enospc, w.other_errors, w.enobufs,
        w.queue_full, w.batches, w.syscalls, w.latency_max_us);
    bool f = true;
    for (const auto& [err, n] : w.errors_by_errno) {
      if (!f) out += ',';
      f = false;
      fmt::format_to(o, "\"{}\":{}", err, n);
    }
    out += "}}";
  }
  out += '}';
  return out;
}

Status write_stats_file(const std::string& path, const StatsReport& report) {
  // A random O_EXCL temporary name, never a link followed, fsync, rename (common/file_policy).
  return files::write_atomic(path, format_json(report) + "\n", "--stats-file");
}

}  // namespace ctlabeld::app
