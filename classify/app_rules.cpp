// SPDX-License-Identifier: GPL-3.0-or-later
// The application rules file and the payload checks (ZOOM.md's H1-H3), all pure functions.
#include "ctlabeld/classify/app_rules.hpp"

#include "ctlabeld/common/file_policy.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace ctlabeld::classify {

namespace {

constexpr std::size_t kMaxRulesFileBytes = 4 * 1024 * 1024;

std::uint16_t be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint32_t be32(const std::uint8_t* p) noexcept {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
         (static_cast<std::uint32_t>(p[2]) << 8) | p[3];
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i >= line.size() || line[i] == '#') break;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool parse_port(std::string_view text, std::uint16_t& out) {
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty() || v == 0 || v > 65535)
    return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}

bool parse_ports(std::string_view text, std::vector<PortRange>& out) {
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    PortRange r;
    const std::size_t dash = item.find('-');
    if (!parse_port(item.substr(0, dash), r.first)) return false;
    r.last = r.first;
    if (dash != std::string_view::npos && !parse_port(item.substr(dash + 1), r.last)) return false;
    if (r.last < r.first) return false;
    out.push_back(r);
    if (comma != std::string_view::npos && text.empty()) return false;  // a trailing comma
  }
  return !out.empty();
}

// "192.0.2.0/24" or "2001:db8::/32": network with host bits cleared, prefix, version (0: bad).
std::uint8_t parse_network(std::string_view text, std::array<std::uint8_t, 16>& net,
                           std::uint8_t& prefix) {
  const std::size_t slash = text.find('/');
  Address a;
  const std::uint8_t version = parse_address(std::string(text.substr(0, slash)), a);
  if (version == 0) return 0;
  const unsigned max = version == 4 ? 32 : 128;
  unsigned len = max;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), len);
    if (ec != std::errc() || ptr != p.data() + p.size() || p.empty() || len > max) return 0;
  }
  net = a.bytes;
  for (unsigned bit = len; bit < 128; ++bit) {
    net[bit / 8] = static_cast<std::uint8_t>(net[bit / 8] & ~(0x80u >> (bit % 8)));
  }
  prefix = static_cast<std::uint8_t>(len);
  return version;
}

std::uint64_t be64(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

std::uint64_t prefix_mask(unsigned bits) noexcept {
  return bits == 0 ? 0 : bits >= 64 ? ~0ULL : ~0ULL << (64 - bits);
}

bool is_rtp(const std::uint8_t* p, std::size_t n) noexcept {
  if (n < 12 || (p[0] & 0xC0) != 0x80) return false;
  const unsigned pt = p[1] & 0x7f;
  return pt <= 34 || (pt >= 96 && pt <= 127);
}

bool is_rtcp(const std::uint8_t* p, std::size_t n) noexcept {
  if (n < 8 || p[1] < 192 || p[1] > 213) return false;
  return (static_cast<std::size_t>(be16(p + 2)) + 1) * 4 <= n;
}

bool in_media_ports(std::uint16_t port) noexcept { return port >= 8801 && port <= 8810; }

}  // namespace

const char* to_string(DetectedBy by) noexcept {
  switch (by) {
    case DetectedBy::kDpi: return "dpi";
    case DetectedBy::kHost: return "host";
    case DetectedBy::kNetwork: return "network";
    case DetectedBy::kPayload: return "payload";
    case DetectedBy::kEndpoint: return "endpoint";
  }
  return "dpi";
}

bool AppDefinition::is_learn_port(std::uint16_t port) const noexcept {
  return std::any_of(learn_ports.begin(), learn_ports.end(),
                     [port](const PortRange& r) { return port >= r.first && port <= r.last; });
}

Expected<std::shared_ptr<const AppRules>> AppRules::load(const std::string& path) {
  using Result = Expected<std::shared_ptr<const AppRules>>;
  // The one file policy (common/file_policy): a regular file under the size cap, opened once
  // without blocking, owner and mode checked on the descriptor (the rules decide labels).
  auto text =
      files::read_all(path, files::privileged_policy("application rules file", kMaxRulesFileBytes));
  if (!text) {
    Errors errors = text.errors();
    errors.push_back(path +
                     ": fix the file, or turn the application rules off with "
                     "\"app_rules_file\": \"\" (--app-rules none)");
    return Result::failure(std::move(errors));
  }
  return parse(text.value(), path);
}

Expected<std::shared_ptr<const AppRules>> AppRules::parse(std::string_view text,
                                                          const std::string& name) {
  using Result = Expected<std::shared_ptr<const AppRules>>;
  auto rules = std::make_shared<AppRules>();
  rules->source_ = name;
  Errors errors;
  auto app_index = [&](std::string_view app) -> std::uint8_t {
    const std::string lower = lowercase(app);
    for (std::size_t i = 0; i < rules->apps_.size(); ++i) {
      if (rules->apps_[i].name == lower) return static_cast<std::uint8_t>(i);
    }
    if (rules->apps_.size() >= kNoApp) return kNoApp;
    rules->apps_.push_back(AppDefinition{lower, 0, {}});
    return static_cast<std::uint8_t>(rules->apps_.size() - 1);
  };
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    const auto f = split_fields(line);
    if (f.empty()) continue;
    const std::string where = name + ":" + std::to_string(line_no) + ": ";
    if (f.size() != 3) {
      errors.push_back(where + "expected 'APP KIND VALUE' (3 fields), found " +
                       std::to_string(f.size()) + "; e.g. 'zoom host zoom.us'");
      continue;
    }
    const std::uint8_t app = app_index(f[0]);
    if (app == kNoApp) {
      errors.push_back(where + "more than 254 applications; merge or remove some");
      continue;
    }
    const std::string kind = lowercase(f[1]);
    if (kind == "host") {
      std::string domain = lowercase(f[2]);
      if (!domain.empty() && domain.back() == '.') domain.pop_back();
      if (domain.empty() || domain.front() == '.' || domain.find('*') != std::string::npos) {
        errors.push_back(where + "'" + std::string(f[2]) +
                         "' is not a domain; write it without wildcards, e.g. 'zoom.us' (its "
                         "subdomains match too)");
        continue;
      }
      rules->hosts_.push_back(Host{std::move(domain), app});
    } else if (kind == "network") {
      Net n;
      n.app = app;
      std::array<std::uint8_t, 16> bytes{};
      const std::uint8_t version = parse_network(f[2], bytes, n.prefix);
      if (version == 0) {
        errors.push_back(where + "'" + std::string(f[2]) +
                         "' is not a network; write e.g. '192.0.2.0/24' or '2001:db8::/32'");
        continue;
      }
      n.hi = be64(bytes.data());
      n.lo = be64(bytes.data() + 8);
      n.mask_hi = prefix_mask(n.prefix);
      n.mask_lo = prefix_mask(n.prefix > 64 ? n.prefix - 64u : 0u);
      (version == 4 ? rules->v4_ : rules->v6_).push_back(n);
    } else if (kind == "check") {
      const std::string check = lowercase(f[2]);
      auto& checks = rules->apps_[app].checks;
      if (check == "zoom-media") {
        checks |= static_cast<std::uint8_t>(PayloadCheck::kZoomMedia);
      } else if (check == "zoom-p2p") {
        checks |= static_cast<std::uint8_t>(PayloadCheck::kZoomP2p);
      } else if (check == "zoom-stun") {
        checks |= static_cast<std::uint8_t>(PayloadCheck::kZoomStun);
      } else {
        errors.push_back(where + "unknown check '" + std::string(f[2]) +
                         "'; the checks are zoom-media, zoom-p2p and zoom-stun");
      }
    } else if (kind == "learn") {
      std::vector<PortRange> ports;
      if (!parse_ports(f[2], ports)) {
        errors.push_back(where + "'" + std::string(f[2]) +
                         "' is not a port list; write e.g. '3478-3479,8801-8810'");
        continue;
      }
      auto& mine = rules->apps_[app].learn_ports;
      mine.insert(mine.end(), ports.begin(), ports.end());
    } else {
      errors.push_back(where + "unknown kind '" + std::string(f[1]) +
                       "'; the kinds are host, network, check and learn");
    }
  }
  if (!errors.empty()) return Result::failure(std::move(errors));
  std::sort(rules->hosts_.begin(), rules->hosts_.end(),
            [](const Host& a, const Host& b) { return a.domain < b.domain; });
  auto longest_first = [](const Net& a, const Net& b) { return a.prefix > b.prefix; };
  std::stable_sort(rules->v4_.begin(), rules->v4_.end(), longest_first);
  std::stable_sort(rules->v6_.begin(), rules->v6_.end(), longest_first);
  rules->v4_slash16_.assign(65536 / 64, 0);
  for (const Net& n : rules->v4_) {
    const auto first = static_cast<std::uint32_t>(n.hi >> 48);
    const std::uint32_t count = n.prefix >= 16 ? 1u : 1u << (16 - n.prefix);
    for (std::uint32_t b = first; b < first + count && b < 65536; ++b) {
      rules->v4_slash16_[b / 64] |= 1ULL << (b % 64);
    }
  }
  return std::shared_ptr<const AppRules>(std::move(rules));
}

std::uint8_t AppRules::app_by_host(std::string_view host) const noexcept {
  if (hosts_.empty() || host.empty() || host.size() > 253) return kNoApp;
  char buf[254];
  std::size_t n = 0;
  for (char c : host) buf[n++] = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (n > 0 && buf[n - 1] == '.') --n;
  std::string_view name(buf, n);
  // The name itself, then each parent domain ("a.b.zoom.us", "b.zoom.us", "zoom.us", "us"):
  // only whole labels, so "my-zoom.us" never matches "zoom.us".
  while (!name.empty()) {
    auto it = std::lower_bound(hosts_.begin(), hosts_.end(), name,
                               [](const Host& h, std::string_view k) { return h.domain < k; });
    if (it != hosts_.end() && it->domain == name) return it->app;
    const std::size_t dot = name.find('.');
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  return kNoApp;
}

std::uint8_t AppRules::app_by_address(const Address& addr, std::uint8_t ip_version) const noexcept {
  const auto& nets = ip_version == 4 ? v4_ : v6_;
  const std::uint64_t hi = be64(addr.bytes.data());
  const std::uint64_t lo = be64(addr.bytes.data() + 8);
  if (ip_version == 4) {
    const auto b = static_cast<std::uint32_t>(hi >> 48);
    if ((v4_slash16_[b / 64] >> (b % 64) & 1U) == 0) return kNoApp;
  }
  for (const Net& n : nets) {  // longest prefix first: the first hit is the most specific
    if ((hi & n.mask_hi) == n.hi && (lo & n.mask_lo) == n.lo) return n.app;
  }
  return kNoApp;
}

bool zoom_media(const std::uint8_t* p, std::size_t n, std::uint16_t src_port,
                std::uint16_t dst_port, std::uint64_t packets) noexcept {
  const bool to_server = in_media_ports(dst_port);
  const bool from_server = in_media_ports(src_port);
  if ((!to_server && !from_server) || n <= 8) return false;
  if (p[1] == 0x00 && (p[2] == 0x02 || p[2] == 0x03)) {
    if ((p[0] == 0x01 && to_server) || (p[0] == 0x02 && from_server)) return true;
  }
  if (p[0] == 3 || p[0] == 4) return packets >= 4;
  if (p[0] != 5 || n <= 23) return false;
  const std::uint8_t* m = p + 8;
  const std::size_t left = n - 8;
  switch (m[0]) {
    case 13: return left > 27;
    case 30: return left > 20 && is_rtp(m + 20, left - 20);
    case 15: return left > 19 && is_rtp(m + 19, left - 19);
    case 16: return left > 24 && is_rtp(m + 24, left - 24);
    case 33:
    case 34:
    case 35: return is_rtcp(m + 16, left - 16);
    default: return false;
  }
}

bool zoom_p2p(const std::uint8_t* p, std::size_t n) noexcept {
  if (n <= 36 || p[0] != 0x1f || p[1] != 0x02 || p[2] != 0x01) return false;
  if (be32(p + n - 4) != 0) return false;
  const std::uint64_t l1 = be32(p + 24);
  if (24 + 4 + l1 + 4 >= n) return false;
  const std::uint64_t l2 = be32(p + 28 + l1);
  return n == 24 + 4 + l1 + 4 + l2 + 4;
}

bool stun_zoom_attribute(const std::uint8_t* p, std::size_t n) noexcept {
  if (n < 20 || (p[0] & 0xC0) != 0 || static_cast<std::size_t>(be16(p + 2)) + 20 != n) {
    return false;
  }
  std::size_t off = 20;
  while (off + 4 <= n) {
    const std::uint16_t type = be16(p + off);
    const std::size_t len = be16(p + off + 2);
    if (type == 0x0101 || type == 0x0103) return true;
    off += 4 + (len + 3) / 4 * 4;
  }
  return false;
}

}  // namespace ctlabeld::classify
