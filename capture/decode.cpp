// SPDX-License-Identifier: GPL-3.0-or-later
// The per-packet decoder: link layer -> IP -> transport, every read checked against the capture.
#include <algorithm>
#include <cstring>

#include "ctlabeld/capture/packet.hpp"
#include "ctlabeld/common/icmp.hpp"

namespace ctlabeld::capture {
namespace {

// Each helper takes the bytes still available; callers check the length before reading, so
// no helper can read past the captured frame.
inline std::uint16_t load_be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
// NFLOG TLV headers and the DLT_NULL family are in the capturing host's byte order.
inline std::uint16_t load_host16(const std::uint8_t* p) noexcept {
  std::uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline std::uint32_t load_host32(const std::uint8_t* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline std::uint16_t clamp16(std::uint32_t v) noexcept {
  return static_cast<std::uint16_t>(std::min<std::uint32_t>(v, 65535));
}

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherIpv6 = 0x86dd;
constexpr std::uint16_t kEtherVlan = 0x8100;
constexpr std::uint16_t kEtherQinQ = 0x88a8;
constexpr std::uint16_t kEtherQinQOld = 0x9100;
constexpr std::uint16_t kEtherMplsUnicast = 0x8847;
constexpr std::uint16_t kEtherMplsMulticast = 0x8848;
constexpr std::uint16_t kEtherPppoeSession = 0x8864;
constexpr std::uint16_t kEtherMaxLength = 1500;  // below this the field is an 802.3 length
constexpr std::uint16_t kPppIpv4 = 0x0021;
constexpr std::uint16_t kPppIpv6 = 0x0057;
// Bounds pathological stacks of tags/labels/extension headers; real traffic uses a few.
constexpr int kMaxStackDepth = 16;

constexpr std::uint8_t kIpv6HopByHop = 0;
constexpr std::uint8_t kIpv6Routing = 43;
constexpr std::uint8_t kIpv6Fragment = 44;
constexpr std::uint8_t kIpv6Esp = 50;
constexpr std::uint8_t kIpv6Ah = 51;
constexpr std::uint8_t kIpv6NoNext = 59;
constexpr std::uint8_t kIpv6DestOpts = 60;
constexpr std::uint8_t kIpv6Mobility = 135;

// Transport header at `p` with `avail` bytes (already clamped to the IP length). `complete` says
// the whole IP datagram was captured: then a header that does not fit is the datagram's own
// shape (a tiny first fragment, RFC 1858, or a broken sender), not a short capture. Such a packet
// is still traffic between two hosts, so it is keyed by addresses and protocol with zero ports,
// exactly as nDPI's ndpiReader keys it (ip_fragmented_garbage.pcap has 29 of them).
DecodeStatus decode_l4(std::uint8_t protocol, const std::uint8_t* p, std::uint32_t avail,
                       bool complete, DecodedPacket& out) noexcept {
  FlowTuple& t = out.tuple;
  t.ip_protocol = protocol;
  const DecodeStatus short_header = complete ? DecodeStatus::kOk : DecodeStatus::kTruncated;
  switch (protocol) {
    case kProtoTcp: {
      if (avail < 20) return short_header;
      const std::uint32_t data_offset = static_cast<std::uint32_t>(p[12] >> 4) * 4;
      if (data_offset < 20) return DecodeStatus::kMalformed;
      if (avail < data_offset && !complete) return DecodeStatus::kTruncated;
      t.src_port = load_be16(p);
      t.dst_port = load_be16(p + 2);
      out.tcp_flags = p[13];
      out.l4_payload_len = avail > data_offset ? clamp16(avail - data_offset) : 0;
      return DecodeStatus::kOk;
    }
    case kProtoUdp: {
      if (avail < 8) return short_header;
      t.src_port = load_be16(p);
      t.dst_port = load_be16(p + 2);
      out.l4_payload_len = clamp16(avail - 8);
      return DecodeStatus::kOk;
    }
    case kProtoIcmp:
    case kProtoIcmpV6: {
      // Every ICMP message has an 8-byte header; shorter is a cut or broken packet.
      if (avail < 8) return short_header;
      t.icmp_type = p[0];
      t.icmp_code = p[1];
      t.icmp_id = icmp_is_query(protocol, p[0]) ? load_be16(p + 4) : 0;
      return DecodeStatus::kOk;
    }
    default: return DecodeStatus::kOk;  // other protocols: addresses and protocol are the whole key
  }
}

DecodeStatus decode_ipv4(const std::uint8_t* p, std::uint32_t avail, DecodedPacket& out) noexcept {
  if (avail < 20) return DecodeStatus::kTruncated;
  if ((p[0] >> 4) != 4) return DecodeStatus::kMalformed;
  const std::uint32_t header_len = static_cast<std::uint32_t>(p[0] & 0x0f) * 4;
  if (header_len < 20) return DecodeStatus::kMalformed;
  if (avail < header_len) return DecodeStatus::kTruncated;
  const std::uint32_t total_len = load_be16(p + 2);
  if (total_len < header_len) return DecodeStatus::kMalformed;
  // The IP length, not the frame, bounds the packet: Ethernet pads short frames to 60 bytes.
  const std::uint32_t len = std::min(avail, total_len);

  FlowTuple& t = out.tuple;
  t.ip_version = 4;
  t.ip_protocol = p[9];
  t.src = Address::from_v4(p + 12);
  t.dst = Address::from_v4(p + 16);
  out.l3 = p;
  out.l3_len = clamp16(len);

  const std::uint16_t fragment_offset = load_be16(p + 6) & 0x1fff;
  if (fragment_offset != 0) return DecodeStatus::kFragment;
  return decode_l4(p[9], p + header_len, len - header_len, avail >= total_len, out);
}

DecodeStatus decode_ipv6(const std::uint8_t* p, std::uint32_t avail, DecodedPacket& out) noexcept {
  if (avail < 40) return DecodeStatus::kTruncated;
  if ((p[0] >> 4) != 6) return DecodeStatus::kMalformed;
  const std::uint32_t payload_len = load_be16(p + 4);
  std::uint8_t next = p[6];
  // A zero payload length with a hop-by-hop header may be a jumbogram: trust the capture then.
  const bool jumbo = payload_len == 0 && next == kIpv6HopByHop;
  const std::uint32_t len = jumbo ? avail : std::min(avail, 40 + payload_len);
  const bool complete = !jumbo && avail >= 40 + payload_len;

  FlowTuple& t = out.tuple;
  t.ip_version = 6;
  t.src = Address::from_v6(p + 8);
  t.dst = Address::from_v6(p + 24);
  out.l3 = p;
  out.l3_len = clamp16(len);

  std::uint32_t off = 40;
  for (int depth = 0; depth < kMaxStackDepth; ++depth) {
    t.ip_protocol = next;
    switch (next) {
      case kIpv6HopByHop:
      case kIpv6Routing:
      case kIpv6DestOpts:
      case kIpv6Mobility:
      case kIpv6Ah: {
        if (len - off < 2) return DecodeStatus::kTruncated;
        const auto units = static_cast<std::uint32_t>(p[off + 1]);
        // AH counts its length in 4-byte units minus 2 (RFC 4302); the others in 8-byte units
        // minus 1.
        const std::uint32_t ext_len = next == kIpv6Ah ? (units + 2) * 4 : (units + 1) * 8;
        if (len - off < ext_len) return DecodeStatus::kTruncated;
        next = p[off];
        off += ext_len;
        break;
      }
      case kIpv6Fragment: {
        if (len - off < 8) return DecodeStatus::kTruncated;
        next = p[off];
        const std::uint16_t fragment_offset = load_be16(p + off + 2) >> 3;
        if (fragment_offset != 0) {
          t.ip_protocol = next;
          return DecodeStatus::kFragment;
        }
        off += 8;
        break;
      }
      case kIpv6Esp:
      case kIpv6NoNext:
        return DecodeStatus::kOk;  // nothing readable follows: the protocol is the key
      default: return decode_l4(next, p + off, len - off, complete, out);
    }
  }
  return DecodeStatus::kMalformed;  // more extension headers than any sane packet carries
}

// IP whose version the link layer does not say: read it from the first nibble.
DecodeStatus decode_ip_any(const std::uint8_t* p, std::uint32_t avail,
                           DecodedPacket& out) noexcept {
  if (avail < 1) return DecodeStatus::kTruncated;
  switch (p[0] >> 4) {
    case 4: return decode_ipv4(p, avail, out);
    case 6: return decode_ipv6(p, avail, out);
    default: return DecodeStatus::kMalformed;
  }
}

DecodeStatus decode_ppp_protocol(std::uint16_t protocol, const std::uint8_t* p, std::uint32_t avail,
                                 DecodedPacket& out) noexcept {
  switch (protocol) {
    case kPppIpv4: return decode_ipv4(p, avail, out);
    case kPppIpv6: return decode_ipv6(p, avail, out);
    default: return DecodeStatus::kNotIp;  // LCP, IPCP, CHAP, ...
  }
}

// Everything after an ethertype: VLAN tags, PPPoE, MPLS, then IP. Shared by Ethernet, SLL, SLL2
// and Cisco HDLC, which all name their payload with an ethertype.
DecodeStatus decode_ethertype(std::uint16_t type, const std::uint8_t* p, std::uint32_t avail,
                              DecodedPacket& out) noexcept {
  std::uint32_t off = 0;
  for (int depth = 0; depth < kMaxStackDepth; ++depth) {
    switch (type) {
      case kEtherIpv4: return decode_ipv4(p + off, avail - off, out);
      case kEtherIpv6: return decode_ipv6(p + off, avail - off, out);
      case kEtherVlan:
      case kEtherQinQ:
      case kEtherQinQOld:
        if (avail - off < 4) return DecodeStatus::kTruncated;
        out.tuple.vlan = load_be16(p + off) & 0x0fff;  // innermost tag wins, as in ndpiReader
        type = load_be16(p + off + 2);
        off += 4;
        break;
      case kEtherPppoeSession: {
        // version/type, code, session id, length, then the PPP protocol field.
        if (avail - off < 8) return DecodeStatus::kTruncated;
        const std::uint16_t protocol = load_be16(p + off + 6);
        off += 8;
        return decode_ppp_protocol(protocol, p + off, avail - off, out);
      }
      case kEtherMplsUnicast:
      case kEtherMplsMulticast: {
        // Walk the label stack to the bottom-of-stack bit; what follows carries no type, so
        // read the IP version nibble (pseudowire Ethernet payloads are not IP: kNotIp).
        bool bottom = false;
        for (int label = 0; label < kMaxStackDepth && !bottom; ++label) {
          if (avail - off < 4) return DecodeStatus::kTruncated;
          bottom = (load_be32(p + off) & 0x100) != 0;
          off += 4;
        }
        if (!bottom) return DecodeStatus::kMalformed;
        if (avail - off < 1) return DecodeStatus::kTruncated;
        switch (p[off] >> 4) {
          case 4: return decode_ipv4(p + off, avail - off, out);
          case 6: return decode_ipv6(p + off, avail - off, out);
          default: return DecodeStatus::kNotIp;
        }
      }
      default: return DecodeStatus::kNotIp;  // ARP, LLDP, 802.3 lengths, ...
    }
  }
  return DecodeStatus::kMalformed;  // a tag stack deeper than any real network builds
}

DecodeStatus decode_ethernet(const std::uint8_t* p, std::uint32_t avail,
                             DecodedPacket& out) noexcept {
  if (avail < 14) return DecodeStatus::kTruncated;
  const std::uint16_t type = load_be16(p + 12);
  if (type <= kEtherMaxLength) return DecodeStatus::kNotIp;  // 802.3 + LLC: STP, CDP, ...
  std::memcpy(out.dst_mac.bytes.data(), p, 6);
  std::memcpy(out.src_mac.bytes.data(), p + 6, 6);
  out.has_dst_mac = true;
  out.has_src_mac = true;
  return decode_ethertype(type, p + 14, avail - 14, out);
}

DecodeStatus decode_sll(const std::uint8_t* p, std::uint32_t avail, DecodedPacket& out) noexcept {
  // packet type, ARPHRD type, address length, 8 address bytes, protocol.
  constexpr std::uint16_t kArphrdNetlink = 824;
  if (avail < 16) return DecodeStatus::kTruncated;
  if (load_be16(p + 2) == kArphrdNetlink) return DecodeStatus::kNotIp;
  return decode_ethertype(load_be16(p + 14), p + 16, avail - 16, out);
}

DecodeStatus decode_sll2(const std::uint8_t* p, std::uint32_t avail, DecodedPacket& out) noexcept {
  // protocol, reserved, interface index, ARPHRD type, packet type, address length, 8 address bytes.
  constexpr std::uint16_t kArphrdNetlink = 824;
  if (avail < 20) return DecodeStatus::kTruncated;
  if (load_be16(p + 8) == kArphrdNetlink) return DecodeStatus::kNotIp;
  return decode_ethertype(load_be16(p), p + 20, avail - 20, out);
}

DecodeStatus decode_nflog(const std::uint8_t* p, std::uint32_t avail, DecodedPacket& out) noexcept {
  constexpr std::uint8_t kAfInet = 2;
  constexpr std::uint8_t kAfInet6 = 10;
  constexpr std::uint16_t kTlvPayload = 9;  // NFULA_PAYLOAD
  constexpr std::uint16_t kTlvIndev = 4;    // NFULA_IFINDEX_INDEV: __be32
  constexpr std::uint16_t kTlvOutdev = 5;   // NFULA_IFINDEX_OUTDEV: __be32
  constexpr std::uint16_t kTlvHwaddr = 8;   // NFULA_HWADDR: __be16 length, pad, 8 address bytes
  if (avail < 4) return DecodeStatus::kTruncated;
  const std::uint8_t family = p[0];
  if (family != kAfInet && family != kAfInet6) return DecodeStatus::kNotIp;
  out.nflog = true;
  std::uint32_t off = 4;
  while (true) {
    if (avail - off < 4) {
      // A clean end of the TLVs without a payload: the rule logged no packet bytes.
      return off == avail ? DecodeStatus::kNotIp : DecodeStatus::kTruncated;
    }
    const std::uint32_t tlv_len = load_host16(p + off);
    const std::uint16_t tlv_type = load_host16(p + off + 2);
    if (tlv_len < 4) return DecodeStatus::kMalformed;
    // Attribute values are in network order (the kernel writes them with htonl/htons); a value
    // cut by the snaplen is skipped, not read.
    const bool whole = avail - off >= tlv_len;
    if (tlv_type == kTlvIndev && tlv_len >= 8 && whole) {
      out.in_ifindex = load_be32(p + off + 4);
    } else if (tlv_type == kTlvOutdev && tlv_len >= 8 && whole) {
      out.out_ifindex = load_be32(p + off + 4);
    } else if (tlv_type == kTlvHwaddr && tlv_len >= 16 && whole && load_be16(p + off + 4) == 6) {
      std::memcpy(out.src_mac.bytes.data(), p + off + 8, 6);
      out.has_src_mac = true;
    }
    if (tlv_type == kTlvPayload) {
      // The payload may be cut by the snaplen; decode what was captured.
      const std::uint32_t payload_len = std::min(tlv_len - 4, avail - off - 4);
      const std::uint8_t* payload = p + off + 4;
      return family == kAfInet ? decode_ipv4(payload, payload_len, out)
                               : decode_ipv6(payload, payload_len, out);
    }
    const std::uint32_t padded = (tlv_len + 3) & ~std::uint32_t{3};
    if (avail - off < padded) return DecodeStatus::kTruncated;
    off += padded;
  }
}

DecodeStatus decode_null_family(std::uint32_t family, const std::uint8_t* p, std::uint32_t avail,
                                DecodedPacket& out) noexcept {
  // AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS), 10 (Linux).
  switch (family) {
    case 2: return decode_ipv4(p, avail, out);
    case 10:
    case 24:
    case 28:
    case 30: return decode_ipv6(p, avail, out);
    default: return DecodeStatus::kNotIp;
  }
}

DecodeStatus decode_null(const std::uint8_t* p, std::uint32_t avail, DecodedPacket& out) noexcept {
  if (avail < 4) return DecodeStatus::kTruncated;
  std::uint32_t family = load_host32(p);
  // A capture written on a host of the other byte order: families are small numbers.
  if ((family & 0xffff0000u) != 0) family = __builtin_bswap32(family);
  return decode_null_family(family, p + 4, avail - 4, out);
}

DecodeStatus decode_loop(const std::uint8_t* p, std::uint32_t avail, DecodedPacket& out) noexcept {
  if (avail < 4) return DecodeStatus::kTruncated;
  return decode_null_family(load_be32(p), p + 4, avail - 4, out);
}

// PPP as libpcap's PPP link types carry it: Cisco HDLC (address 0x0f/0x8f, control, ethertype),
// or PPP with optional address/control (0xff 0x03) and a 1- or 2-byte protocol field.
DecodeStatus decode_ppp(const std::uint8_t* p, std::uint32_t avail, DecodedPacket& out) noexcept {
  if (avail < 2) return DecodeStatus::kTruncated;
  if (p[0] == 0x0f || p[0] == 0x8f) {
    if (avail < 4) return DecodeStatus::kTruncated;
    return decode_ethertype(load_be16(p + 2), p + 4, avail - 4, out);
  }
  std::uint32_t off = 0;
  if (p[0] == 0xff && p[1] == 0x03) off = 2;
  if (avail - off < 1) return DecodeStatus::kTruncated;
  std::uint16_t protocol;
  if (p[off] & 0x01) {  // protocol-field compression: an odd first byte is the whole field
    protocol = p[off];
    off += 1;
  } else {
    if (avail - off < 2) return DecodeStatus::kTruncated;
    protocol = load_be16(p + off);
    off += 2;
  }
  return decode_ppp_protocol(protocol, p + off, avail - off, out);
}

}  // namespace

const char* to_string(DecodeStatus status) noexcept {
  switch (status) {
    case DecodeStatus::kOk: return "ok";
    case DecodeStatus::kTruncated: return "truncated";
    case DecodeStatus::kMalformed: return "malformed";
    case DecodeStatus::kNotIp: return "not_ip";
    case DecodeStatus::kUnsupportedLink: return "unsupported_link";
    case DecodeStatus::kFragment: return "fragment";
    case DecodeStatus::kCount: break;
  }
  return "invalid";
}

bool peek_addresses(LinkType link, const std::uint8_t* data, std::uint32_t caplen, Address& a,
                    Address& b) noexcept {
  const std::uint8_t* ip = data;
  std::uint32_t len = caplen;
  switch (link) {
    case LinkType::kEthernet: {
      if (caplen < 14) return false;
      const std::uint16_t type = load_be16(data + 12);
      if (type != 0x0800 && type != 0x86dd) return false;  // VLAN tags, PPPoE, MPLS: decode()
      ip += 14;
      len -= 14;
      break;
    }
    case LinkType::kRaw:
    case LinkType::kRawAlt:
    case LinkType::kIpv4:
    case LinkType::kIpv6: break;
    default: return false;
  }
  if (len >= 20 && ip[0] >> 4 == 4) {
    a = Address::from_v4(ip + 12);
    b = Address::from_v4(ip + 16);
    return true;
  }
  if (len >= 40 && ip[0] >> 4 == 6) {
    a = Address::from_v6(ip + 8);
    b = Address::from_v6(ip + 24);
    return true;
  }
  return false;
}

bool is_supported_link(int dlt) noexcept {
  switch (static_cast<LinkType>(dlt)) {
    case LinkType::kNull:
    case LinkType::kEthernet:
    case LinkType::kPpp:
    case LinkType::kRaw:
    case LinkType::kRawAlt:
    case LinkType::kPppSerial:
    case LinkType::kCHdlc:
    case LinkType::kLoop:
    case LinkType::kLinuxSll:
    case LinkType::kIpv4:
    case LinkType::kIpv6:
    case LinkType::kNflog:
    case LinkType::kLinuxSll2: return true;
  }
  return false;
}

DecodeStatus decode(LinkType link, const std::uint8_t* data, std::uint32_t caplen,
                    std::uint32_t wire_len, std::uint64_t ts_us, DecodedPacket& out) noexcept {
  out = DecodedPacket{};
  out.ts_us = ts_us;
  out.wire_len = wire_len;
  if (data == nullptr) caplen = 0;
  switch (link) {
    case LinkType::kEthernet: return decode_ethernet(data, caplen, out);
    case LinkType::kLinuxSll: return decode_sll(data, caplen, out);
    case LinkType::kLinuxSll2: return decode_sll2(data, caplen, out);
    case LinkType::kRaw:
    case LinkType::kRawAlt: return decode_ip_any(data, caplen, out);
    case LinkType::kIpv4: return decode_ipv4(data, caplen, out);
    case LinkType::kIpv6: return decode_ipv6(data, caplen, out);
    case LinkType::kNflog: return decode_nflog(data, caplen, out);
    case LinkType::kNull: return decode_null(data, caplen, out);
    case LinkType::kLoop: return decode_loop(data, caplen, out);
    case LinkType::kPpp:
    case LinkType::kPppSerial:
    case LinkType::kCHdlc: return decode_ppp(data, caplen, out);
  }
  return DecodeStatus::kUnsupportedLink;
}

}  // namespace ctlabeld::capture
