// SPDX-License-Identifier: GPL-3.0-or-later
// Table-driven decoder tests: every link type, IP option/fragment/extension shape, and every
// truncation of every valid frame (in an exactly-sized buffer, so ASan sees any over-read).
#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "ctlabeld/capture/packet.hpp"
#include "frame_builder.hpp"

namespace ctlabeld::capture::test {
namespace {

struct Expect {
  std::uint8_t ip_version = 4;
  std::uint8_t ip_protocol = 0;
  std::uint16_t vlan = 0;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t icmp_type = 0;
  std::uint8_t icmp_code = 0;
  std::uint16_t icmp_id = 0;
  std::uint8_t tcp_flags = 0;
};

// A frame that decodes to kOk: prefix (link headers) + ip (the IP packet) + suffix (padding).
// `payload` counts the trailing bytes of `ip` that no header needs; cutting only those still
// decodes. `transport_payload` says whether they count as TCP/UDP payload.
struct OkCase {
  std::string name;
  LinkType link;
  Bytes prefix;
  Bytes ip;
  Bytes suffix;
  std::size_t payload;
  bool transport_payload;
  Expect expect;

  Bytes frame() const { return cat({prefix, ip, suffix}); }
  std::size_t required() const { return prefix.size() + ip.size() - payload; }
};

constexpr std::uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmp6 = 58, kGre = 47;
const SipKey kRouting = hash_secrets_from_seed(7).routing;
constexpr std::uint8_t kSyn = 0x02, kAck = 0x10, kPsh = 0x08;

Expect udp_v4(std::uint16_t sport, std::uint16_t dport, std::uint16_t vlan = 0) {
  Expect e;
  e.ip_protocol = kUdp;
  e.src_port = sport;
  e.dst_port = dport;
  e.vlan = vlan;
  return e;
}
Expect tcp_e(std::uint8_t version, std::uint16_t sport, std::uint16_t dport, std::uint8_t flags) {
  Expect e;
  e.ip_version = version;
  e.ip_protocol = kTcp;
  e.src_port = sport;
  e.dst_port = dport;
  e.tcp_flags = flags;
  return e;
}
Expect udp_v6(std::uint16_t sport, std::uint16_t dport) {
  Expect e = udp_v4(sport, dport);
  e.ip_version = 6;
  return e;
}
Expect icmp_e(std::uint8_t version, std::uint8_t type, std::uint8_t code, std::uint16_t id) {
  Expect e;
  e.ip_version = version;
  e.ip_protocol = version == 4 ? kIcmp : kIcmp6;
  e.icmp_type = type;
  e.icmp_code = code;
  e.icmp_id = id;
  return e;
}
Expect proto_only(std::uint8_t version, std::uint8_t protocol) {
  Expect e;
  e.ip_version = version;
  e.ip_protocol = protocol;
  return e;
}

Bytes nflog_prefix(std::uint8_t family, std::size_t ip_size) {
  Bytes hw;  // NFULA_PACKET_HDR: hw_protocol, hook, pad
  put16(hw, family == 2 ? 0x0800 : 0x86dd);
  put8(hw, 1);
  put8(hw, 0);
  Bytes prefix =
      cat({nflog_header(family), nflog_tlv(1, hw), nflog_tlv(10, Bytes{'t', 'e', 's', 't', 0})});
  put16_host(prefix, static_cast<std::uint16_t>(4 + ip_size));
  put16_host(prefix, 9);  // NFULA_PAYLOAD
  return prefix;
}
Bytes nflog_padding(std::size_t ip_size) { return Bytes((4 - ip_size % 4) % 4, 0); }

Bytes null_family(std::uint32_t family, bool network_order) {
  Bytes b;
  if (network_order) {
    put32(b, family);
  } else {
    put32_host(b, family);
  }
  return b;
}

// The case table keeps one case per row, columns aligned by hand.
// clang-format off
std::vector<OkCase> ok_cases() {
  std::vector<OkCase> c;
  const Bytes eth4 = ethernet(0x0800);
  const Bytes eth6 = ethernet(0x86dd);

  // --- Ethernet and its encapsulations -----------------------------------------------------
  c.push_back({"eth ipv4 tcp syn-ack with options", LinkType::kEthernet, eth4,
               ipv4(kTcp, tcp(443, 51000, kSyn | kAck, 12, 10)), {}, 10, true,
               tcp_e(4, 443, 51000, kSyn | kAck)});
  c.push_back({"eth ipv4 tcp no payload", LinkType::kEthernet, eth4, ipv4(kTcp, tcp(1, 2, kAck, 0, 0)),
               {}, 0, true, tcp_e(4, 1, 2, kAck)});
  {
    Ipv4Options o;
    o.option_bytes = 8;  // IHL 7
    c.push_back({"eth ipv4 with options udp", LinkType::kEthernet, eth4, ipv4(kUdp, udp(5353, 53, 5), o),
                 {}, 5, true, udp_v4(5353, 53)});
  }
  {
    Ipv4Options o;
    o.more_fragments = true;  // first fragment: offset 0, ports present
    c.push_back({"eth ipv4 first fragment udp", LinkType::kEthernet, eth4, ipv4(kUdp, udp(4000, 53, 20), o),
                 {}, 20, true, udp_v4(4000, 53)});
  }
  c.push_back({"eth 802.1q ipv4 udp", LinkType::kEthernet, ethernet(0x0800, {{0x8100, 100}}),
               ipv4(kUdp, udp(10, 20, 3)), {}, 3, true, udp_v4(10, 20, 100)});
  c.push_back({"eth qinq 88a8 keeps inner vid", LinkType::kEthernet,
               ethernet(0x0800, {{0x88a8, 10}, {0x8100, 20}}), ipv4(kUdp, udp(10, 20, 3)), {}, 3, true,
               udp_v4(10, 20, 20)});
  c.push_back({"eth qinq 9100 keeps inner vid", LinkType::kEthernet,
               ethernet(0x0800, {{0x9100, 30}, {0x8100, 4095}}), ipv4(kUdp, udp(10, 20, 3)), {}, 3, true,
               udp_v4(10, 20, 4095)});
  {
    const Bytes ip = ipv4(kUdp, udp(1701, 1701, 6));
    c.push_back({"eth pppoe ipv4 udp", LinkType::kEthernet,
                 cat({ethernet(0x8864), pppoe_session(0x0021, ip.size())}), ip, {}, 6, true,
                 udp_v4(1701, 1701)});
  }
  {
    const Bytes ip = ipv6(kTcp, tcp(80, 40000, kPsh | kAck, 0, 9));
    c.push_back({"eth vlan pppoe ipv6 tcp", LinkType::kEthernet,
                 cat({ethernet(0x8864, {{0x8100, 7}}), pppoe_session(0x0057, ip.size())}), ip, {}, 9, true,
                 [] {
                   Expect e = tcp_e(6, 80, 40000, kPsh | kAck);
                   e.vlan = 7;
                   return e;
                 }()});
  }
  c.push_back({"eth mpls two labels ipv4", LinkType::kEthernet, cat({ethernet(0x8847), mpls({16, 17})}),
               ipv4(kUdp, udp(1, 2, 4)), {}, 4, true, udp_v4(1, 2)});
  c.push_back({"eth mpls ipv6", LinkType::kEthernet, cat({ethernet(0x8847), mpls({99})}),
               ipv6(kUdp, udp(1, 2, 4)), {}, 4, true, udp_v6(1, 2)});
  c.push_back({"eth ipv4 icmp echo request id", LinkType::kEthernet, eth4, ipv4(kIcmp, icmp(8, 0, 0x1234, 16)),
               {}, 16, false, icmp_e(4, 8, 0, 0x1234)});
  c.push_back({"eth ipv4 icmp echo reply id", LinkType::kEthernet, eth4, ipv4(kIcmp, icmp(0, 0, 0xbeef, 0)),
               {}, 0, false, icmp_e(4, 0, 0, 0xbeef)});
  c.push_back({"eth ipv4 icmp timestamp id", LinkType::kEthernet, eth4, ipv4(kIcmp, icmp(13, 0, 77, 12)),
               {}, 12, false, icmp_e(4, 13, 0, 77)});
  c.push_back({"eth ipv4 icmp unreachable has no id", LinkType::kEthernet, eth4,
               ipv4(kIcmp, icmp(3, 1, 0x5555, 28)), {}, 28, false, icmp_e(4, 3, 1, 0)});
  c.push_back({"eth ipv6 icmpv6 echo request id", LinkType::kEthernet, eth6, ipv6(kIcmp6, icmp(128, 0, 0x4242, 8)),
               {}, 8, false, icmp_e(6, 128, 0, 0x4242)});
  c.push_back({"eth ipv6 icmpv6 echo reply id", LinkType::kEthernet, eth6, ipv6(kIcmp6, icmp(129, 0, 9, 0)),
               {}, 0, false, icmp_e(6, 129, 0, 9)});
  c.push_back({"eth ipv6 icmpv6 neighbour solicitation has no id", LinkType::kEthernet, eth6,
               ipv6(kIcmp6, icmp(135, 0, 0x7777, 16)), {}, 16, false, icmp_e(6, 135, 0, 0)});
  c.push_back({"eth ipv6 hop-by-hop + first fragment udp", LinkType::kEthernet, eth6,
               ipv6(0, cat({ipv6_ext(44, 0), ipv6_fragment(kUdp, 0, true), udp(546, 547, 11)})), {}, 11, true,
               udp_v6(546, 547)});
  c.push_back({"eth ipv6 routing + dest opts + mobility tcp", LinkType::kEthernet, eth6,
               ipv6(43, cat({ipv6_ext(60, 1), ipv6_ext(135, 2), ipv6_ext(kTcp, 0), tcp(22, 2222, kAck, 4, 7)})),
               {}, 7, true, tcp_e(6, 22, 2222, kAck)});
  c.push_back({"eth ipv6 ah tcp", LinkType::kEthernet, eth6,
               ipv6(51, cat({ipv6_ah(kTcp, 4), tcp(179, 1179, kSyn, 0, 0)})), {}, 0, true,
               tcp_e(6, 179, 1179, kSyn)});
  {
    Bytes esp;
    put32(esp, 0x1001);  // SPI
    fill(esp, 36);
    c.push_back({"eth ipv6 esp stops without ports", LinkType::kEthernet, eth6, ipv6(50, esp), {}, esp.size(),
                 false, proto_only(6, 50)});
  }
  c.push_back({"eth ipv6 hop-by-hop then no next header", LinkType::kEthernet, eth6,
               ipv6(0, cat({ipv6_ext(59, 0), Bytes(4, 0xee)})), {}, 4, false, proto_only(6, 59)});
  c.push_back({"eth ipv4 gre has no ports", LinkType::kEthernet, eth4, ipv4(kGre, Bytes(24, 0x11)), {}, 24, false,
               proto_only(4, kGre)});
  c.push_back({"eth ipv4 udp with ethernet padding", LinkType::kEthernet, eth4, ipv4(kUdp, udp(7, 9, 2)),
               Bytes(60 - 14 - 30, 0), 2, true, udp_v4(7, 9)});
  c.push_back({"eth ipv4 tcp with ethernet trailer", LinkType::kEthernet, eth4, ipv4(kTcp, tcp(5, 6, kAck, 0, 1)),
               Bytes(4, 0xff), 1, true, tcp_e(4, 5, 6, kAck)});

  // --- Linux cooked --------------------------------------------------------------------------
  c.push_back({"sll ipv4 udp", LinkType::kLinuxSll, sll(0x0800), ipv4(kUdp, udp(123, 123, 48)), {}, 48, true,
               udp_v4(123, 123)});
  c.push_back({"sll 802.1q ipv4 udp", LinkType::kLinuxSll, cat({sll(0x8100), Bytes{0x00, 0x05, 0x08, 0x00}}),
               ipv4(kUdp, udp(1, 2, 1)), {}, 1, true, udp_v4(1, 2, 5)});
  c.push_back({"sll2 ipv6 tcp", LinkType::kLinuxSll2, sll2(0x86dd), ipv6(kTcp, tcp(8080, 34567, kSyn, 20, 0)), {},
               0, true, tcp_e(6, 8080, 34567, kSyn)});
  c.push_back({"sll2 ipv4 udp", LinkType::kLinuxSll2, sll2(0x0800), ipv4(kUdp, udp(67, 68, 30)), {}, 30, true,
               udp_v4(67, 68)});

  // --- raw IP ---------------------------------------------------------------------------------
  c.push_back({"raw(12) ipv4 udp", LinkType::kRaw, {}, ipv4(kUdp, udp(1000, 2000, 3)), {}, 3, true,
               udp_v4(1000, 2000)});
  c.push_back({"raw(14) ipv6 udp", LinkType::kRawAlt, {}, ipv6(kUdp, udp(1000, 2000, 3)), {}, 3, true,
               udp_v6(1000, 2000)});
  c.push_back({"ipv4(228) tcp", LinkType::kIpv4, {}, ipv4(kTcp, tcp(1, 2, kSyn, 0, 5)), {}, 5, true,
               tcp_e(4, 1, 2, kSyn)});
  c.push_back({"ipv6(229) udp", LinkType::kIpv6, {}, ipv6(kUdp, udp(3, 4, 0)), {}, 0, true, udp_v6(3, 4)});

  // --- NFLOG ----------------------------------------------------------------------------------
  {
    const Bytes ip = ipv4(kUdp, udp(5060, 5060, 13));  // 41 bytes: the TLV needs 3 padding bytes
    c.push_back({"nflog ipv4 payload after other tlvs", LinkType::kNflog, nflog_prefix(2, ip.size()), ip,
                 nflog_padding(ip.size()), 13, true, udp_v4(5060, 5060)});
  }
  {
    const Bytes ip = ipv6(kTcp, tcp(443, 50000, kAck, 0, 2));
    c.push_back({"nflog ipv6 tcp", LinkType::kNflog, nflog_prefix(10, ip.size()), ip, nflog_padding(ip.size()), 2,
                 true, tcp_e(6, 443, 50000, kAck)});
  }

  // --- BSD loopback ---------------------------------------------------------------------------
  c.push_back({"null ipv4", LinkType::kNull, null_family(2, false), ipv4(kUdp, udp(1, 2, 2)), {}, 2, true,
               udp_v4(1, 2)});
  for (std::uint32_t fam : {24u, 28u, 30u}) {
    c.push_back({"null ipv6 family " + std::to_string(fam), LinkType::kNull, null_family(fam, false),
                 ipv6(kUdp, udp(1, 2, 2)), {}, 2, true, udp_v6(1, 2)});
  }
  c.push_back({"null ipv6 written by other-endian host", LinkType::kNull,
               null_family(__builtin_bswap32(28u), false), ipv6(kUdp, udp(1, 2, 2)), {}, 2, true, udp_v6(1, 2)});
  c.push_back({"loop ipv4", LinkType::kLoop, null_family(2, true), ipv4(kTcp, tcp(1, 2, kSyn, 0, 0)), {}, 0, true,
               tcp_e(4, 1, 2, kSyn)});
  c.push_back({"loop ipv6", LinkType::kLoop, null_family(30, true), ipv6(kUdp, udp(1, 2, 1)), {}, 1, true,
               udp_v6(1, 2)});

  // --- PPP / Cisco HDLC -----------------------------------------------------------------------
  c.push_back({"ppp compressed address ipv4", LinkType::kPpp, Bytes{0x00, 0x21}, ipv4(kUdp, udp(1, 443, 9)), {},
               9, true, udp_v4(1, 443)});
  c.push_back({"ppp serial ff03 ipv6", LinkType::kPppSerial, Bytes{0xff, 0x03, 0x00, 0x57},
               ipv6(kUdp, udp(1, 443, 9)), {}, 9, true, udp_v6(1, 443)});
  c.push_back({"ppp link carrying cisco hdlc", LinkType::kPpp, Bytes{0x0f, 0x00, 0x08, 0x00},
               ipv4(kTcp, tcp(18324, 179, kSyn, 4, 0)), {}, 0, true, tcp_e(4, 18324, 179, kSyn)});
  c.push_back({"c_hdlc ipv6", LinkType::kCHdlc, Bytes{0x8f, 0x00, 0x86, 0xdd}, ipv6(kUdp, udp(1, 2, 0)), {}, 0,
               true, udp_v6(1, 2)});
  return c;
}
// clang-format on

Address expected_src(std::uint8_t version) {
  return version == 4 ? Address::from_v4(kV4Src) : Address::from_v6(kV6Src);
}
Address expected_dst(std::uint8_t version) {
  return version == 4 ? Address::from_v4(kV4Dst) : Address::from_v6(kV6Dst);
}

// Decodes the first `n` bytes of `frame` from a heap buffer of exactly `n` bytes.
DecodeStatus decode_prefix(LinkType link, const Bytes& frame, std::size_t n, DecodedPacket& out,
                           std::unique_ptr<std::uint8_t[]>& holder) {
  holder.reset(new std::uint8_t[n]);
  if (n > 0) std::memcpy(holder.get(), frame.data(), n);
  return decode(link, holder.get(), static_cast<std::uint32_t>(n),
                static_cast<std::uint32_t>(frame.size()), 1'600'000'000'123'456ULL, out);
}

}  // namespace

TEST_CASE("decode: every valid frame fills the whole DecodedPacket", "[capture][decode]") {
  for (const OkCase& tc : ok_cases()) {
    SECTION(tc.name) {
      const Bytes frame = tc.frame();
      std::unique_ptr<std::uint8_t[]> holder;
      DecodedPacket out;
      REQUIRE(decode_prefix(tc.link, frame, frame.size(), out, holder) == DecodeStatus::kOk);
      const Expect& e = tc.expect;
      CHECK(out.ts_us == 1'600'000'000'123'456ULL);
      CHECK(out.wire_len == frame.size());
      CHECK(out.tuple.ip_version == e.ip_version);
      CHECK(int(out.tuple.ip_protocol) == int(e.ip_protocol));
      CHECK(out.tuple.vlan == e.vlan);
      CHECK(out.tuple.src == expected_src(e.ip_version));
      CHECK(out.tuple.dst == expected_dst(e.ip_version));
      CHECK(out.tuple.src_port == e.src_port);
      CHECK(out.tuple.dst_port == e.dst_port);
      CHECK(int(out.tuple.icmp_type) == int(e.icmp_type));
      CHECK(int(out.tuple.icmp_code) == int(e.icmp_code));
      CHECK(out.tuple.icmp_id == e.icmp_id);
      CHECK(int(out.tcp_flags) == int(e.tcp_flags));
      CHECK(out.l3 == holder.get() + tc.prefix.size());
      CHECK(out.l3_len == tc.ip.size());  // padding and trailers excluded
      CHECK(out.l4_payload_len == (tc.transport_payload ? tc.payload : 0));
    }
  }
}

TEST_CASE("peek_addresses agrees with decode wherever it answers, at every length",
          "[capture][decode]") {
  std::size_t peeked = 0;
  for (const OkCase& tc : ok_cases()) {
    const Bytes frame = tc.frame();
    for (std::size_t n = 0; n <= frame.size(); ++n) {
      INFO(tc.name << ", first " << n << " bytes");
      std::unique_ptr<std::uint8_t[]> holder;
      DecodedPacket out;
      const DecodeStatus status = decode_prefix(tc.link, frame, n, out, holder);
      Address a;
      Address b;
      if (!peek_addresses(tc.link, holder.get(), static_cast<std::uint32_t>(n), a, b)) continue;
      ++peeked;
      if (status != DecodeStatus::kOk) continue;  // counted by the peeked owner; nothing to compare
      // The worker a peek picks is the worker the decoded packet would pick.
      CHECK(host_pair_hash(a, b, kRouting) ==
            host_pair_hash(out.tuple.src, out.tuple.dst, kRouting));
      CHECK(((a == out.tuple.src && b == out.tuple.dst) ||
             (a == out.tuple.dst && b == out.tuple.src)));
    }
  }
  CHECK(peeked > 100);  // Ethernet and raw IP frames take the short way
}

TEST_CASE("host_pair_hash is the same both ways and differs between pairs", "[capture][decode]") {
  const Address a = Address::from_v4(kV4Src);
  const Address b = Address::from_v4(kV4Dst);
  const Address c = Address::from_v6(kV6Src);
  CHECK(host_pair_hash(a, b, kRouting) == host_pair_hash(b, a, kRouting));
  CHECK(host_pair_hash(a, c, kRouting) == host_pair_hash(c, a, kRouting));
  CHECK(host_pair_hash(a, b, kRouting) != host_pair_hash(a, c, kRouting));
  CHECK(host_pair_hash(a, a, kRouting) != host_pair_hash(b, b, kRouting));
  // Spread over two and three workers: 2,000 pairs land within 10% of an even split.
  std::size_t two[2] = {}, three[3] = {};
  for (std::uint32_t i = 0; i < 2000; ++i) {
    const std::uint8_t x[4] = {10, 0, static_cast<std::uint8_t>(i >> 8),
                               static_cast<std::uint8_t>(i)};
    const std::uint64_t h = host_pair_hash(Address::from_v4(x), b, kRouting);
    ++two[h % 2];
    ++three[h % 3];
  }
  for (auto n : two) CHECK(n > 900);
  for (auto n : three) CHECK(n > 600);
}

TEST_CASE("host_pair_hash is keyed: another secret sends the same pairs to other workers",
          "[capture][decode]") {
  // A flood from many spoofed sources to one victim: which worker each source lands on must
  // depend on the per-start secret, so no fixed list of sources can pick one worker.
  const SipKey other = hash_secrets_from_seed(8).routing;
  const Address victim = Address::from_v4(kV4Dst);
  const Address victim6 = Address::from_v6(kV6Dst);
  std::size_t moved = 0;
  std::size_t moved6 = 0;
  for (std::uint32_t i = 0; i < 1000; ++i) {
    const std::uint8_t x[4] = {198, 18, static_cast<std::uint8_t>(i >> 8),
                               static_cast<std::uint8_t>(i)};
    const Address src = Address::from_v4(x);
    moved += host_pair_hash(src, victim, kRouting) % 2 != host_pair_hash(src, victim, other) % 2;
    Address src6 = Address::from_v6(kV6Src);
    src6.bytes[14] = static_cast<std::uint8_t>(i >> 8);
    src6.bytes[15] = static_cast<std::uint8_t>(i);
    CHECK(host_pair_hash(src6, victim6, kRouting) == host_pair_hash(victim6, src6, kRouting));
    moved6 +=
        host_pair_hash(src6, victim6, kRouting) % 2 != host_pair_hash(src6, victim6, other) % 2;
  }
  // Independent secrets: about half the sources change worker (binomial, 1000 draws).
  CHECK(moved > 400);
  CHECK(moved < 600);
  CHECK(moved6 > 400);
  CHECK(moved6 < 600);
}

TEST_CASE("decode: every truncation of every valid frame is safe and judged", "[capture][decode]") {
  for (const OkCase& tc : ok_cases()) {
    SECTION(tc.name) {
      const Bytes frame = tc.frame();
      const std::size_t required = tc.required();
      for (std::size_t n = 0; n < frame.size(); ++n) {
        INFO("prefix length " << n << " of " << frame.size() << ", headers end at " << required);
        std::unique_ptr<std::uint8_t[]> holder;
        DecodedPacket out;
        const DecodeStatus st = decode_prefix(tc.link, frame, n, out, holder);
        if (n < required) {
          CHECK(st != DecodeStatus::kOk);
          CHECK(st != DecodeStatus::kUnsupportedLink);
        } else {
          REQUIRE(st == DecodeStatus::kOk);
          const std::size_t captured_ip = std::min(n - tc.prefix.size(), tc.ip.size());
          CHECK(out.l3_len == captured_ip);
          const std::size_t payload = std::min(n, tc.prefix.size() + tc.ip.size()) - required;
          CHECK(out.l4_payload_len == (tc.transport_payload ? payload : 0));
          CHECK(out.tuple.src_port == tc.expect.src_port);
          CHECK(out.tuple.dst_port == tc.expect.dst_port);
        }
      }
    }
  }
}

namespace {
struct BadCase {
  std::string name;
  LinkType link;
  Bytes frame;
  DecodeStatus status;
};

std::vector<BadCase> bad_cases() {
  std::vector<BadCase> c;
  const Bytes eth4 = ethernet(0x0800);
  const Bytes eth6 = ethernet(0x86dd);
  Bytes arp = ethernet(0x0806);
  fill(arp, 28);
  c.push_back({"arp", LinkType::kEthernet, arp, DecodeStatus::kNotIp});
  Bytes llc = ethernet(0x0026);  // an 802.3 length: LLC follows (spanning tree)
  fill(llc, 38);
  c.push_back({"802.3 llc", LinkType::kEthernet, llc, DecodeStatus::kNotIp});
  {
    Ipv4Options o;
    o.fragment_offset = 185;
    c.push_back({"ipv4 non-first fragment", LinkType::kEthernet,
                 cat({eth4, ipv4(kUdp, Bytes(100, 0x42), o)}), DecodeStatus::kFragment});
    o.more_fragments = true;
    c.push_back({"ipv4 middle fragment", LinkType::kEthernet,
                 cat({eth4, ipv4(kUdp, Bytes(100, 0x42), o)}), DecodeStatus::kFragment});
  }
  c.push_back({"ipv6 non-first fragment", LinkType::kEthernet,
               cat({eth6, ipv6(44, cat({ipv6_fragment(kUdp, 3, false), Bytes(24, 0x42)}))}),
               DecodeStatus::kFragment});
  {
    Ipv4Options o;
    o.version_override = 5;
    c.push_back({"ipv4 ethertype with version 5", LinkType::kEthernet,
                 cat({eth4, ipv4(kUdp, udp(1, 2, 0), o)}), DecodeStatus::kMalformed});
  }
  {
    Ipv4Options o;
    o.ihl_override = 4;
    c.push_back({"ipv4 ihl 4", LinkType::kEthernet, cat({eth4, ipv4(kUdp, udp(1, 2, 0), o)}),
                 DecodeStatus::kMalformed});
  }
  {
    Ipv4Options o;
    o.total_len_override = 19;
    c.push_back({"ipv4 total length below header", LinkType::kEthernet,
                 cat({eth4, ipv4(kUdp, udp(1, 2, 0), o)}), DecodeStatus::kMalformed});
  }
  c.push_back({"tcp data offset 4", LinkType::kEthernet,
               cat({eth4, ipv4(kTcp, tcp(1, 2, kSyn, 0, 8, 4))}), DecodeStatus::kMalformed});
  c.push_back({"dlt ipv4 carrying ipv6", LinkType::kIpv4, ipv6(kUdp, udp(1, 2, 0)),
               DecodeStatus::kMalformed});
  c.push_back({"dlt ipv6 carrying ipv4", LinkType::kIpv6, ipv4(kUdp, udp(1, 2, 30)),
               DecodeStatus::kMalformed});
  c.push_back({"raw with version 0", LinkType::kRaw, Bytes(40, 0), DecodeStatus::kMalformed});
  c.push_back({"ppi is unsupported", static_cast<LinkType>(192),
               cat({eth4, ipv4(kUdp, udp(1, 2, 0))}), DecodeStatus::kUnsupportedLink});
  c.push_back({"pppoe lcp", LinkType::kEthernet,
               cat({ethernet(0x8864), pppoe_session(0xc021, 10), Bytes(10, 1)}),
               DecodeStatus::kNotIp});
  c.push_back({"pppoe discovery", LinkType::kEthernet, cat({ethernet(0x8863), Bytes(20, 0)}),
               DecodeStatus::kNotIp});
  c.push_back({"mpls ethernet pseudowire", LinkType::kEthernet,
               cat({ethernet(0x8847), mpls({5}), ethernet(0x0800), ipv4(kUdp, udp(1, 2, 0))}),
               DecodeStatus::kNotIp});
  {
    Bytes deep = ethernet(0x8847);
    for (int i = 0; i < 40; ++i) put32(deep, 0x00010040);  // no bottom-of-stack bit, ever
    c.push_back(
        {"mpls without bottom of stack", LinkType::kEthernet, deep, DecodeStatus::kMalformed});
  }
  {
    Bytes tags = ethernet(0x8100);
    for (int i = 0; i < 40; ++i) {
      put16(tags, 1);
      put16(tags, 0x8100);
    }
    c.push_back({"endless vlan tags", LinkType::kEthernet, tags, DecodeStatus::kMalformed});
  }
  {
    Bytes after;
    for (int i = 0; i < 30; ++i) {
      const Bytes ext = ipv6_ext(60, 0);
      after.insert(after.end(), ext.begin(), ext.end());
    }
    c.push_back({"ipv6 endless extension headers", LinkType::kEthernet,
                 cat({eth6, ipv6(60, after)}), DecodeStatus::kMalformed});
  }
  c.push_back({"sll netlink", LinkType::kLinuxSll, cat({sll(0x0000, 824), Bytes(20, 0)}),
               DecodeStatus::kNotIp});
  c.push_back(
      {"sll arp", LinkType::kLinuxSll, cat({sll(0x0806), Bytes(28, 0)}), DecodeStatus::kNotIp});
  c.push_back({"sll2 netlink", LinkType::kLinuxSll2, cat({sll2(0x0000, 824), Bytes(20, 0)}),
               DecodeStatus::kNotIp});
  c.push_back({"nflog bridge family", LinkType::kNflog,
               cat({nflog_header(7), nflog_tlv(9, Bytes(20, 0x45))}), DecodeStatus::kNotIp});
  c.push_back({"nflog without payload tlv", LinkType::kNflog,
               cat({nflog_header(2), nflog_tlv(10, Bytes{'x', 0})}), DecodeStatus::kNotIp});
  {
    Bytes zero_len = nflog_header(2);
    put16_host(zero_len, 2);  // shorter than its own header: walking it would loop forever
    put16_host(zero_len, 1);
    fill(zero_len, 8);
    c.push_back({"nflog tlv length below 4", LinkType::kNflog, zero_len, DecodeStatus::kMalformed});
  }
  {
    Bytes past = nflog_header(2);
    put16_host(past, 200);  // a non-payload TLV running past the capture
    put16_host(past, 10);
    fill(past, 8);
    c.push_back({"nflog tlv beyond capture", LinkType::kNflog, past, DecodeStatus::kTruncated});
  }
  c.push_back({"null unknown family", LinkType::kNull, cat({null_family(7, false), Bytes(40, 0)}),
               DecodeStatus::kNotIp});
  c.push_back({"ppp lcp", LinkType::kPpp, cat({Bytes{0xff, 0x03, 0xc0, 0x21}, Bytes(10, 0)}),
               DecodeStatus::kNotIp});
  c.push_back({"cisco hdlc slarp", LinkType::kCHdlc,
               cat({Bytes{0x8f, 0x00, 0x80, 0x35}, Bytes(20, 0)}), DecodeStatus::kNotIp});
  return c;
}
}  // namespace

TEST_CASE("decode: frames that must not become packets say why", "[capture][decode]") {
  for (const BadCase& tc : bad_cases()) {
    SECTION(tc.name) {
      std::unique_ptr<std::uint8_t[]> holder;
      DecodedPacket out;
      CHECK(decode_prefix(tc.link, tc.frame, tc.frame.size(), out, holder) == tc.status);
      // Every prefix is safe too.
      for (std::size_t n = 0; n < tc.frame.size(); ++n) {
        INFO("prefix length " << n);
        CHECK(decode_prefix(tc.link, tc.frame, n, out, holder) != DecodeStatus::kOk);
      }
    }
  }
}

TEST_CASE("decode: a fragment carries its addresses and protocol", "[capture][decode]") {
  Ipv4Options o;
  o.fragment_offset = 10;
  const Bytes frame = cat({ethernet(0x0800), ipv4(kUdp, Bytes(64, 0x42), o)});
  DecodedPacket out;
  REQUIRE(decode(LinkType::kEthernet, frame.data(), static_cast<std::uint32_t>(frame.size()),
                 static_cast<std::uint32_t>(frame.size()), 0, out) == DecodeStatus::kFragment);
  CHECK(out.tuple.ip_version == 4);
  CHECK(int(out.tuple.ip_protocol) == kUdp);
  CHECK(out.tuple.src == Address::from_v4(kV4Src));
  CHECK(out.tuple.dst == Address::from_v4(kV4Dst));
  CHECK(out.tuple.src_port == 0);

  const Bytes frame6 =
      cat({ethernet(0x86dd),
           ipv6(0, cat({ipv6_ext(44, 0), ipv6_fragment(kTcp, 1, true), Bytes(16, 0x42)}))});
  REQUIRE(decode(LinkType::kEthernet, frame6.data(), static_cast<std::uint32_t>(frame6.size()),
                 static_cast<std::uint32_t>(frame6.size()), 0, out) == DecodeStatus::kFragment);
  CHECK(out.tuple.ip_version == 6);
  CHECK(int(out.tuple.ip_protocol) == kTcp);
  CHECK(out.tuple.src == Address::from_v6(kV6Src));
}

TEST_CASE("decode: a complete datagram too short for its transport header keeps addresses",
          "[capture][decode]") {
  // As ndpiReader keys them: the capture holds the whole datagram, so nothing was cut.
  struct Short {
    const char* name;
    Bytes ip;
    std::uint8_t protocol;
    std::uint16_t dst_port;
  };
  Ipv4Options tiny_fragment;
  tiny_fragment.more_fragments = true;
  Ipv4Options short_total;
  short_total.total_len_override = 40;  // 20 bytes of a 32-byte TCP header
  const Short cases[] = {
      {"tiny first fragment with 16 bytes of tcp", ipv4(kTcp, Bytes(16, 0x11), tiny_fragment), kTcp,
       0},
      {"udp datagram of 4 bytes", ipv4(kUdp, Bytes(4, 0x22)), kUdp, 0},
      {"icmp of 4 bytes", ipv4(kIcmp, Bytes{8, 0, 0, 0}), kIcmp, 0},
      {"ipv6 tcp of 10 bytes", ipv6(kTcp, Bytes(10, 0x33)), kTcp, 0},
      {"tcp options beyond the ip length", ipv4(kTcp, tcp(1, 2, kSyn, 12, 0), short_total), kTcp,
       2},
  };
  for (const Short& tc : cases) {
    SECTION(tc.name) {
      const Bytes frame = cat({ethernet(tc.ip[0] >> 4 == 4 ? 0x0800 : 0x86dd), tc.ip});
      std::unique_ptr<std::uint8_t[]> holder;
      DecodedPacket out;
      REQUIRE(decode_prefix(LinkType::kEthernet, frame, frame.size(), out, holder) ==
              DecodeStatus::kOk);
      CHECK(int(out.tuple.ip_protocol) == tc.protocol);
      CHECK(out.tuple.dst_port == tc.dst_port);
      CHECK(out.l4_payload_len == 0);
      CHECK(out.tuple.icmp_type == 0);
      CHECK(out.tuple.icmp_id == 0);
      // Cut by the capture instead, the same header is a truncation.
      const std::size_t datagram = tc.ip[0] >> 4 == 4
                                       ? (std::size_t{tc.ip[2]} << 8 | tc.ip[3])
                                       : 40 + (std::size_t{tc.ip[4]} << 8 | tc.ip[5]);
      CHECK(decode_prefix(LinkType::kEthernet, frame, 14 + datagram - 1, out, holder) ==
            DecodeStatus::kTruncated);
    }
  }
}

TEST_CASE("decode: the output is reset between packets", "[capture][decode]") {
  const Bytes tcp_frame = cat({ethernet(0x0800, {{0x8100, 9}}), ipv4(kTcp, tcp(1, 2, kSyn, 0, 3))});
  Bytes arp = ethernet(0x0806);
  fill(arp, 28);
  DecodedPacket out;
  REQUIRE(decode(LinkType::kEthernet, tcp_frame.data(),
                 static_cast<std::uint32_t>(tcp_frame.size()), 0, 0, out) == DecodeStatus::kOk);
  REQUIRE(out.tuple.vlan == 9);
  REQUIRE(decode(LinkType::kEthernet, arp.data(), static_cast<std::uint32_t>(arp.size()), 0, 5,
                 out) == DecodeStatus::kNotIp);
  CHECK(out.tuple.vlan == 0);
  CHECK(out.tuple.src_port == 0);
  CHECK(out.tcp_flags == 0);
  CHECK(out.l3 == nullptr);
  CHECK(out.ts_us == 5);
  // A null buffer is an empty capture, not a crash.
  CHECK(decode(LinkType::kEthernet, nullptr, 100, 100, 0, out) == DecodeStatus::kTruncated);
}

TEST_CASE("decode: l3_len is clamped to 65535", "[capture][decode]") {
  // A jumbogram: payload length 0 and a hop-by-hop header; only the capture bounds it.
  Bytes after = cat({ipv6_ext(kUdp, 0), udp(1, 2, 70000)});
  Bytes frame = ipv6(0, after);
  frame[4] = 0;
  frame[5] = 0;
  DecodedPacket out;
  REQUIRE(decode(LinkType::kIpv6, frame.data(), static_cast<std::uint32_t>(frame.size()),
                 static_cast<std::uint32_t>(frame.size()), 0, out) == DecodeStatus::kOk);
  CHECK(out.l3_len == 65535);
  CHECK(out.l4_payload_len == 65535);
}

TEST_CASE("decode: status names and supported links", "[capture][decode]") {
  std::set<std::string> names;
  for (int s = 0; s < static_cast<int>(DecodeStatus::kCount); ++s) {
    const std::string name = to_string(static_cast<DecodeStatus>(s));
    CHECK_FALSE(name.empty());
    CHECK(name != "invalid");
    names.insert(name);
  }
  CHECK(names.size() == static_cast<std::size_t>(DecodeStatus::kCount));
  CHECK(std::string(to_string(DecodeStatus::kFragment)) == "fragment");

  for (int dlt : {0, 1, 9, 12, 14, 50, 104, 108, 113, 228, 229, 239, 276}) {
    INFO("dlt " << dlt);
    CHECK(is_supported_link(dlt));
  }
  for (int dlt : {-1, 2, 105, 127, 192, 220, 9999}) {
    INFO("dlt " << dlt);
    CHECK_FALSE(is_supported_link(dlt));
  }
}

TEST_CASE("decode: link facts for the MAC and interface criteria", "[capture][decode]") {
  const Bytes ip = ipv4(17, udp(5353, 53, 4));
  SECTION("Ethernet gives both MACs, no interface indexes") {
    const Bytes frame = cat({ethernet(0x0800), ip});
    DecodedPacket out;
    REQUIRE(decode(LinkType::kEthernet, frame.data(), static_cast<std::uint32_t>(frame.size()),
                   static_cast<std::uint32_t>(frame.size()), 0, out) == DecodeStatus::kOk);
    CHECK(out.has_dst_mac);
    CHECK(out.has_src_mac);
    CHECK(to_string(out.dst_mac) == "01:02:03:04:05:06");
    CHECK(to_string(out.src_mac) == "07:08:09:0a:0b:0c");
    CHECK_FALSE(out.nflog);
    CHECK(out.in_ifindex == 0);
  }
  SECTION("NFLOG gives indev, outdev and the sender's hardware address") {
    Bytes indev, outdev, hw;
    put32(indev, 7);  // __be32
    put32(outdev, 9);
    put16(hw, 6);  // hw_addrlen (__be16), pad, 8 address bytes
    put16(hw, 0);
    for (const int b : {0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00}) {
      put8(hw, static_cast<std::uint8_t>(b));
    }
    Bytes frame = cat({nflog_header(2), nflog_tlv(4, indev), nflog_tlv(5, outdev), nflog_tlv(8, hw),
                       nflog_tlv(9, ip)});
    DecodedPacket out;
    REQUIRE(decode(LinkType::kNflog, frame.data(), static_cast<std::uint32_t>(frame.size()),
                   static_cast<std::uint32_t>(frame.size()), 0, out) == DecodeStatus::kOk);
    CHECK(out.nflog);
    CHECK(out.in_ifindex == 7);
    CHECK(out.out_ifindex == 9);
    CHECK(out.has_src_mac);
    CHECK(to_string(out.src_mac) == "02:00:00:00:00:0a");
    CHECK_FALSE(out.has_dst_mac);
  }
  SECTION("NFLOG without those attributes (an output hook, a tun device)") {
    Bytes frame = cat({nflog_header(2), nflog_tlv(9, ip)});
    DecodedPacket out;
    REQUIRE(decode(LinkType::kNflog, frame.data(), static_cast<std::uint32_t>(frame.size()),
                   static_cast<std::uint32_t>(frame.size()), 0, out) == DecodeStatus::kOk);
    CHECK(out.nflog);
    CHECK(out.in_ifindex == 0);
    CHECK_FALSE(out.has_src_mac);
  }
  SECTION("raw IP has no link facts") {
    DecodedPacket out;
    REQUIRE(decode(LinkType::kRaw, ip.data(), static_cast<std::uint32_t>(ip.size()),
                   static_cast<std::uint32_t>(ip.size()), 0, out) == DecodeStatus::kOk);
    CHECK_FALSE(out.has_src_mac);
    CHECK_FALSE(out.nflog);
  }
}

}  // namespace ctlabeld::capture::test
