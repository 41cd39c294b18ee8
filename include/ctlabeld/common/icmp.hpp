// SPDX-License-Identifier: GPL-3.0-or-later
// The one ICMP table: the query/reply pairs conntrack tracks as connections (the kernel's
// invmap in nf_conntrack_proto_icmp.c / _icmpv6.c). Decoding (which types carry an identifier),
// flow keys (which exchanges are keyed by it), the initiator (a reply's sender is the responder)
// and the conntrack tuples (the reply direction) all read it, so they cannot disagree.
#pragma once

#include <cstdint>
#include <optional>

#include "ctlabeld/common/net.hpp"

namespace ctlabeld {

struct IcmpPair {
  std::uint8_t request;
  std::uint8_t reply;
};

inline constexpr IcmpPair kIcmpV4Pairs[] = {
    {8, 0},    // echo
    {13, 14},  // timestamp
    {15, 16},  // information
    {17, 18},  // address mask
};
inline constexpr IcmpPair kIcmpV6Pairs[] = {
    {128, 129},  // echo
    {139, 140},  // node information
};

// The pair `type` belongs to, or nothing (an error or other message: no connection of its own).
[[nodiscard]] constexpr std::optional<IcmpPair> icmp_pair(std::uint8_t ip_protocol,
                                                          std::uint8_t type) noexcept {
  if (ip_protocol == kProtoIcmp) {
    for (const IcmpPair& p : kIcmpV4Pairs)
      if (p.request == type || p.reply == type) return p;
  } else if (ip_protocol == kProtoIcmpV6) {
    for (const IcmpPair& p : kIcmpV6Pairs)
      if (p.request == type || p.reply == type) return p;
  }
  return std::nullopt;
}

// A query or reply: the message carries an identifier after its checksum, and conntrack keys
// the exchange by it.
[[nodiscard]] constexpr bool icmp_is_query(std::uint8_t ip_protocol, std::uint8_t type) noexcept {
  return icmp_pair(ip_protocol, type).has_value();
}

// A reply: its sender is the exchange's responder.
[[nodiscard]] constexpr bool icmp_is_reply(std::uint8_t ip_protocol, std::uint8_t type) noexcept {
  const auto p = icmp_pair(ip_protocol, type);
  return p && p->reply == type;
}

// The request type of a reply; any other type unchanged.
[[nodiscard]] constexpr std::uint8_t icmp_request_type(std::uint8_t ip_protocol,
                                                       std::uint8_t type) noexcept {
  const auto p = icmp_pair(ip_protocol, type);
  return p ? p->request : type;
}

// The other direction's type (request <-> reply), or nothing.
[[nodiscard]] constexpr std::optional<std::uint8_t> icmp_partner(std::uint8_t ip_protocol,
                                                                 std::uint8_t type) noexcept {
  const auto p = icmp_pair(ip_protocol, type);
  if (!p) return std::nullopt;
  return p->request == type ? p->reply : p->request;
}

}  // namespace ctlabeld
