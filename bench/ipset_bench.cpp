// SPDX-License-Identifier: GPL-3.0-or-later
// ipset member writes per second: 100 k distinct flows into a hash:ip,port,ip set through the
// writer's netlink path, through libipset one command per element (the writer's kLibipset path),
// and `ipset restore` of the same members. Root; runs in a private network namespace.
#include <sched.h>
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

#include "ctlabeld/ipset/set_writer.hpp"
#include "ctlabeld/ipset/sink_writer.hpp"

using namespace ctlabeld;
using namespace ctlabeld::ipset;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

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
  std::fprintf(stderr, "ipset_bench: %s\n", what.c_str());
  return 1;
}

struct Pass {
  double add_s = 0;
  double refresh_s = 0;
  double delete_s = 0;
  std::uint64_t messages = 0;
};

// Adds, refreshes (adds again with -exist) and deletes `count` members through `path`.
bool run_pass(AddPath path, std::uint32_t count, const char* name, Pass& out,
              bool latency = false) {
  Options options;
  options.path = path;
  auto writer = SetWriter::open(options);
  if (!writer) {
    std::fprintf(stderr, "%s", writer.error_text().c_str());
    return false;
  }
  SetSpec spec;
  spec.name = name;
  spec.type = Type::kHashIpPortIp;
  spec.max_elements = count * 2;
  spec.managed = true;
  spec.flush_on_create = true;
  auto set = writer->attach(spec);
  if (!set) {
    std::fprintf(stderr, "%s", set.error_text().c_str());
    return false;
  }
  std::vector<Request> requests(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    requests[i] = Request{SetOp::kAdd, set.value(), flow(i), std::chrono::seconds(900)};
  }
  std::vector<MemberResult> results(count);
  auto start = Clock::now();
  writer->apply(requests, results);
  out.add_s = seconds_since(start);
  out.messages = writer->counters().messages;
  start = Clock::now();
  writer->apply(requests, results);
  out.refresh_s = seconds_since(start);
  for (auto& r : requests) r.op = SetOp::kDelete;
  start = Clock::now();
  writer->apply(requests, results);
  out.delete_s = seconds_since(start);
  const bool all = writer->counters().applied == 3ull * count;
  if (all && latency) {
    requests[0].op = SetOp::kAdd;
    single_latency(*writer, requests[0], 2 * count, "ipset add");
  }
  return all;
}

// Resident set size now, KiB (/proc/self/status VmRSS).
long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

struct SinkPass {
  double add_s = 0;
  double delete_s = 0;
  long rss_members_kib = 0;  // RSS growth while `count` members are tracked
  std::uint64_t lone_p50_us = 0, lone_p99_us = 0, burst_p99_us = 0;
};

MemberChange member_change(SetOp op, std::uint16_t sink, std::uint32_t i) {
  MemberChange c;
  c.op = op;
  c.sink = SinkRef{0, sink};
  c.timeout = std::chrono::seconds(900);
  c.fields = flow(i);
  return c;
}

// The target's path: changes submitted to the IpsetSinkWriter's queue (as the enforcers do),
// batched by its thread; adds/s from the first submit to the last answer.
bool run_sink_pass(std::uint32_t count, const char* name, bool latency, SinkPass& out) {
  SinkWriterOptions options;
  options.queue_capacity = 65536;
  auto started = IpsetSinkWriter::start(options);
  if (!started) {
    std::fprintf(stderr, "%s", started.error_text().c_str());
    return false;
  }
  auto& writer = *started.value();
  SetSpec spec;
  spec.name = name;
  spec.type = Type::kHashIpPortIp;
  spec.max_elements = count * 2 + 4096;
  spec.managed = true;
  spec.flush_on_create = true;
  auto sink = writer.bind(std::any(spec));
  if (!sink) {
    std::fprintf(stderr, "%s", sink.error_text().c_str());
    return false;
  }
  auto submit_all = [&](SetOp op) {
    for (std::uint32_t i = 0; i < count; ++i) {
      const MemberChange c = member_change(op, sink.value(), i);
      while (!writer.submit(c)) std::this_thread::yield();  // a full queue: as the enforcer retries
    }
    writer.flush();
  };
  const long rss_before = rss_kib();
  auto start = Clock::now();
  submit_all(SetOp::kAdd);
  out.add_s = seconds_since(start);
  out.rss_members_kib = rss_kib() - rss_before;
  const auto tracked = writer.stats().members;
  start = Clock::now();
  submit_all(SetOp::kDelete);
  out.delete_s = seconds_since(start);
  bool ok = tracked == count && writer.counters()[0].writes == 2ull * count &&
            writer.counters()[0].errors == 0;
  if (ok && latency) {
    // Lone changes to an idle writer: origin (set at submit, as the enforcer sets the deciding
    // packet's time) to the kernel's answer, including the writer thread's wake-up.
    const auto before = writer.stats().latency_us;
    for (std::uint32_t i = 0; i < 2000; ++i) {
      MemberChange c = member_change(SetOp::kAdd, sink.value(), count + i);
      c.origin = Clock::now();
      while (!writer.submit(c)) std::this_thread::yield();
      writer.flush();
    }
    Log2Counts lone = writer.stats().latency_us;
    for (std::size_t b = 0; b < lone.size(); ++b) lone[b] -= before[b];
    out.lone_p50_us = log2_quantile(lone, 0.50);
    out.lone_p99_us = log2_quantile(lone, 0.99);
    // Bursts of 64 decided at once (a reload re-evaluating flows, a busy second).
    const auto mid = writer.stats().latency_us;
    for (std::uint32_t burst = 0; burst < 100; ++burst) {
      const auto origin = Clock::now();
      for (std::uint32_t k = 0; k < 64; ++k) {
        MemberChange c = member_change(SetOp::kAdd, sink.value(), count + 4000 + burst * 64 + k);
        c.origin = origin;
        while (!writer.submit(c)) std::this_thread::yield();
      }
      writer.flush();
    }
    Log2Counts bursts = writer.stats().latency_us;
    for (std::size_t b = 0; b < bursts.size(); ++b) bursts[b] -= mid[b];
    out.burst_p99_us = log2_quantile(bursts, 0.99);
  }
  writer.stop();
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint32_t n = argc > 1 ? static_cast<std::uint32_t>(std::atoi(argv[1])) : 100000;
  if (::geteuid() != 0) return fail("needs root (a private network namespace and CAP_NET_ADMIN)");
  if (::unshare(CLONE_NEWNET) != 0) return fail("unshare(CLONE_NEWNET) failed");
  std::printf("ipset writer: %u distinct flows, hash:ip,port,ip, timeout 900 s\n", n);

  // Three netlink passes; the headline is the median, so one disturbed pass does not decide it.
  std::vector<double> netlink_adds;
  for (int rep = 0; rep < 3; ++rep) {
    Pass netlink;
    if (!run_pass(AddPath::kNetlink, n, "bench-netlink.v4", netlink, rep == 0)) {
      return fail("netlink pass: not every element applied");
    }
    netlink_adds.push_back(n / netlink.add_s);
    std::printf(
        "  netlink (256 elements per message, 16 messages per sendmsg): adds %.0f/s "
        "(%.3f s, %llu messages), refreshes %.0f/s, deletes %.0f/s\n",
        n / netlink.add_s, netlink.add_s, static_cast<unsigned long long>(netlink.messages),
        n / netlink.refresh_s, n / netlink.delete_s);
  }
  std::sort(netlink_adds.begin(), netlink_adds.end());
  const double median = netlink_adds[1];
  // libipset is much slower; a fifth of the elements keeps the run short (rates are per second).
  const std::uint32_t small = std::max<std::uint32_t>(1000, n / 5);
  Pass per_command;
  if (!run_pass(AddPath::kLibipset, small, "bench-libipset.v4", per_command)) {
    return fail("libipset pass: not every element applied");
  }
  std::printf(
      "  libipset, one ipset_cmd() per element (%u elements): adds %.0f/s, refreshes "
      "%.0f/s, deletes %.0f/s\n",
      small, small / per_command.add_s, small / per_command.refresh_s,
      small / per_command.delete_s);

  // `ipset restore` (libipset's batching of many adds per message, and its parsing).
  char dir[] = "/tmp/ipset-bench-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return fail("mkdtemp failed");
  const std::string file = std::string(dir) + "/members.ipset";
  {
    std::ofstream out(file);
    out << "create bench-restore.v4 hash:ip,port,ip family inet maxelem " << n * 2
        << " timeout 0\n";
    for (std::uint32_t i = 0; i < n; ++i) {
      const MemberFields m = flow(i);
      out << "add bench-restore.v4 10." << int(m.local_addr.bytes[1]) << '.'
          << int(m.local_addr.bytes[2]) << '.' << int(m.local_addr.bytes[3])
          << ",tcp:" << m.other_port << ",192.0.2." << int(m.other_addr.bytes[3])
          << " timeout 900\n";
    }
  }
  const auto start = Clock::now();
  const int status = std::system(("ipset restore -exist < " + file).c_str());
  const double restore_s = seconds_since(start);
  std::remove(file.c_str());
  ::rmdir(dir);
  if (status != 0) return fail("ipset restore failed");
  std::printf("  ipset restore -exist, same %u members: %.0f adds/s (%.3f s, process wall)\n", n,
              n / restore_s, restore_s);
  std::printf(
      "ipset adds/s (writer, netlink batches, median of 3): %.0f adds/s, %.1fx libipset per "
      "command, %.2fx ipset restore\n",
      median, median / (small / per_command.add_s), median / (n / restore_s));

  // The target's path: through the sink writer's queue and thread.
  std::vector<double> sink_adds;
  std::vector<std::uint64_t> lone_p99;
  SinkPass first;
  for (int rep = 0; rep < 3; ++rep) {
    SinkPass pass;
    if (!run_sink_pass(n, "bench-sink.v4", true, pass)) {
      return fail("sink writer pass: not every change applied");
    }
    if (rep == 0) first = pass;
    sink_adds.push_back(n / pass.add_s);
    lone_p99.push_back(pass.lone_p99_us);
    std::printf(
        "  sink writer (queue -> writer thread -> netlink): adds %.0f/s (%.3f s), deletes "
        "%.0f/s, RSS +%ld KiB with %u members tracked; submit->ack lone p50 %llu us, p99 %llu "
        "us, bursts of 64 p99 %llu us\n",
        n / pass.add_s, pass.add_s, n / pass.delete_s, pass.rss_members_kib, n,
        static_cast<unsigned long long>(pass.lone_p50_us),
        static_cast<unsigned long long>(pass.lone_p99_us),
        static_cast<unsigned long long>(pass.burst_p99_us));
  }
  std::sort(sink_adds.begin(), sink_adds.end());
  std::printf("ipset sink writer adds/s (through the queue, median of 3): %.0f adds/s\n",
              sink_adds[1]);
  // Latencies are log2-bucket upper bounds (never below the true value): one change at a time to
  // an idle writer, its thread's wake-up included; the median of the three passes' p99.
  std::sort(lone_p99.begin(), lone_p99.end());
  std::printf("ipset sink writer p99 submit->ack: %llu us (lone changes, median of 3 passes)\n",
              static_cast<unsigned long long>(lone_p99[1]));
  // The first pass: the members' table grows from nothing (later passes reuse freed memory).
  std::printf("ipset sink writer RSS per 100k members: %.0f KiB\n",
              static_cast<double>(first.rss_members_kib) * 100000.0 / n);
  return 0;
}
