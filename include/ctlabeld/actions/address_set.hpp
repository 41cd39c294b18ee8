// SPDX-License-Identifier: GPL-3.0-or-later
// Prebuilt sets of IPv4/IPv6 networks: criteria literals, exemptions and the local networks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/common/net.hpp"

namespace ctlabeld::actions {

struct Cidr {
  Address network{};  // host bits cleared
  std::uint8_t ip_version = 0;
  std::uint8_t prefix = 0;  // 0-32 or 0-128
};

// Parses "192.0.2.1", "192.0.2.0/24", "2001:db8::/32". A host address gets a full-length prefix.
// Returns false (and leaves `out` alone) when the text is not an address or the length is bad.
[[nodiscard]] bool parse_cidr(std::string_view text, Cidr& out);
std::string to_string(const Cidr& cidr);

// A small set of networks searched linearly: criteria hold a handful of prefixes, where a
// linear scan over contiguous memory beats any tree and allocates nothing.
class AddressSet {
 public:
  void add(const Cidr& cidr);
  [[nodiscard]] bool contains(const Address& addr, std::uint8_t ip_version) const noexcept;
  [[nodiscard]] bool empty() const noexcept { return v4_.empty() && v6_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return v4_.size() + v6_.size(); }
  [[nodiscard]] std::vector<Cidr> cidrs() const;

 private:
  struct V4 {
    std::uint32_t network;
    std::uint32_t mask;
  };
  struct V6 {
    std::uint64_t hi, lo, mask_hi, mask_lo;
  };
  std::vector<V4> v4_;
  std::vector<V6> v6_;
  std::vector<Cidr> source_;  // as written, for summaries
};

// Which addresses are "local" for local_ip/other_ip and friends.
using LocalNetworks = AddressSet;

// RFC 1918, 100.64/10 is not included (carrier NAT is not "our" side), ULA fc00::/7,
// link-local 169.254/16 and fe80::/10, loopback 127/8 and ::1.
std::vector<std::string> default_local_network_texts();
LocalNetworks default_local_networks();

}  // namespace ctlabeld::actions
