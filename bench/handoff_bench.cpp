// SPDX-License-Identifier: GPL-3.0-or-later
// The writers' hand-off (BatchQueue) alone: the time from push() to the consumer thread holding
// the item, paced below capacity so the consumer sleeps between items, as a writer does. Two
// consumers in alternating rounds of one run (the machine's noise hits both alike): one keeps the
// short scheduler slice BatchQueue asks for, the other goes back to the kernel's default slice.
// No root needed. `handoff_bench [ROUNDS]`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "ctlabeld/common/batch_queue.hpp"
#include "ctlabeld/common/thread_latency.hpp"

using namespace ctlabeld;
using Clock = std::chrono::steady_clock;

namespace {

// One round: `n` items at `per_second`; returns the push-to-pop latencies in microseconds.
std::vector<long> round(bool short_slice, int n, int per_second) {
  BatchQueue<Clock::time_point> queue(1024);
  std::vector<long> latencies;
  latencies.reserve(static_cast<std::size_t>(n));
  std::thread consumer([&] {
    std::vector<Clock::time_point> items;
    bool first = true;
    while (queue.pop_batch(items, 256)) {
      const auto now = Clock::now();
      // pop_batch asked for the short slice on its first call; 0 returns to the default.
      if (first && !short_slice) (void)request_short_slice(std::chrono::microseconds(0));
      first = false;
      for (const auto& t : items) {
        latencies.push_back(std::chrono::duration_cast<std::chrono::microseconds>(now - t).count());
      }
    }
  });
  const auto gap = std::chrono::nanoseconds(1'000'000'000 / per_second);
  auto next = Clock::now();
  for (int i = 0; i < n; ++i) {
    while (!queue.push(Clock::now())) std::this_thread::yield();
    next += gap;
    std::this_thread::sleep_until(next);
  }
  queue.close();
  consumer.join();
  return latencies;
}

long quantile(std::vector<long>& v, double q) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 3;
  for (const int rate : {1'000, 20'000}) {
    std::vector<long> with, without;
    const int n = rate / 2;  // half a second per round
    for (int r = 0; r < rounds; ++r) {
      auto a = round(false, n, rate);
      without.insert(without.end(), a.begin(), a.end());
      auto b = round(true, n, rate);
      with.insert(with.end(), b.begin(), b.end());
    }
    const long dp50 = quantile(without, 0.5), dp99 = quantile(without, 0.99);
    const long sp50 = quantile(with, 0.5), sp99 = quantile(with, 0.99);
    std::printf(
        "hand-off at %d/s, %zu items each: default slice p50 %ld us p99 %ld us; short slice "
        "p50 %ld us p99 %ld us\n",
        rate, with.size(), dp50, dp99, sp50, sp99);
  }
  return 0;
}
