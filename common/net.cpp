// SPDX-License-Identifier: GPL-3.0-or-later
// Text forms of addresses, through the C library's inet_ntop/inet_pton.
#include "ctlabeld/common/net.hpp"

#include <arpa/inet.h>

namespace ctlabeld {

std::string to_string(const Address& addr, std::uint8_t ip_version) {
  char buf[INET6_ADDRSTRLEN] = {};
  const int family = ip_version == 6 ? AF_INET6 : AF_INET;
  if (inet_ntop(family, addr.bytes.data(), buf, sizeof buf) == nullptr) return "?";
  return buf;
}

std::uint8_t parse_address(const std::string& text, Address& out) {
  Address a;
  if (inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) {
    out = a;
    return 4;
  }
  if (inet_pton(AF_INET6, text.c_str(), a.bytes.data()) == 1) {
    out = a;
    return 6;
  }
  return 0;
}

}  // namespace ctlabeld
