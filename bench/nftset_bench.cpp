// SPDX-License-Identifier: GPL-3.0-or-later
// nftset element writes per second: 100 k distinct flows through SetWriter in batched
// transactions, against `nft -f` adding the same elements in one transaction. Runs as root in a
// private network namespace it creates (nothing outside it is touched).
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "ctlabeld/common/log2_histogram.hpp"
#include "ctlabeld/nftset/set_writer.hpp"
#include "ctlabeld/nftset/sink_writer.hpp"

using namespace ctlabeld;
using namespace ctlabeld::nftset;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  long value = 0;
  while (status >> key) {
    if (key == "VmRSS:") {
      status >> value;
      return value;
    }
    status.ignore(4096, '\n');
  }
  return 0;
}

// Flow i: local 10.a.b.c, TCP, other port 1024 + i % 50000, other 192.0.2.(i % 250 + 1).
MemberFields flow(std::uint32_t i) {
  MemberFields m;
  m.ip_version = 4;
  m.ip_protocol = 6;
  m.local_addr.bytes[0] = 10;
  m.local_addr.bytes[1] = static_cast<std::uint8_t>(i >> 16);
  m.local_addr.bytes[2] = static_cast<std::uint8_t>(i >> 8);
  m.local_addr.bytes[3] = static_cast<std::uint8_t>(i);
  m.other_addr.bytes = {192, 0, 2, static_cast<std::uint8_t>(i % 250 + 1)};
  m.other_port = static_cast<std::uint16_t>(1024 + i % 50000);
  return m;
}

// p50 and p99 of one-element apply() calls, microseconds: the writer's share of "deciding packet
// to kernel ack" (a lone element, as when one flow is decided while the writer is idle).
template <typename Writer, typename Request>
void single_latency(Writer& writer, Request request, std::uint32_t base, const char* what) {
  constexpr int kSamples = 2000;
  std::vector<double> us;
  us.reserve(kSamples);
  MemberResult result;
  for (int i = 0; i < kSamples; ++i) {
    request.member = flow(base + static_cast<std::uint32_t>(i));
    const auto start = Clock::now();
    writer.apply(std::span<const Request>(&request, 1), std::span<MemberResult>(&result, 1));
    us.push_back(seconds_since(start) * 1e6);
    if (result.outcome != MemberOutcome::kApplied) {
      std::printf("  %s: element %d not applied (errno %d)\n", what, i, result.error);
      return;
    }
  }
  std::sort(us.begin(), us.end());
  std::printf("%s latency, one element per call: p50 %.0f us, p99 %.0f us\n", what,
              us[us.size() / 2], us[us.size() * 99 / 100]);
}

int fail(const std::string& what) {
  std::fprintf(stderr, "nftset_bench: %s\n", what.c_str());
  return 1;
}

// The target's path: MemberChanges submitted to the sink writer (queue, its thread, SetWriter,
// the kernel's answer). Throughput with 100 k flows decided at once; latency from submission to
// the kernel's acknowledgement with flows decided at a steady rate (a busy router's new flows);
// the RSS its per-element state (which flows hold which element, for removal and re-adds) takes.
int sink_writer_figures(std::uint32_t n) {
  auto started = SetSinkWriter::start();
  if (!started) return fail(started.error_text());
  SetSinkWriter& w = *started.value();
  SetSpec spec;
  spec.set = "sink.v4";
  spec.fields = {Field::kLocalAddr, Field::kIpProto, Field::kOtherPort, Field::kOtherAddr};
  spec.size = n * 4;
  spec.managed = true;
  auto bound = w.bind(std::any(spec));
  if (!bound) return fail(bound.error_text());
  MemberChange c;
  c.sink = SinkRef{0, bound.value()};
  c.timeout = std::chrono::seconds(900);

  const long rss_before = rss_kib();
  auto start = Clock::now();
  for (std::uint32_t i = 0; i < n; ++i) {
    c.fields = flow(i);
    c.flow = FlowId{i, 1};
    c.origin = Clock::now();
    while (!w.submit(c)) std::this_thread::yield();  // queue full: the writer catches up
  }
  w.flush();
  const double burst_s = seconds_since(start);
  const long rss_after = rss_kib();
  const auto counters = w.counters();
  if (counters.empty() || counters[0].writes != n || w.tracked() != n) {
    return fail("sink writer: not every add applied");
  }
  std::printf("sink writer: %u adds submitted at once, applied in %.3f s: %.0f adds/s\n", n,
              burst_s, n / burst_s);
  std::printf(
      "nftset sink writer RSS per 100 k members tracked: %.1f MiB (%ld KiB for %u members)\n",
      static_cast<double>(rss_after - rss_before) / 1024.0 * 100000.0 / n, rss_after - rss_before,
      n);

  // Steady arrivals: 10 k new flows per second for one second, latency per change.
  const Log2Counts before = w.latency_us();
  constexpr std::uint32_t kPaced = 10000;
  const auto step = std::chrono::microseconds(100);
  auto next = Clock::now();
  for (std::uint32_t i = 0; i < kPaced; ++i) {
    next += step;
    std::this_thread::sleep_until(next);  // leaves the cores to the writer between arrivals
    c.fields = flow(n + i);
    c.flow = FlowId{n + i, 1};
    c.origin = Clock::now();
    while (!w.submit(c)) std::this_thread::yield();
  }
  w.flush();
  Log2Counts paced = w.latency_us();
  for (std::size_t b = 0; b < kLog2Buckets; ++b) paced[b] -= before[b];
  std::printf(
      "nftset p99 submit->kernel ack through the sink writer (us, %u flows at 10 k/s): %llu "
      "(p50 %llu)\n",
      kPaced, static_cast<unsigned long long>(log2_quantile(paced, 0.99)),
      static_cast<unsigned long long>(log2_quantile(paced, 0.50)));
  w.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint32_t n = argc > 1 ? static_cast<std::uint32_t>(std::atoi(argv[1])) : 100000;
  if (::geteuid() != 0) return fail("needs root (a private network namespace and CAP_NET_ADMIN)");
  if (::unshare(CLONE_NEWNET) != 0) return fail("unshare(CLONE_NEWNET) failed");

  std::vector<Request> requests(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    requests[i] = Request{SetOp::kAdd, 0, flow(i), std::chrono::seconds(900)};
  }
  std::vector<MemberResult> results(n);
  std::printf(
      "nftset writer: %u distinct flows, key ipv4_addr . inet_proto . inet_service . "
      "ipv4_addr, timeout 900 s\n",
      n);

  // The default batch size three times among the others: the headline is their median, so one
  // pass disturbed by the machine's other work does not decide it.
  std::vector<double> default_adds;
  for (const std::size_t batch : {1024u, 256u, 1024u, 4096u, 1024u, 16384u}) {
    Options options;
    options.max_batch = batch;
    auto writer = SetWriter::open(options);
    if (!writer) return fail(writer.error_text());
    SetSpec spec;
    spec.set = "bench.v4";
    spec.fields = {Field::kLocalAddr, Field::kIpProto, Field::kOtherPort, Field::kOtherAddr};
    spec.size = n * 2;
    spec.managed = true;
    spec.flush_on_create = true;
    auto set = writer->attach(spec);
    if (!set) return fail(set.error_text());
    for (auto& r : requests) r.set = set.value();

    const long rss_before = rss_kib();
    for (auto& r : requests) r.op = SetOp::kAdd;
    auto start = Clock::now();
    writer->apply(requests, results);
    const double add_s = seconds_since(start);
    const long rss_after = rss_kib();
    const std::uint64_t add_transactions = writer->counters().transactions;
    std::uint64_t applied = writer->counters().applied;
    if (applied != n) return fail("adds: only " + std::to_string(applied) + " applied");

    for (auto& r : requests) r.op = SetOp::kRefresh;
    start = Clock::now();
    writer->apply(requests, results);
    const double refresh_s = seconds_since(start);

    for (auto& r : requests) r.op = SetOp::kDelete;
    start = Clock::now();
    writer->apply(requests, results);
    const double delete_s = seconds_since(start);
    for (auto& r : requests) r.op = SetOp::kAdd;
    if (writer->counters().applied != 3ull * n) return fail("refreshes or deletes not all applied");
    const double adds = n / add_s;
    std::printf(
        "  batch %5zu: adds %.0f/s (%.3f s), refreshes %.0f/s, deletes %.0f/s, "
        "%llu transactions per pass, writer RSS growth %ld KiB\n",
        batch, adds, add_s, n / refresh_s, n / delete_s,
        static_cast<unsigned long long>(add_transactions), rss_after - rss_before);
    if (batch == Options{}.max_batch) {
      if (default_adds.empty()) single_latency(*writer, requests[0], 2 * n, "nftset add");
      default_adds.push_back(adds);
    }
  }

  // The nft tool on the same elements, one transaction (`nft -f`), process wall time.
  char dir[] = "/tmp/nftset-bench-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return fail("mkdtemp failed");
  const std::string file = std::string(dir) + "/elements.nft";
  {
    std::ofstream out(file);
    out << "add table inet nfb\nadd set inet nfb bench.v4 { type ipv4_addr . inet_proto . "
           "inet_service . ipv4_addr; flags timeout; size "
        << n * 2 << "; }\nadd element inet nfb bench.v4 {\n";
    for (std::uint32_t i = 0; i < n; ++i) {
      const MemberFields m = flow(i);
      out << "10." << int(m.local_addr.bytes[1]) << '.' << int(m.local_addr.bytes[2]) << '.'
          << int(m.local_addr.bytes[3]) << " . tcp . " << m.other_port << " . 192.0.2."
          << int(m.other_addr.bytes[3]) << " timeout 900s" << (i + 1 < n ? ",\n" : "\n");
    }
    out << "}\n";
  }
  const auto start = Clock::now();
  const int status = std::system(("nft -f " + file).c_str());
  const double nft_s = seconds_since(start);
  std::remove(file.c_str());
  ::rmdir(dir);
  if (status != 0) return fail("nft -f failed");
  std::printf("nft -f, same %u elements in one transaction: %.0f adds/s (%.3f s, process wall)\n",
              n, n / nft_s, nft_s);
  std::sort(default_adds.begin(), default_adds.end());
  const double median = default_adds[default_adds.size() / 2];
  std::printf(
      "nftset element adds/s (batched, %zu per transaction, median of 3): %.0f adds/s, %.2fx nft "
      "-f\n",
      Options{}.max_batch, median, median / (n / nft_s));
  if (const int rc = sink_writer_figures(n); rc != 0) return rc;
  std::printf(
      "per-member state kept by SetWriter: none (the caller owns its requests: %zu "
      "bytes each, %.1f MiB per 100 k)\n",
      sizeof(Request), sizeof(Request) * 100000.0 / 1048576.0);
  return 0;
}
