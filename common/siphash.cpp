// SPDX-License-Identifier: GPL-3.0-or-later
// The hash tables' per-start secrets: from getrandom(2), or derived from a fixed seed for tests.
#include "ctlabeld/common/siphash.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

namespace ctlabeld {

namespace {

// splitmix64 (Steele, Lea and Flood): spreads a small seed over the key's 256 bits.
std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

Expected<HashSecrets> random_hash_secrets() {
  std::uint64_t words[4];
  auto* out = reinterpret_cast<unsigned char*>(words);
  std::size_t got = 0;
  while (got < sizeof words) {
    // Blocks only until the kernel's generator is first seeded (early boot), never after.
    const ssize_t n = getrandom(out + got, sizeof words - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Expected<HashSecrets>::failure(
          std::string("getrandom(2) failed while drawing the flow-hash secret: ") +
          std::strerror(errno) + " (ctlabeld needs Linux 3.17 or later)");
    }
    got += static_cast<std::size_t>(n);
  }
  return HashSecrets{SipKey{words[0], words[1]}, SipKey{words[2], words[3]}};
}

HashSecrets hash_secrets_from_seed(std::uint64_t seed) noexcept {
  std::uint64_t state = seed;
  HashSecrets s;
  s.flows.k0 = splitmix64(state);
  s.flows.k1 = splitmix64(state);
  s.routing.k0 = splitmix64(state);
  s.routing.k1 = splitmix64(state);
  return s;
}

}  // namespace ctlabeld
