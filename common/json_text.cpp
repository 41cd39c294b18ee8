// SPDX-License-Identifier: GPL-3.0-or-later
#include "ctlabeld/common/json_text.hpp"

#include "ctlabeld/common/net.hpp"

namespace ctlabeld {

void append_json_string(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

void append_json_member(std::string_view key, std::string_view value, std::string& out) {
  out += '"';
  out += key;
  out += "\":\"";
  append_json_string(value, out);
  out += "\",";
}

namespace {
void number(const char* key, std::uint64_t value, std::string& out) {
  out += '"';
  out += key;
  out += "\":";
  out += std::to_string(value);
  out += ',';
}
}  // namespace

void append_tuple_json(const FlowTuple& t, std::string& out) {
  number("ip_version", t.ip_version, out);
  number("ip_protocol", t.ip_protocol, out);
  append_json_member("src_ip", to_string(t.src, t.ip_version), out);
  number("src_port", t.src_port, out);
  append_json_member("dst_ip", to_string(t.dst, t.ip_version), out);
  number("dst_port", t.dst_port, out);
  if (is_icmp(t.ip_protocol)) {
    number("icmp_type", t.icmp_type, out);
    number("icmp_code", t.icmp_code, out);
    number("icmp_id", t.icmp_id, out);
  }
  number("vlan", t.vlan, out);
}

}  // namespace ctlabeld
