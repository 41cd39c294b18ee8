// SPDX-License-Identifier: GPL-3.0-or-later
// Label writes per second through LabelWriter against 100k conntrack entries, in a private
// network namespace (created here, gone when the process exits). Target: >= 100k writes/s.
// `label_write_bench N mark`: the same for ctmark writes (a masked mark, no labels), then a
// paced phase (below the writer's capacity) whose submit-to-acknowledgement p50/p99 is the
// ctmark write latency.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "ctlabeld/conntrack/label_writer.hpp"
#include "ctlabeld/conntrack/table.hpp"
#include "test/unit/conntrack/kernel_sandbox.hpp"

using namespace ctlabeld;
using namespace ctlabeld::conntrack;
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kTargetPerSecond = 100'000.0;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// 10.x.y.z -> 198.18.0.1 (RFC 2544 benchmark range), distinct source address and port per entry.
FlowTuple entry_tuple(std::size_t i) {
  FlowTuple t;
  t.ip_version = 4;
  t.ip_protocol = (i % 2 == 0) ? kProtoUdp : kProtoTcp;
  const std::uint8_t src[4] = {10, static_cast<std::uint8_t>((i >> 16) & 0xff),
                               static_cast<std::uint8_t>((i >> 8) & 0xff),
                               static_cast<std::uint8_t>(i & 0xff)};
  const std::uint8_t dst[4] = {198, 18, 0, 1};
  t.src = Address::from_v4(src);
  t.dst = Address::from_v4(dst);
  t.src_port = static_cast<std::uint16_t>(1024 + (i % 60000));
  t.dst_port = 443;
  return t;
}

constexpr std::uint32_t kMark = 0x0100;
constexpr std::uint32_t kMarkMask = 0xff00;

LabelUpdate make_update(const FlowTuple& t, bool mark) {
  LabelUpdate update;
  update.tuple = t;
  if (mark) {
    update.mark = kMark;
    update.mark_mask = kMarkMask;
  } else {
    update.mask.set(0);
    update.bits.set(0);
  }
  return update;
}

// `n` writes at `per_second`, each timed from submit to the kernel's acknowledgement.
int paced_latency(const std::vector<EntrySpec>& entries, std::size_t n, double per_second) {
  auto writer = LabelWriter::start(WriterOptions{});
  if (!writer) {
    std::fprintf(stderr, "%s", writer.error_text().c_str());
    return 1;
  }
  const auto gap =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / per_second));
  auto next = Clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    LabelUpdate update = make_update(entries[i % entries.size()].original, true);
    update.mark = (i % 2 == 0) ? 0x0200 : kMark;  // every write changes the mark
    update.origin = Clock::now();
    if (!(*writer)->submit(update)) return 1;
    next += gap;
    std::this_thread::sleep_until(next);
  }
  (*writer)->flush();
  const auto stats = (*writer)->stats();
  (*writer)->stop();
  std::printf(
      "ctmark write latency, paced %zu writes at %.0f/s: p50 %llu us, p99 %llu us (submit to "
      "kernel ack; %llu written)\n",
      n, per_second, static_cast<unsigned long long>(log2_quantile(stats.latency_log2_us, 0.5)),
      static_cast<unsigned long long>(log2_quantile(stats.latency_log2_us, 0.99)),
      static_cast<unsigned long long>(stats.written));
  return stats.written == n ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t count = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100'000;
  const bool mark = argc > 2 && std::string(argv[2]) == "mark";
  std::string error;
  auto box = ctlabeld::test::KernelSandbox::enter("0 zoom\n", &error);
  if (!box) {
    std::fprintf(stderr, "label_write_bench: cannot create the namespace (%s); run as root\n",
                 error.c_str());
    return 1;
  }
  const auto nft = ctlabeld::test::run("nft -f etc/ctlabeld/ctlabeld.nft");
  if (nft.status != 0) {
    std::fprintf(stderr,
                 "label_write_bench: nft -f etc/ctlabeld/ctlabeld.nft failed (run from the "
                 "repository root):\n%s",
                 nft.output.c_str());
    return 1;
  }

  std::vector<EntrySpec> entries(count);
  for (std::size_t i = 0; i < count; ++i) {
    entries[i].original = entry_tuple(i);
    entries[i].timeout_s = 3600;
  }
  auto start = Clock::now();
  auto created = create_entries(entries, 256);
  const double insert_s = seconds_since(start);
  if (!created || created->ok != count) {
    std::fprintf(stderr, "label_write_bench: created %zu of %zu entries%s\n",
                 created ? created->ok : 0, count, created ? "" : created.error_text().c_str());
    return 1;
  }
  std::printf("inserted %zu entries in %.3f s (%.0f inserts/s, batched netlink creates)\n", count,
              insert_s, static_cast<double>(count) / insert_s);

  auto writer = LabelWriter::start(WriterOptions{});
  if (!writer) {
    std::fprintf(stderr, "%s", writer.error_text().c_str());
    return 1;
  }
  std::uint64_t full_retries = 0;
  start = Clock::now();
  for (std::size_t i = 0; i < count; ++i) {
    const LabelUpdate update = make_update(entries[i].original, mark);
    // A producer faster than the kernel: wait for room instead of dropping, to time the writer.
    for (int spins = 0; !(*writer)->submit(update); ++spins) {
      ++full_retries;
      if (spins > 1'000'000) return 1;
      std::this_thread::yield();
    }
  }
  (*writer)->flush();
  const double write_s = seconds_since(start);
  const auto stats = (*writer)->stats();
  (*writer)->stop();

  auto dump = dump_entries();
  std::size_t labelled = 0;
  if (dump) {
    for (const auto& e : dump.value()) {
      labelled += (mark ? (e.mark & kMarkMask) == kMark : e.labels.test(0)) ? 1 : 0;
    }
  }
  const double rate = static_cast<double>(stats.written) / write_s;
  // "marks/s" for ctmark, so bench/run.sh keeps the two figures apart.
  std::printf("%s writes: %llu written in %.3f s = %.0f %s (%.2fx the %.0f/s target)\n",
              mark ? "ctmark" : "label", static_cast<unsigned long long>(stats.written), write_s,
              rate, mark ? "marks/s" : "writes/s", rate / kTargetPerSecond, kTargetPerSecond);
  std::printf(
      "  batches %llu, syscalls %llu, errors enoent=%llu enospc=%llu other=%llu, "
      "mean latency %.0f us, max %llu us, queue-full retries %llu\n",
      static_cast<unsigned long long>(stats.batches),
      static_cast<unsigned long long>(stats.syscalls),
      static_cast<unsigned long long>(stats.enoent), static_cast<unsigned long long>(stats.enospc),
      static_cast<unsigned long long>(stats.other_errors),
      static_cast<double>(stats.latency_sum_us) / static_cast<double>(count),
      static_cast<unsigned long long>(stats.latency_max_us),
      static_cast<unsigned long long>(full_retries));
  std::printf("  verified by dump: %zu of %zu entries carry %s\n", labelled, count,
              mark ? "mark 0x0100 under 0xff00" : "bit 0");
  if (labelled != count || stats.written != count) return 1;
  if (!mark) return 0;
  // Sparse (as live traffic: a write every millisecond or so) and dense.
  if (paced_latency(entries, 2'000, 1'000.0) != 0) return 1;
  return paced_latency(entries, 20'000, 20'000.0);
}
