// SPDX-License-Identifier: GPL-3.0-or-later
// Builds test frames byte by byte, so every decoder case states exactly what is on the wire.
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <utility>
#include <vector>

namespace ctlabeld::capture::test {

using Bytes = std::vector<std::uint8_t>;

inline void put8(Bytes& b, std::uint32_t v) { b.push_back(static_cast<std::uint8_t>(v)); }
inline void put16(Bytes& b, std::uint32_t v) {
  put8(b, v >> 8);
  put8(b, v);
}
inline void put32(Bytes& b, std::uint32_t v) {
  put16(b, v >> 16);
  put16(b, v);
}
// Host byte order, for the NFLOG TLV header and the DLT_NULL family.
inline void put16_host(Bytes& b, std::uint16_t v) {
  std::uint8_t raw[2];
  std::memcpy(raw, &v, 2);
  b.insert(b.end(), raw, raw + 2);
}
inline void put32_host(Bytes& b, std::uint32_t v) {
  std::uint8_t raw[4];
  std::memcpy(raw, &v, 4);
  b.insert(b.end(), raw, raw + 4);
}
inline void fill(Bytes& b, std::size_t n, std::uint8_t byte = 0xab) { b.insert(b.end(), n, byte); }
inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline const std::uint8_t kV4Src[4] = {192, 0, 2, 1};
inline const std::uint8_t kV4Dst[4] = {198, 51, 100, 2};
inline const std::uint8_t kV6Src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
inline const std::uint8_t kV6Dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

// --- transport ---------------------------------------------------------------------------
inline Bytes tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags,
                 std::size_t option_bytes, std::size_t payload,
                 std::uint8_t data_offset_words = 0) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put32(b, 0x01020304);  // seq
  put32(b, 0);           // ack
  const std::uint32_t words =
      data_offset_words != 0 ? data_offset_words : static_cast<std::uint32_t>(5 + option_bytes / 4);
  put8(b, words << 4);
  put8(b, flags);
  put16(b, 65535);              // window
  put16(b, 0);                  // checksum
  put16(b, 0);                  // urgent
  fill(b, option_bytes, 0x01);  // NOPs
  fill(b, payload);
  return b;
}

inline Bytes udp(std::uint16_t sport, std::uint16_t dport, std::size_t payload) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, static_cast<std::uint32_t>(8 + payload));
  put16(b, 0);
  fill(b, payload);
  return b;
}

// ICMP and ICMPv6 share the 8-byte header layout: type, code, checksum, id, sequence.
inline Bytes icmp(std::uint8_t type, std::uint8_t code, std::uint16_t id, std::size_t payload) {
  Bytes b;
  put8(b, type);
  put8(b, code);
  put16(b, 0);
  put16(b, id);
  put16(b, 7);
  fill(b, payload);
  return b;
}

// --- IP ----------------------------------------------------------------------------------
struct Ipv4Options {
  std::size_t option_bytes = 0;       // multiple of 4
  std::uint16_t fragment_offset = 0;  // in 8-byte units
  bool more_fragments = false;
  int total_len_override = -1;
  std::uint8_t version_override = 4;
  int ihl_override = -1;
};

inline Bytes ipv4(std::uint8_t protocol, const Bytes& l4, const Ipv4Options& o = {}) {
  Bytes b;
  const std::uint32_t ihl = o.ihl_override >= 0
                                ? static_cast<std::uint32_t>(o.ihl_override)
                                : static_cast<std::uint32_t>(5 + o.option_bytes / 4);
  put8(b, (std::uint32_t{o.version_override} << 4) | ihl);
  put8(b, 0);
  const std::uint32_t total = o.total_len_override >= 0
                                  ? static_cast<std::uint32_t>(o.total_len_override)
                                  : static_cast<std::uint32_t>(20 + o.option_bytes + l4.size());
  put16(b, total);
  put16(b, 0x1234);  // id
  put16(b, (o.more_fragments ? 0x2000u : 0u) | o.fragment_offset);
  put8(b, 64);
  put8(b, protocol);
  put16(b, 0);
  b.insert(b.end(), kV4Src, kV4Src + 4);
  b.insert(b.end(), kV4Dst, kV4Dst + 4);
  fill(b, o.option_bytes, 0x01);  // NOP options
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

// `after` is the extension headers and the transport, already chained.
inline Bytes ipv6(std::uint8_t next, const Bytes& after) {
  Bytes b;
  put32(b, 0x60000000);
  put16(b, static_cast<std::uint32_t>(after.size()));
  put8(b, next);
  put8(b, 64);
  b.insert(b.end(), kV6Src, kV6Src + 16);
  b.insert(b.end(), kV6Dst, kV6Dst + 16);
  b.insert(b.end(), after.begin(), after.end());
  return b;
}

// Hop-by-hop, routing, destination options, mobility: length in 8-byte units beyond the first 8.
inline Bytes ipv6_ext(std::uint8_t next, std::uint8_t len_units) {
  Bytes b;
  put8(b, next);
  put8(b, len_units);
  fill(b, 6 + std::size_t{len_units} * 8, 0x00);
  return b;
}
inline Bytes ipv6_fragment(std::uint8_t next, std::uint16_t offset_units, bool more) {
  Bytes b;
  put8(b, next);
  put8(b, 0);
  put16(b, static_cast<std::uint32_t>(offset_units << 3) | (more ? 1u : 0u));
  put32(b, 0xcafe);
  return b;
}
// AH: length in 4-byte units minus 2.
inline Bytes ipv6_ah(std::uint8_t next, std::uint8_t len_field) {
  Bytes b;
  put8(b, next);
  put8(b, len_field);
  put16(b, 0);
  put32(b, 0x100);  // SPI
  fill(b, (std::size_t{len_field} + 2) * 4 - 8, 0x00);
  return b;
}

// --- link layers -------------------------------------------------------------------------
struct Tag {
  std::uint16_t tpid;
  std::uint16_t vid;
};

inline Bytes ethernet(std::uint16_t type, std::initializer_list<Tag> tags = {}) {
  Bytes b;
  for (std::uint8_t i = 0; i < 12; ++i) put8(b, i + 1);  // dst, src MAC
  if (tags.size() == 0) {
    put16(b, type);
    return b;
  }
  const Tag* t = tags.begin();
  put16(b, t->tpid);
  for (++t; t != tags.end(); ++t) {
    put16(b, (t - 1)->vid | 0x2000);  // PCP bits set: only the 12-bit VID may be used
    put16(b, t->tpid);
  }
  put16(b, (tags.end() - 1)->vid | 0x2000);
  put16(b, type);
  return b;
}

inline Bytes pppoe_session(std::uint16_t ppp_protocol, std::size_t payload_len) {
  Bytes b;
  put8(b, 0x11);
  put8(b, 0x00);  // session data
  put16(b, 0x0042);
  put16(b, static_cast<std::uint32_t>(payload_len + 2));
  put16(b, ppp_protocol);
  return b;
}

inline Bytes mpls(std::initializer_list<std::uint32_t> labels) {
  Bytes b;
  std::size_t i = 0;
  for (auto label : labels) {
    const bool bottom = ++i == labels.size();
    put32(b, (label << 12) | (bottom ? 0x100u : 0u) | 64u);
  }
  return b;
}

inline Bytes sll(std::uint16_t protocol, std::uint16_t hatype = 1) {
  Bytes b;
  put16(b, 0);  // incoming
  put16(b, hatype);
  put16(b, 6);
  for (std::uint8_t i = 0; i < 8; ++i) put8(b, i < 6 ? 0x10 + i : 0);
  put16(b, protocol);
  return b;
}

inline Bytes sll2(std::uint16_t protocol, std::uint16_t hatype = 1) {
  Bytes b;
  put16(b, protocol);
  put16(b, 0);
  put32(b, 3);  // ifindex
  put16(b, hatype);
  put8(b, 4);  // outgoing
  put8(b, 6);
  for (std::uint8_t i = 0; i < 8; ++i) put8(b, i < 6 ? 0x20 + i : 0);
  return b;
}

inline Bytes nflog_header(std::uint8_t family) {
  Bytes b;
  put8(b, family);
  put8(b, 0);
  put16(b, 5);  // resource id (group)
  return b;
}
// One TLV with `value` and its padding to 4 bytes.
inline Bytes nflog_tlv(std::uint16_t type, const Bytes& value) {
  Bytes b;
  put16_host(b, static_cast<std::uint16_t>(4 + value.size()));
  put16_host(b, type);
  b.insert(b.end(), value.begin(), value.end());
  while (b.size() % 4 != 0) put8(b, 0);
  return b;
}

}  // namespace ctlabeld::capture::test
