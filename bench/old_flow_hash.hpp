// SPDX-License-Identifier: GPL-3.0-or-later
// The flow-table hash ctlabeld used before the keyed one (up to commit 881e6ea), kept only in the
// benchmarks: gen_pcap crafts a flood that collides under it, flow_hash_bench runs it for contrast.
// It is unkeyed, so anyone can compute it; the daemon no longer has it.
#pragma once

#include <cstdint>
#include <cstring>

namespace ctlabeld::bench {

// The old hash_key over a FlowKey's five 64-bit words.
inline std::uint64_t old_flow_hash(const std::uint64_t (&w)[5]) noexcept {
  const std::uint64_t a = w[0] ^ ((w[2] << 32) | (w[2] >> 32));
  const std::uint64_t b = w[1] ^ ((w[3] << 32) | (w[3] >> 32));
  std::uint64_t h =
      (a * 0x9e3779b97f4a7c15ULL) ^ (b * 0xc2b2ae3d27d4eb4fULL) ^ (w[4] * 0x165667b19e3779f9ULL);
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ULL;
  h ^= h >> 32;
  return h;
}

// The five words of the FlowKey ctlabeld builds for an IPv4 TCP/UDP packet (addresses in network
// byte order, as on the wire), without the daemon's headers: the lower (address, port) first.
inline void ipv4_key_words(const std::uint8_t (&src)[4], std::uint16_t sport,
                           const std::uint8_t (&dst)[4], std::uint16_t dport, std::uint8_t proto,
                           std::uint64_t (&w)[5]) noexcept {
  const int order = std::memcmp(src, dst, 4);
  const bool src_lower = order < 0 || (order == 0 && sport <= dport);
  const std::uint8_t* lo = src_lower ? src : dst;
  const std::uint8_t* hi = src_lower ? dst : src;
  const std::uint16_t lo_port = src_lower ? sport : dport;
  const std::uint16_t hi_port = src_lower ? dport : sport;
  std::uint8_t key[40] = {};
  std::memcpy(key, lo, 4);       // FlowKey::lo (16 bytes)
  std::memcpy(key + 16, hi, 4);  // FlowKey::hi
  std::memcpy(key + 32, &lo_port, 2);
  std::memcpy(key + 34, &hi_port, 2);
  // key[36..37]: vlan 0
  key[38] = 4;  // ip_version
  key[39] = proto;
  std::memcpy(w, key, sizeof key);
}

// The home slot mask of a FlowTable holding `max_flows` (a power of two at least twice as large).
inline std::uint64_t table_mask(std::uint64_t max_flows) noexcept {
  std::uint64_t p = 1;
  while (p < max_flows * 2) p <<= 1;
  return p - 1;
}

}  // namespace ctlabeld::bench
