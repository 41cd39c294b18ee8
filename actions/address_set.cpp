// SPDX-License-Identifier: GPL-3.0-or-later
// CIDR parsing and prefix matching over the common Address representation.
#include "ctlabeld/actions/address_set.hpp"

#include <charconv>

namespace ctlabeld::actions {
namespace {

std::uint32_t load_v4(const Address& a) {
  return (std::uint32_t{a.bytes[0]} << 24) | (std::uint32_t{a.bytes[1]} << 16) |
         (std::uint32_t{a.bytes[2]} << 8) | std::uint32_t{a.bytes[3]};
}

std::uint64_t load_u64(const Address& a, std::size_t offset) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | a.bytes[offset + i];
  return v;
}

std::uint64_t mask_bits(unsigned prefix) {  // prefix 0..64 -> top `prefix` bits set
  return prefix == 0 ? 0 : (prefix >= 64 ? ~std::uint64_t{0} : ~std::uint64_t{0} << (64 - prefix));
}

}  // namespace

bool parse_cidr(std::string_view text, Cidr& out) {
  const std::size_t slash = text.find('/');
  const std::string addr_text(text.substr(0, slash));
  Address addr;
  const std::uint8_t version = parse_address(addr_text, addr);
  if (version == 0) return false;
  const unsigned max_prefix = version == 4 ? 32 : 128;
  unsigned prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const std::string_view len = text.substr(slash + 1);
    if (len.empty() || len.size() > 3) return false;
    const auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), prefix);
    if (ec != std::errc{} || end != len.data() + len.size() || prefix > max_prefix) return false;
  }
  // Clear host bits so "10.1.2.3/8" means 10.0.0.0/8, as ip(8) does.
  const unsigned bytes = version == 4 ? 4 : 16;
  for (unsigned i = 0; i < bytes; ++i) {
    const unsigned first_bit = i * 8;
    if (first_bit >= prefix) {
      addr.bytes[i] = 0;
    } else if (prefix - first_bit < 8) {
      addr.bytes[i] &= static_cast<std::uint8_t>(0xFF00u >> (prefix - first_bit));
    }
  }
  out.network = addr;
  out.ip_version = version;
  out.prefix = static_cast<std::uint8_t>(prefix);
  return true;
}

std::string to_string(const Cidr& cidr) {
  return ctlabeld::to_string(cidr.network, cidr.ip_version) + "/" + std::to_string(cidr.prefix);
}

void AddressSet::add(const Cidr& cidr) {
  source_.push_back(cidr);
  if (cidr.ip_version == 4) {
    const std::uint32_t mask =
        cidr.prefix == 0 ? 0 : static_cast<std::uint32_t>(~std::uint32_t{0} << (32 - cidr.prefix));
    v4_.push_back({load_v4(cidr.network) & mask, mask});
  } else {
    const unsigned hi_bits = cidr.prefix > 64 ? 64 : cidr.prefix;
    const unsigned lo_bits = cidr.prefix > 64 ? cidr.prefix - 64u : 0u;
    const std::uint64_t mhi = mask_bits(hi_bits);
    const std::uint64_t mlo = mask_bits(lo_bits);
    v6_.push_back({load_u64(cidr.network, 0) & mhi, load_u64(cidr.network, 8) & mlo, mhi, mlo});
  }
}

bool AddressSet::contains(const Address& addr, std::uint8_t ip_version) const noexcept {
  if (ip_version == 4) {
    const std::uint32_t a = load_v4(addr);
    for (const V4& n : v4_) {
      if ((a & n.mask) == n.network) return true;
    }
    return false;
  }
  if (ip_version != 6 || v6_.empty()) return false;
  const std::uint64_t hi = load_u64(addr, 0);
  const std::uint64_t lo = load_u64(addr, 8);
  for (const V6& n : v6_) {
    if ((hi & n.mask_hi) == n.hi && (lo & n.mask_lo) == n.lo) return true;
  }
  return false;
}

std::vector<Cidr> AddressSet::cidrs() const { return source_; }

std::vector<std::string> default_local_network_texts() {
  return {"10.0.0.0/8",  "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
          "127.0.0.0/8", "fc00::/7",      "fe80::/10",      "::1/128"};
}

LocalNetworks default_local_networks() {
  LocalNetworks set;
  for (const auto& text : default_local_network_texts()) {
    Cidr c;
    if (parse_cidr(text, c)) set.add(c);
  }
  return set;
}

}  // namespace ctlabeld::actions
