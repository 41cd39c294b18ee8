// SPDX-License-Identifier: GPL-3.0-or-later
// SipHash (Aumasson and Bernstein, 2012): the keyed hash of every table whose keys the network
// chooses, so that nobody without the per-start secret can make flows collide.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "ctlabeld/common/expected.hpp"

namespace ctlabeld {

// A 128-bit SipHash key.
struct SipKey {
  std::uint64_t k0 = 0;
  std::uint64_t k1 = 0;
  friend bool operator==(const SipKey&, const SipKey&) = default;
};

namespace detail {

struct SipState {
  std::uint64_t v0, v1, v2, v3;

  explicit SipState(const SipKey& k) noexcept
      : v0(k.k0 ^ 0x736f6d6570736575ULL),
        v1(k.k1 ^ 0x646f72616e646f6dULL),
        v2(k.k0 ^ 0x6c7967656e657261ULL),
        v3(k.k1 ^ 0x7465646279746573ULL) {}

  static std::uint64_t rotl(std::uint64_t x, int b) noexcept { return (x << b) | (x >> (64 - b)); }

  void round() noexcept {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }

  template <int kCompression>
  void absorb(std::uint64_t m) noexcept {
    v3 ^= m;
    for (int i = 0; i < kCompression; ++i) round();
    v0 ^= m;
  }

  template <int kFinalization>
  std::uint64_t finish() noexcept {
    v2 ^= 0xff;
    for (int i = 0; i < kFinalization; ++i) round();
    return v0 ^ v1 ^ v2 ^ v3;
  }
};

}  // namespace detail

// SipHash-c-d of `len` bytes (little-endian words, as the reference implementation reads them).
// Inline: with a constant `len` (a flow key) the compiler unrolls it to straight-line code.
template <int kCompression, int kFinalization>
[[nodiscard]] inline std::uint64_t siphash(const SipKey& key, const void* data,
                                           std::size_t len) noexcept {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "words are loaded little-endian");
  const auto* p = static_cast<const std::uint8_t*>(data);
  detail::SipState s(key);
  const std::size_t whole = len & ~std::size_t{7};
  for (std::size_t i = 0; i < whole; i += 8) {
    std::uint64_t m;
    std::memcpy(&m, p + i, sizeof m);
    s.absorb<kCompression>(m);
  }
  std::uint64_t last = static_cast<std::uint64_t>(len) << 56;
  for (std::size_t i = 0; i < (len & 7); ++i) last |= std::uint64_t{p[whole + i]} << (8 * i);
  s.absorb<kCompression>(last);
  return s.finish<kFinalization>();
}

// SipHash-1-3 of a message given as whole 64-bit words plus its final block (the last 0-7 bytes
// in the low bits, the message length in bytes in the top byte): the packet path's hash (Rust's
// and CPython's table hash), with no byte loop. siphash<1, 3> of the same bytes gives the same.
template <std::size_t N>
[[nodiscard]] inline std::uint64_t siphash13_words(const SipKey& key,
                                                   const std::uint64_t (&words)[N],
                                                   std::uint64_t final_block) noexcept {
  detail::SipState s(key);
  for (std::size_t i = 0; i < N; ++i) s.absorb<1>(words[i]);
  s.absorb<1>(final_block);
  return s.finish<3>();
}

// SipHash-1-3 of N whole words (8N bytes).
template <std::size_t N>
[[nodiscard]] inline std::uint64_t siphash13_words(const SipKey& key,
                                                   const std::uint64_t (&words)[N]) noexcept {
  return siphash13_words(key, words, static_cast<std::uint64_t>(N * 8) << 56);
}

// The per-start secrets of ctlabeld's hash tables: one for the flow tables, one for choosing a
// packet's worker. Independent, so that what one reveals (timing) says nothing of the other.
struct HashSecrets {
  SipKey flows;
  SipKey routing;
};

// Fresh secrets from the kernel's random generator (getrandom(2)); an error names the call.
Expected<HashSecrets> random_hash_secrets();
// Secrets derived from a seed: the same seed, the same table layouts (tests and benchmarks only,
// `--hash-seed`). Anyone who knows the seed can craft colliding flows again.
HashSecrets hash_secrets_from_seed(std::uint64_t seed) noexcept;

}  // namespace ctlabeld
