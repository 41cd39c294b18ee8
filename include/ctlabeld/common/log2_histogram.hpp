// SPDX-License-Identifier: GPL-3.0-or-later
// A fixed-size log-linear histogram: cheap enough to bump on the packet path, precise enough
// (buckets within 25%) for p50/p99 of latencies and packet counts.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace ctlabeld {

// Log-linear buckets: values 0..7 exactly, then four buckets per power of two (so a bucket's
// bounds are within 25% of each other), up to 2^40; larger values share the last bucket.
inline constexpr unsigned kLog2MaxBits = 40;
inline constexpr std::size_t kLog2Buckets = 8 + 4 * (kLog2MaxBits - 3);

using Log2Counts = std::array<std::uint64_t, kLog2Buckets>;

[[nodiscard]] inline std::size_t log2_bucket(std::uint64_t value) noexcept {
  if (value < 8) return static_cast<std::size_t>(value);
  const auto octave = static_cast<unsigned>(std::bit_width(value)) - 1;  // >= 3
  if (octave >= kLog2MaxBits) return kLog2Buckets - 1;
  const auto sub = static_cast<std::size_t>((value >> (octave - 2)) & 3);
  return 8 + (octave - 3) * 4 + sub;
}

// The largest value bucket `b` holds.
[[nodiscard]] inline std::uint64_t log2_bucket_max(std::size_t b) noexcept {
  if (b < 8) return b;
  const std::size_t octave = 3 + (b - 8) / 4;
  const std::size_t sub = (b - 8) % 4;
  return ((std::uint64_t{4} + sub + 1) << (octave - 2)) - 1;
}

inline void log2_add(Log2Counts& counts, std::uint64_t value) noexcept {
  ++counts[log2_bucket(value)];
}

inline void log2_merge(Log2Counts& into, const Log2Counts& from) noexcept {
  for (std::size_t b = 0; b < kLog2Buckets; ++b) into[b] += from[b];
}

[[nodiscard]] inline std::uint64_t log2_total(const Log2Counts& counts) noexcept {
  std::uint64_t n = 0;
  for (const auto c : counts) n += c;
  return n;
}

// The `q` quantile (0 < q <= 1) as the upper bound of the bucket it falls in, so a reported p99
// is never below the true one (and at most 25% above it). 0 when empty.
[[nodiscard]] inline std::uint64_t log2_quantile(const Log2Counts& counts, double q) noexcept {
  const std::uint64_t total = log2_total(counts);
  if (total == 0) return 0;
  auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total));
  if (static_cast<double>(rank) < q * static_cast<double>(total)) ++rank;  // ceil
  if (rank == 0) rank = 1;
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < kLog2Buckets; ++b) {
    seen += counts[b];
    if (seen >= rank) return log2_bucket_max(b);
  }
  return log2_bucket_max(kLog2Buckets - 1);
}

}  // namespace ctlabeld
