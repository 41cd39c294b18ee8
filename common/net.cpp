// SPDX-License-Identifier: GPL-3.0-or-later
// Text forms of addresses, through the C library's inet_ntop/inet_pton.
#include "ctlabeld/common/net.hpp"

#include <cstdio>
#include <deque>
#include <utility>

#include <arpa/inet.h>
#include <net/if.h>

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

namespace {
int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool parse_mac(std::string_view text, Mac& out) noexcept {
  if (text.size() != 17) return false;
  const char sep = text[2];
  if (sep != ':' && sep != '-') return false;
  Mac m;
  for (std::size_t i = 0; i < 6; ++i) {
    const std::size_t at = i * 3;
    if (i > 0 && text[at - 1] != sep) return false;
    const int hi = hex_value(text[at]);
    const int lo = hex_value(text[at + 1]);
    if (hi < 0 || lo < 0) return false;
    m.bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  out = m;
  return true;
}

std::string_view interface_name(std::uint32_t ifindex) noexcept {
  if (ifindex == 0) return {};
  // A deque: growing it never moves the strings the returned views point into.
  thread_local std::deque<std::pair<std::uint32_t, std::string>> cache;
  for (const auto& [index, name] : cache) {
    if (index == ifindex) return name;
  }
  constexpr std::size_t kMaxInterfaces = 4096;
  if (cache.size() >= kMaxInterfaces) return {};
  char buf[IF_NAMESIZE] = {};
  const char* name = ::if_indextoname(ifindex, buf);
  try {
    cache.emplace_back(ifindex, name == nullptr ? std::string() : std::string(name));
  } catch (...) {
    return {};
  }
  return cache.back().second;
}

std::string to_string(const Mac& mac) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac.bytes[0], mac.bytes[1],
                mac.bytes[2], mac.bytes[3], mac.bytes[4], mac.bytes[5]);
  return buf;
}

}  // namespace ctlabeld
