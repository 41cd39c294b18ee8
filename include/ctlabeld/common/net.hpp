// SPDX-License-Identifier: GPL-3.0-or-later
// Addresses and flow tuples shared by every pipeline stage.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "ctlabeld/common/siphash.hpp"

namespace ctlabeld {

// An IPv4 or IPv6 address. IPv4 occupies bytes [0,4) and the rest stay zero, so one
// representation serves both families and keys compare without branching on version.
struct Address {
  std::array<std::uint8_t, 16> bytes{};

  static Address from_v4(const std::uint8_t* four) noexcept {
    Address a;
    for (int i = 0; i < 4; ++i) a.bytes[static_cast<std::size_t>(i)] = four[i];
    return a;
  }
  static Address from_v6(const std::uint8_t* sixteen) noexcept {
    Address a;
    for (int i = 0; i < 16; ++i) a.bytes[static_cast<std::size_t>(i)] = sixteen[i];
    return a;
  }
  friend auto operator<=>(const Address&, const Address&) = default;
};

// A symmetric keyed hash of two hosts: the same whichever sends. Picks a packet's worker, so every
// flow between two hosts meets one nDPI module, whose caches (4.2 learns a Zoom server from a
// TLS flow for the same hosts' UDP/8801 flows) are per module. Live capture and files alike.
// Keyed with a per-start secret (HashSecrets::routing), so that nobody can choose addresses that
// all land on one worker. Symmetric because the pair is put in a fixed order before hashing.
[[nodiscard]] inline std::uint64_t host_pair_hash(const Address& a, const Address& b,
                                                  const SipKey& key) noexcept {
  std::uint64_t x[2];
  std::uint64_t y[2];
  std::memcpy(x, a.bytes.data(), sizeof x);
  std::memcpy(y, b.bytes.data(), sizeof y);
  const bool swap = x[0] > y[0] || (x[0] == y[0] && x[1] > y[1]);
  const std::uint64_t* lo = swap ? y : x;
  const std::uint64_t* hi = swap ? x : y;
  if ((x[1] | y[1] | ((x[0] | y[0]) >> 32)) == 0) {
    // Both fit in 4 bytes (IPv4): one word. A different length from the 32-byte form, so the two
    // forms cannot be made to collide with each other.
    const std::uint64_t words[1] = {lo[0] | (hi[0] << 32)};
    return siphash13_words(key, words);
  }
  const std::uint64_t words[4] = {lo[0], lo[1], hi[0], hi[1]};
  return siphash13_words(key, words);
}

// Text form of an address ("192.0.2.1", "2001:db8::1") for logs and JSON.
std::string to_string(const Address& addr, std::uint8_t ip_version);

// Parses an IPv4 or IPv6 literal; returns the version (4 or 6) or 0 when the text is not one.
std::uint8_t parse_address(const std::string& text, Address& out);

inline constexpr std::uint8_t kProtoIcmp = 1;
inline constexpr std::uint8_t kProtoTcp = 6;
inline constexpr std::uint8_t kProtoUdp = 17;
inline constexpr std::uint8_t kProtoIcmpV6 = 58;

inline bool is_icmp(std::uint8_t ip_protocol) noexcept {
  return ip_protocol == kProtoIcmp || ip_protocol == kProtoIcmpV6;
}

// A connection as its initiator sent it: what conntrack calls the original tuple.
// For ICMP/ICMPv6 the ports are zero and type/code/id identify the exchange.
struct FlowTuple {
  std::uint8_t ip_version = 0;  // 4 or 6
  std::uint8_t ip_protocol = 0;
  std::uint16_t vlan = 0;
  Address src{};
  Address dst{};
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t icmp_type = 0;
  std::uint8_t icmp_code = 0;
  std::uint16_t icmp_id = 0;
};

// An Ethernet (EUI-48) address, for Netify's local_mac/other_mac criteria.
struct Mac {
  std::array<std::uint8_t, 6> bytes{};
  friend bool operator==(const Mac&, const Mac&) = default;
};

// "aa:bb:cc:dd:ee:ff" (or '-' separated, any case); false when the text is not one.
[[nodiscard]] bool parse_mac(std::string_view text, Mac& out) noexcept;
std::string to_string(const Mac& mac);

// The name of interface `ifindex` ("" for 0 or an index no interface has), resolved once per
// thread and index with if_indextoname: a worker makes one system call per new interface, and
// the view stays valid for the thread's life. A renamed interface keeps its first name.
std::string_view interface_name(std::uint32_t ifindex) noexcept;

}  // namespace ctlabeld
