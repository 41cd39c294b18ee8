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
#include <vector>

#include "ctlabeld/ipset/set_writer.hpp"

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
  return 0;
}
