// SPDX-License-Identifier: GPL-3.0-or-later
// Set keys: Netify's field names, nft's data types and the byte layout of a concatenated key.
#include <arpa/inet.h>

#include <array>
#include <cstring>

#include <string>

#include "ctlabeld/nftset/set_spec.hpp"

namespace ctlabeld::nftset {

namespace {

// nft's data type ids (nftables include/datatype.h, enum datatypes) and its 6-bit concatenation.
constexpr std::uint32_t kTypeBits = 6;
constexpr std::uint32_t kTypeLladdr = 6;
constexpr std::uint32_t kTypeIpAddr = 7;
constexpr std::uint32_t kTypeIp6Addr = 8;
constexpr std::uint32_t kTypeEtherAddr = 9;
constexpr std::uint32_t kTypeInetProto = 12;
constexpr std::uint32_t kTypeInetService = 13;
constexpr std::uint32_t kTypeMark = 19;
constexpr std::uint32_t kTypeIfname = 41;

struct TypeName {
  std::uint32_t id;
  const char* name;
};
constexpr std::array<TypeName, 17> kTypeNames{{{1, "verdict"},
                                               {2, "nf_proto"},
                                               {4, "integer"},
                                               {5, "string"},
                                               {kTypeLladdr, "ll_addr"},
                                               {kTypeIpAddr, "ipv4_addr"},
                                               {kTypeIp6Addr, "ipv6_addr"},
                                               {kTypeEtherAddr, "ether_addr"},
                                               {10, "ether_type"},
                                               {kTypeInetProto, "inet_proto"},
                                               {kTypeInetService, "inet_service"},
                                               {14, "icmp_type"},
                                               {kTypeMark, "mark"},
                                               {20, "iface_index"},
                                               {36, "dscp"},
                                               {kTypeIfname, "ifname"},
                                               {46, "cgroupsv2"}}};

std::string type_name(std::uint32_t id) {
  for (const auto& t : kTypeNames) {
    if (t.id == id) return t.name;
  }
  return "type#" + std::to_string(id);
}

struct FieldType {
  std::uint32_t id;
  std::uint32_t len;  // bytes before padding
};

FieldType field_type(Field field, Family family) noexcept {
  switch (field) {
    case Field::kLocalAddr:
    case Field::kOtherAddr:
      return family == Family::kIpv4 ? FieldType{kTypeIpAddr, 4} : FieldType{kTypeIp6Addr, 16};
    case Field::kLocalPort:
    case Field::kOtherPort: return {kTypeInetService, 2};
    case Field::kIpProto: return {kTypeInetProto, 1};
    case Field::kMark: return {kTypeMark, 4};
    case Field::kInterface: return {kTypeIfname, 16};
    case Field::kLocalMac:
    case Field::kOtherMac: return {kTypeEtherAddr, 6};
  }
  return {0, 0};
}

constexpr std::uint32_t pad32(std::uint32_t len) noexcept { return (len + 3u) & ~3u; }

struct FieldName {
  Field field;
  std::string_view name;
};
constexpr std::array<FieldName, 9> kFieldNames{{{Field::kLocalMac, "local_mac"},
                                                {Field::kOtherMac, "other_mac"},
                                                {Field::kLocalAddr, "local_addr"},
                                                {Field::kOtherAddr, "other_addr"},
                                                {Field::kLocalPort, "local_port"},
                                                {Field::kOtherPort, "other_port"},
                                                {Field::kIpProto, "ip_proto"},
                                                {Field::kMark, "mark"},
                                                {Field::kInterface, "interface"}}};

}  // namespace

std::optional<Field> field_from_name(std::string_view name) {
  for (const auto& f : kFieldNames) {
    if (f.name == name) return f.field;
  }
  return std::nullopt;
}

std::string_view field_name(Field field) {
  for (const auto& f : kFieldNames) {
    if (f.field == field) return f.name;
  }
  return "?";
}

std::string set_name_for(std::string_view base, Family family) {
  std::string name(base);
  name += family == Family::kIpv4 ? ".v4" : ".v6";
  return name;
}

KeyLayout key_layout(std::span<const Field> fields, Family family) {
  KeyLayout layout;
  for (const Field field : fields) {
    const FieldType t = field_type(field, family);
    layout.key_type = (layout.key_type << kTypeBits) | t.id;
    layout.key_len += fields.size() > 1 ? pad32(t.len) : t.len;
    if (!layout.text.empty()) layout.text += " . ";
    layout.text += type_name(t.id);
  }
  return layout;
}

std::string describe_key_type(std::uint32_t key_type) {
  std::string text;
  // The first field sits in the highest group; peel from the lowest and prepend.
  do {
    const std::string name = type_name(key_type & ((1u << kTypeBits) - 1));
    text = text.empty() ? name : name + " . " + text;
    key_type >>= kTypeBits;
  } while (key_type != 0);
  return text;
}

std::size_t encode_key(std::span<const Field> fields, Family family, const MemberFields& member,
                       std::byte* out) noexcept {
  if (member.ip_version != static_cast<std::uint8_t>(family)) return 0;
  const bool concat = fields.size() > 1;
  std::size_t at = 0;
  for (const Field field : fields) {
    const FieldType t = field_type(field, family);
    const std::size_t room = concat ? pad32(t.len) : t.len;
    if (at + room > kMaxKeyBytes) return 0;
    std::byte* p = out + at;
    std::memset(p, 0, room);
    switch (field) {
      case Field::kLocalAddr: std::memcpy(p, member.local_addr.bytes.data(), t.len); break;
      case Field::kOtherAddr: std::memcpy(p, member.other_addr.bytes.data(), t.len); break;
      case Field::kLocalPort:
      case Field::kOtherPort: {
        const std::uint16_t port =
            htons(field == Field::kLocalPort ? member.local_port : member.other_port);
        std::memcpy(p, &port, sizeof port);
        break;
      }
      case Field::kIpProto: p[0] = static_cast<std::byte>(member.ip_protocol); break;
      case Field::kMark: std::memcpy(p, &member.mark, sizeof member.mark); break;  // host order
      case Field::kInterface:
        std::memcpy(p, member.interface.data(), member.interface.size());
        break;
      case Field::kLocalMac: std::memcpy(p, member.local_mac.data(), 6); break;
      case Field::kOtherMac: std::memcpy(p, member.other_mac.data(), 6); break;
    }
    at += room;
  }
  return at;
}

bool decode_key(std::span<const Field> fields, Family family, const std::byte* key, std::size_t len,
                MemberFields& member) noexcept {
  const bool concat = fields.size() > 1;
  member = MemberFields{};
  member.ip_version = static_cast<std::uint8_t>(family);
  std::size_t at = 0;
  for (const Field field : fields) {
    const FieldType t = field_type(field, family);
    const std::size_t room = concat ? pad32(t.len) : t.len;
    if (at + room > len) return false;
    const std::byte* p = key + at;
    switch (field) {
      case Field::kLocalAddr: std::memcpy(member.local_addr.bytes.data(), p, t.len); break;
      case Field::kOtherAddr: std::memcpy(member.other_addr.bytes.data(), p, t.len); break;
      case Field::kLocalPort:
      case Field::kOtherPort: {
        std::uint16_t port = 0;
        std::memcpy(&port, p, sizeof port);
        (field == Field::kLocalPort ? member.local_port : member.other_port) = ntohs(port);
        break;
      }
      case Field::kIpProto: member.ip_protocol = static_cast<std::uint8_t>(p[0]); break;
      case Field::kMark: std::memcpy(&member.mark, p, sizeof member.mark); break;
      case Field::kInterface:
        std::memcpy(member.interface.data(), p, member.interface.size());
        break;
      case Field::kLocalMac: std::memcpy(member.local_mac.data(), p, 6); break;
      case Field::kOtherMac: std::memcpy(member.other_mac.data(), p, 6); break;
    }
    at += room;
  }
  return at == len;
}

}  // namespace ctlabeld::nftset
