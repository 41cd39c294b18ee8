// SPDX-License-Identifier: GPL-3.0-or-later
// A packet reduced to what the pipeline needs: its flow tuple and its IP bytes for nDPI.
#pragma once

#include <cstdint>

#include "ctlabeld/common/net.hpp"

namespace ctlabeld::capture {

// Why a frame was not turned into a DecodedPacket. Each value has a counter.
enum class DecodeStatus : std::uint8_t {
  kOk = 0,
  kTruncated,        // a header runs past the captured bytes
  kMalformed,        // a header field is impossible (bad IHL, bad version, bad length)
  kNotIp,            // ARP, LLDP, ...: nothing to classify
  kUnsupportedLink,  // a link type we do not decode
  kFragment,         // a non-first IPv4/IPv6 fragment: counted, not classified
  kCount
};

const char* to_string(DecodeStatus status) noexcept;

// Link-layer types, numbered as libpcap's DLT_* values so a source can pass its datalink through.
enum class LinkType : int {
  kNull = 0,         // DLT_NULL: BSD loopback, 4-byte host-order family
  kEthernet = 1,     // DLT_EN10MB (with 802.1Q/QinQ, PPPoE session and MPLS)
  kPpp = 9,          // DLT_PPP: PPP, or Cisco HDLC framing as some captures label it
  kRaw = 12,         // DLT_RAW (some platforms use 14; the decoder accepts both)
  kRawAlt = 14,      // DLT_RAW as OpenBSD numbers it
  kPppSerial = 50,   // DLT_PPP_SERIAL: PPP in HDLC-like framing
  kCHdlc = 104,      // DLT_C_HDLC: Cisco HDLC (address, control, ethertype)
  kLoop = 108,       // DLT_LOOP: BSD loopback, network-order family
  kLinuxSll = 113,   // DLT_LINUX_SLL
  kIpv4 = 228,       // DLT_IPV4
  kIpv6 = 229,       // DLT_IPV6
  kNflog = 239,      // DLT_NFLOG
  kLinuxSll2 = 276,  // DLT_LINUX_SLL2
};

// Field meanings that callers rely on:
// - tuple.vlan is the VID of the innermost VLAN tag (802.1Q, 802.1ad or 0x9100), as nDPI's
//   ndpiReader keys flows (it keeps overwriting vlan_id while it walks the tags); 0 when untagged.
// - l3_len is min(captured bytes from l3, the IP header's own length), so Ethernet padding and
//   trailers never reach nDPI.
// - On kFragment, tuple's ip_version, ip_protocol, src and dst are filled (ports are not), so a
//   caller can attribute the fragment; on other non-kOk statuses `out` holds nothing useful.
struct DecodedPacket {
  std::uint64_t ts_us = 0;           // capture timestamp, microseconds since the epoch
  std::uint32_t wire_len = 0;        // original length on the wire
  FlowTuple tuple{};                 // as seen in this packet (src = this packet's sender)
  const std::uint8_t* l3 = nullptr;  // the IP header onward (what nDPI takes)
  std::uint16_t l3_len = 0;          // captured bytes from l3 (clamped to 65535)
  std::uint16_t l4_payload_len = 0;  // bytes of TCP/UDP payload captured
  std::uint8_t tcp_flags = 0;        // for TCP: the flags byte (FIN=1, SYN=2, RST=4, ACK=16)
  // Link-layer facts for the MAC and interface criteria. Ethernet gives both MACs; NFLOG gives
  // the sender's hardware address (NFULA_HWADDR, when the input device has one) and the input
  // and output interface indexes (NFULA_IFINDEX_INDEV/OUTDEV; 0 when absent).
  Mac src_mac{};
  Mac dst_mac{};
  bool has_src_mac = false;
  bool has_dst_mac = false;
  bool nflog = false;  // from an NFLOG group: in/out_ifindex are the kernel's
  std::uint32_t in_ifindex = 0;
  std::uint32_t out_ifindex = 0;
};

// Decodes one captured frame. Never reads past data[caplen). Returns kOk and fills `out`,
// or the reason the frame was skipped. `out.l3` points into `data`.
[[nodiscard]] DecodeStatus decode(LinkType link, const std::uint8_t* data, std::uint32_t caplen,
                                  std::uint32_t wire_len, std::uint64_t ts_us,
                                  DecodedPacket& out) noexcept;

// The two IP addresses of a frame without decoding the rest, for the common cases only (untagged
// Ethernet, raw IP): enough to pick the frame's worker before paying for a full decode. False
// when the frame is another shape; decode() then decides. When both succeed, decode() gives the
// same addresses (as tuple src/dst, in some order).
[[nodiscard]] bool peek_addresses(LinkType link, const std::uint8_t* data, std::uint32_t caplen,
                                  Address& a, Address& b) noexcept;

// True when libpcap's datalink value names a link type decode() understands.
bool is_supported_link(int dlt) noexcept;

}  // namespace ctlabeld::capture
