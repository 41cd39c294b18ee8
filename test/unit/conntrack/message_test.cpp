// SPDX-License-Identifier: GPL-3.0-or-later
// Update messages: the tuple becomes the right attributes, the family is explicit, the mask
// covers exactly the managed bits, and a reply lookup carries the reversed tuple as
// CTA_TUPLE_REPLY.
#include <catch2/catch.hpp>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <array>
#include <vector>

#include "conntrack/netlink.hpp"
#include "ctlabeld/conntrack/table.hpp"

using namespace ctlabeld;
using namespace ctlabeld::conntrack;

namespace {

FlowTuple v4(std::uint8_t proto, const char* src, std::uint16_t sport, const char* dst,
             std::uint16_t dport) {
  FlowTuple t;
  REQUIRE(parse_address(src, t.src) == 4);
  REQUIRE(parse_address(dst, t.dst) == 4);
  t.ip_version = 4;
  t.ip_protocol = proto;
  t.src_port = sport;
  t.dst_port = dport;
  return t;
}

FlowTuple v6(std::uint8_t proto, const char* src, std::uint16_t sport, const char* dst,
             std::uint16_t dport) {
  FlowTuple t;
  REQUIRE(parse_address(src, t.src) == 6);
  REQUIRE(parse_address(dst, t.dst) == 6);
  t.ip_version = 6;
  t.ip_protocol = proto;
  t.src_port = sport;
  t.dst_port = dport;
  return t;
}

bool same(const FlowTuple& a, const FlowTuple& b) {
  return a.ip_version == b.ip_version && a.ip_protocol == b.ip_protocol && a.src == b.src &&
         a.dst == b.dst && a.src_port == b.src_port && a.dst_port == b.dst_port &&
         a.icmp_type == b.icmp_type && a.icmp_code == b.icmp_code && a.icmp_id == b.icmp_id;
}

netlink::ParsedMessage build(const LabelUpdate& u, netlink::Lookup lookup) {
  std::array<std::byte, netlink::kMaxMessageBytes> buf{};
  const std::size_t len = netlink::put_label_update(buf.data(), u, lookup, 42, false);
  REQUIRE(len > 0);
  auto parsed = netlink::parse_message(std::span(buf.data(), len));
  REQUIRE(parsed.has_value());
  return *parsed;
}

}  // namespace

TEST_CASE("update messages carry tuple, explicit family, labels and mask", "[conntrack][message]") {
  struct Case {
    const char* name;
    FlowTuple tuple;
    std::uint8_t family;
  };
  FlowTuple icmp = v4(kProtoIcmp, "192.168.1.117", 0, "162.255.38.14", 0);
  icmp.icmp_type = 8;
  icmp.icmp_id = 0x1234;
  FlowTuple icmp6 = v6(kProtoIcmpV6, "2001:db8::1", 0, "2001:db8::2", 0);
  icmp6.icmp_type = 128;
  icmp6.icmp_id = 7;
  const Case cases[] = {
      {"tcp4", v4(kProtoTcp, "192.168.1.117", 54871, "109.94.160.99", 443), AF_INET},
      {"udp4", v4(kProtoUdp, "192.168.1.117", 58327, "109.94.160.99", 8801), AF_INET},
      {"tcp6", v6(kProtoTcp, "2001:db8::1", 40000, "2001:db8:ffff::2", 443), AF_INET6},
      {"udp6", v6(kProtoUdp, "fe80::1", 546, "ff02::1:2", 547), AF_INET6},
      {"icmp", icmp, AF_INET},
      {"icmp6", icmp6, AF_INET6},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    LabelUpdate u;
    u.tuple = c.tuple;
    u.mask.set(0).set(3).set(127);
    u.bits.set(0).set(127).set(9);  // bit 9 is outside the mask: must not be sent
    const auto m = build(u, netlink::Lookup::kOriginal);
    CHECK(m.nlmsg_type == ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW));
    CHECK((m.nlmsg_flags & NLM_F_REQUEST) != 0);
    CHECK((m.nlmsg_flags & NLM_F_CREATE) == 0);  // an update, never a create
    CHECK(m.family == c.family);
    CHECK(m.has_original);
    CHECK_FALSE(m.has_reply);
    CHECK(same(m.original, c.tuple));
    REQUIRE(m.labels.has_value());
    REQUIRE(m.mask.has_value());
    CHECK(*m.mask == u.mask);
    LabelBits expected;
    expected.set(0).set(127);
    CHECK(*m.labels == expected);
    CHECK_FALSE(m.mark.has_value());  // mark_mask 0: the mark is not touched
    CHECK_FALSE(m.mark_mask.has_value());
  }
}

TEST_CASE("ctmark updates carry CTA_MARK under CTA_MARK_MASK, labels only when managed",
          "[conntrack][message]") {
  FlowTuple icmp6 = v6(kProtoIcmpV6, "2001:db8::1", 0, "2001:db8::2", 0);
  icmp6.icmp_type = 128;
  icmp6.icmp_id = 7;
  const FlowTuple tuples[] = {v4(kProtoTcp, "192.168.1.117", 54871, "109.94.160.99", 443),
                              v6(kProtoUdp, "2001:db8::1", 40000, "2001:db8:ffff::2", 8801), icmp6};
  for (const auto& t : tuples) {
    for (const auto lookup : {netlink::Lookup::kOriginal, netlink::Lookup::kReply}) {
      INFO("proto " << int(t.ip_protocol) << " reply " << (lookup == netlink::Lookup::kReply));
      LabelUpdate u;
      u.tuple = t;
      u.mark = 0x0100;
      u.mark_mask = 0xff00;
      // Mark only: no label attributes at all, so entries without label storage take it.
      const auto only = build(u, lookup);
      CHECK(only.family == (t.ip_version == 6 ? AF_INET6 : AF_INET));
      CHECK(only.has_original == (lookup == netlink::Lookup::kOriginal));
      CHECK(only.has_reply == (lookup == netlink::Lookup::kReply));
      REQUIRE(only.mark.has_value());
      REQUIRE(only.mark_mask.has_value());
      CHECK(*only.mark == 0x0100);
      CHECK(*only.mark_mask == 0xff00);
      CHECK_FALSE(only.labels.has_value());
      CHECK_FALSE(only.mask.has_value());
      // Labels and mark in one message.
      u.mask.set(2);
      u.bits.set(2);
      const auto both = build(u, lookup);
      REQUIRE(both.labels.has_value());
      CHECK(both.labels->test(2));
      REQUIRE(both.mark.has_value());
      CHECK(*both.mark == 0x0100);
      CHECK(*both.mark_mask == 0xff00);
    }
  }
  // Clearing: value 0 under the mask. A value outside its mask is cut to the mask (the kernel
  // XORs the value into the bits it keeps).
  LabelUpdate clear;
  clear.tuple = tuples[0];
  clear.mark = 0xf0f0;
  clear.mark_mask = 0x00ff;
  const auto m = build(clear, netlink::Lookup::kOriginal);
  REQUIRE(m.mark.has_value());
  CHECK(*m.mark == 0x00f0);
  CHECK(*m.mark_mask == 0x00ff);
  // Neither labels nor a mark: the empty label write the probes rely on.
  LabelUpdate empty;
  empty.tuple = tuples[0];
  const auto e = build(empty, netlink::Lookup::kOriginal);
  CHECK(e.labels.has_value());
  CHECK_FALSE(e.mark.has_value());
}

TEST_CASE("a reply lookup sends the reversed tuple as CTA_TUPLE_REPLY only",
          "[conntrack][message]") {
  LabelUpdate u;
  u.tuple = v4(kProtoTcp, "203.0.113.1", 60001, "198.51.100.7", 443);
  u.mask.set(0);
  u.bits.set(0);
  const auto m = build(u, netlink::Lookup::kReply);
  CHECK_FALSE(m.has_original);
  REQUIRE(m.has_reply);
  CHECK(m.family == AF_INET);
  const auto expected = reversed(u.tuple);
  REQUIRE(expected.has_value());
  CHECK(same(m.reply, *expected));
  CHECK(m.reply.src_port == 443);
  CHECK(m.reply.dst_port == 60001);

  // ICMP echo request: the reply direction is an echo reply with the same id.
  FlowTuple icmp = v4(kProtoIcmp, "203.0.113.1", 0, "198.51.100.7", 0);
  icmp.icmp_type = 8;
  icmp.icmp_id = 99;
  u.tuple = icmp;
  const auto mi = build(u, netlink::Lookup::kReply);
  REQUIRE(mi.has_reply);
  CHECK(mi.reply.icmp_type == 0);
  CHECK(mi.reply.icmp_id == 99);
}

TEST_CASE("tuples the kernel cannot take are refused, not sent", "[conntrack][message]") {
  std::array<std::byte, netlink::kMaxMessageBytes> buf{};
  LabelUpdate u;
  u.tuple = v4(kProtoTcp, "10.0.0.1", 1, "10.0.0.2", 2);
  u.tuple.ip_version = 0;  // unspecified family: the kernel would answer EOPNOTSUPP
  CHECK(netlink::put_label_update(buf.data(), u, netlink::Lookup::kOriginal, 1, false) == 0);
  FlowTuple unreachable = v4(kProtoIcmp, "10.0.0.1", 0, "10.0.0.2", 0);
  unreachable.icmp_type = 3;  // destination unreachable has no reply direction
  u.tuple = unreachable;
  CHECK(netlink::put_label_update(buf.data(), u, netlink::Lookup::kReply, 1, false) == 0);
  CHECK(netlink::put_label_update(buf.data(), u, netlink::Lookup::kOriginal, 1, false) == 0);
  CHECK_FALSE(reversed(unreachable).has_value());
}

TEST_CASE("create messages carry both tuples, timeout and exclusive-create flags",
          "[conntrack][message]") {
  std::array<std::byte, netlink::kMaxMessageBytes> buf{};
  const FlowTuple orig = v4(kProtoUdp, "10.0.0.5", 5555, "198.51.100.7", 53);
  FlowTuple reply = *reversed(orig);
  parse_address("203.0.113.1", reply.dst);  // masqueraded
  LabelBits labels;
  labels.set(5);
  const std::size_t len = netlink::put_create(buf.data(), orig, reply, 30, labels, labels, 7, true);
  REQUIRE(len > 0);
  const auto m = netlink::parse_message(std::span(buf.data(), len));
  REQUIRE(m.has_value());
  CHECK((m->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK)) ==
        (NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK));
  CHECK(same(m->original, orig));
  CHECK(same(m->reply, reply));
  CHECK(m->timeout_s == 30u);
  CHECK(m->labels == labels);
}
