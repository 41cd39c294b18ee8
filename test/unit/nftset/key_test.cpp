// SPDX-License-Identifier: GPL-3.0-or-later
// Set keys without the kernel: Netify field names, nft type ids and spelling, byte layout.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <vector>

#include "ctlabeld/nftset/set_writer.hpp"

using namespace ctlabeld;
using namespace ctlabeld::nftset;

TEST_CASE("field names are Netify's and unknown ones are refused", "[nftset]") {
  for (const char* name : {"local_mac", "other_mac", "local_addr", "other_addr", "local_port",
                           "other_port", "ip_proto", "mark", "interface"}) {
    const auto field = field_from_name(name);
    REQUIRE(field.has_value());
    CHECK(field_name(*field) == name);
  }
  CHECK_FALSE(field_from_name("local_ip").has_value());
  CHECK_FALSE(field_from_name("").has_value());
}

TEST_CASE("family suffix follows Netify", "[nftset]") {
  CHECK(set_name_for("nfa.blocks", Family::kIpv4) == "nfa.blocks.v4");
  CHECK(set_name_for("nfa.blocks", Family::kIpv6) == "nfa.blocks.v6");
}

TEST_CASE("key layouts match nft's types, ids and lengths", "[nftset]") {
  struct Row {
    std::vector<Field> fields;
    Family family;
    const char* text;
    std::uint32_t key_type;
    std::uint32_t key_len;
  };
  const std::vector<Row> rows = {
      // Netify's documented example; ids: ipv4_addr 7, inet_proto 12, inet_service 13.
      {{Field::kLocalAddr, Field::kIpProto, Field::kOtherPort, Field::kOtherAddr},
       Family::kIpv4,
       "ipv4_addr . inet_proto . inet_service . ipv4_addr",
       (((7u << 6 | 12u) << 6 | 13u) << 6) | 7u,
       16},
      {{Field::kOtherAddr}, Family::kIpv4, "ipv4_addr", 7, 4},
      {{Field::kOtherAddr}, Family::kIpv6, "ipv6_addr", 8, 16},
      {{Field::kLocalMac}, Family::kIpv4, "ether_addr", 9, 6},
      {{Field::kIpProto}, Family::kIpv6, "inet_proto", 12, 1},
      {{Field::kMark, Field::kInterface, Field::kOtherMac, Field::kOtherAddr},
       Family::kIpv6,
       "mark . ifname . ether_addr . ipv6_addr",
       (((19u << 6 | 41u) << 6 | 9u) << 6) | 8u,
       4 + 16 + 8 + 16},
      {{Field::kOtherAddr, Field::kOtherPort},
       Family::kIpv6,
       "ipv6_addr . inet_service",
       8u << 6 | 13u,
       20},
  };
  for (const auto& row : rows) {
    const KeyLayout layout = key_layout(row.fields, row.family);
    INFO(row.text);
    CHECK(layout.text == row.text);
    CHECK(layout.key_type == row.key_type);
    CHECK(layout.key_len == row.key_len);
    CHECK(describe_key_type(layout.key_type) == row.text);
  }
}

TEST_CASE("keys are laid out in field order, each padded to 32 bits", "[nftset]") {
  MemberFields m;
  m.ip_version = 4;
  m.ip_protocol = 6;
  m.local_addr.bytes = {10, 0, 0, 1};
  m.other_addr.bytes = {192, 0, 2, 7};
  m.other_port = 443;
  m.local_port = 50000;
  m.mark = 0x11223344;
  m.local_mac = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
  const char name[] = "lan0";
  std::copy(name, name + 4, m.interface.begin());

  std::array<std::byte, kMaxKeyBytes> out{};
  const std::vector<Field> netify = {Field::kLocalAddr, Field::kIpProto, Field::kOtherPort,
                                     Field::kOtherAddr};
  REQUIRE(encode_key(netify, Family::kIpv4, m, out.data()) == 16);
  const std::array<std::uint8_t, 16> want = {10,   0,    0, 1, 6,   0, 0, 0,
                                             0x01, 0xbb, 0, 0, 192, 0, 2, 7};
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("byte " << i);
    CHECK(out[i] == std::byte{want[i]});
  }

  const std::vector<Field> other = {Field::kMark, Field::kInterface, Field::kLocalMac};
  REQUIRE(encode_key(other, Family::kIpv4, m, out.data()) == 4 + 16 + 8);
  std::uint32_t mark = 0;
  std::memcpy(&mark, out.data(), 4);
  CHECK(mark == 0x11223344);  // meta mark is host byte order
  CHECK(out[4] == std::byte{'l'});
  CHECK(out[8] == std::byte{0});
  CHECK(out[20] == std::byte{0xaa});
  CHECK(out[25] == std::byte{0xff});
  CHECK(out[26] == std::byte{0});

  // A single field is not padded.
  const std::vector<Field> proto = {Field::kIpProto};
  CHECK(encode_key(proto, Family::kIpv4, m, out.data()) == 1);

  // An IPv4 member has no key in an IPv6 set.
  CHECK(encode_key(netify, Family::kIpv6, m, out.data()) == 0);
}

TEST_CASE("decode_key gives back the fields the key holds", "[nftset]") {
  MemberFields m;
  m.ip_version = 6;
  m.ip_protocol = 17;
  m.local_port = 5353;
  m.other_port = 8801;
  for (std::size_t i = 0; i < 16; ++i) {
    m.local_addr.bytes[i] = static_cast<std::uint8_t>(i + 1);
    m.other_addr.bytes[i] = static_cast<std::uint8_t>(0xf0 + i);
  }
  m.mark = 0x12345678;
  m.interface = {'b', 'r', '-', 'l', 'a', 'n'};
  m.local_mac = {2, 0, 0, 0, 0, 0x0a};
  m.other_mac = {2, 0, 0, 0, 0, 0x01};
  const std::vector<std::vector<Field>> types = {
      {Field::kLocalAddr, Field::kIpProto, Field::kOtherPort, Field::kOtherAddr},
      {Field::kOtherAddr},
      {Field::kIpProto},
      {Field::kLocalPort, Field::kMark, Field::kInterface, Field::kLocalMac, Field::kOtherMac}};
  for (const Family family : {Family::kIpv4, Family::kIpv6}) {
    MemberFields in = m;
    in.ip_version = static_cast<std::uint8_t>(family);
    for (const auto& fields : types) {
      std::array<std::byte, kMaxKeyBytes> key{};
      const std::size_t len = encode_key(fields, family, in, key.data());
      REQUIRE(len == key_layout(fields, family).key_len);
      MemberFields out;
      REQUIRE(decode_key(fields, family, key.data(), len, out));
      // Encoding what came back gives the same bytes: every field the key holds survived.
      std::array<std::byte, kMaxKeyBytes> again{};
      REQUIRE(encode_key(fields, family, out, again.data()) == len);
      CHECK(std::equal(key.begin(), key.begin() + static_cast<std::ptrdiff_t>(len), again.begin()));
      CHECK_FALSE(decode_key(fields, family, key.data(), len + 4, out));
    }
  }
}
