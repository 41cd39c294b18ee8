// SPDX-License-Identifier: GPL-3.0-or-later
// The label-latency histogram: bucket bounds and quantiles against exact values.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "ctlabeld/common/log2_histogram.hpp"

using namespace ctlabeld;

TEST_CASE("histogram: every value lands in a bucket whose bounds hold it, within 25%") {
  std::uint64_t previous_max = 0;
  for (std::size_t b = 0; b + 1 < kLog2Buckets; ++b) {
    const std::uint64_t hi = log2_bucket_max(b);
    const std::uint64_t lo = b == 0 ? 0 : previous_max + 1;
    CHECK(log2_bucket(lo) == b);
    CHECK(log2_bucket(hi) == b);
    if (lo >= 8) CHECK(static_cast<double>(hi) <= 1.25 * static_cast<double>(lo));
    previous_max = hi;
  }
  CHECK(log2_bucket(~std::uint64_t{0}) == kLog2Buckets - 1);
}

TEST_CASE("histogram: small values are exact; quantiles never fall below the true value") {
  Log2Counts h{};
  CHECK(log2_quantile(h, 0.5) == 0);
  for (std::uint64_t v : {1, 2, 3, 4, 5}) log2_add(h, v);
  CHECK(log2_quantile(h, 0.5) == 3);
  CHECK(log2_quantile(h, 0.99) == 5);

  std::mt19937_64 rng(7);
  std::vector<std::uint64_t> values;
  Log2Counts g{};
  for (int i = 0; i < 10000; ++i) {
    const std::uint64_t v = rng() % 100000;
    values.push_back(v);
    log2_add(g, v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99}) {
    const std::uint64_t exact = values[static_cast<std::size_t>(q * 10000) - 1];
    const std::uint64_t got = log2_quantile(g, q);
    CHECK(got >= exact);
    CHECK(static_cast<double>(got) <= 1.25 * static_cast<double>(exact) + 1);
  }
  Log2Counts merged{};
  log2_merge(merged, g);
  log2_merge(merged, h);
  CHECK(log2_total(merged) == 10005);
}
