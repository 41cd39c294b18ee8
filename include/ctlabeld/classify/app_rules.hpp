// SPDX-License-Identifier: GPL-3.0-or-later
// Application rules after nDPI: host names, server networks, payload checks and learned endpoints
// that name a flow an application when nDPI's own answer is generic. Loaded from a data file
// (etc/ctlabeld/app_rules.conf ships Zoom's), immutable once loaded and shared by every worker.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/net.hpp"

namespace ctlabeld::classify {

// Why a flow has its application. Stored in FlowRecord::detected_by.
enum class DetectedBy : std::uint8_t {
  kDpi = 0,   // nDPI's own answer (or none at all)
  kHost,      // an exact host name or a subdomain of one (TLS SNI, QUIC, HTTP Host, DNS query)
  kNetwork,   // the server's address is in the application's networks
  kPayload,   // a payload check on the flow's first packets
  kEndpoint,  // the client endpoint just ran STUN or media with the application (learned)
};
const char* to_string(DetectedBy by) noexcept;

// The built-in payload checks a rules file can switch on per application.
enum class PayloadCheck : std::uint8_t {
  kZoomMedia = 1,  // H1: Zoom server media on UDP 8801-8810
  kZoomP2p = 2,    // H2: Zoom's peer-to-peer hand-shake
  kZoomStun = 4,   // H3: STUN carrying attribute 0x0101 or 0x0103
};

struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
};

struct AppDefinition {
  std::string name;                    // as written in the file, lowercased ("zoom")
  std::uint8_t checks = 0;             // PayloadCheck bits
  std::vector<PortRange> learn_ports;  // non-empty: learn client endpoints (H4)
  [[nodiscard]] bool learns() const noexcept { return !learn_ports.empty(); }
  [[nodiscard]] bool is_learn_port(std::uint16_t port) const noexcept;
};

inline constexpr std::uint8_t kNoApp = 0xff;

class AppRules {
 public:
  // Reads and validates a rules file; every error names the file and line and says the fix.
  static Expected<std::shared_ptr<const AppRules>> load(const std::string& path);
  // The same from text; `name` is used in messages.
  static Expected<std::shared_ptr<const AppRules>> parse(std::string_view text,
                                                         const std::string& name);

  [[nodiscard]] const std::vector<AppDefinition>& apps() const noexcept { return apps_; }
  [[nodiscard]] const std::string& source() const noexcept { return source_; }
  // The application of a host name (exact or a subdomain of a rule's domain), or kNoApp.
  [[nodiscard]] std::uint8_t app_by_host(std::string_view host) const noexcept;
  // The application of the longest network holding `addr`, or kNoApp.
  [[nodiscard]] std::uint8_t app_by_address(const Address& addr,
                                            std::uint8_t ip_version) const noexcept;
  [[nodiscard]] std::size_t host_count() const noexcept { return hosts_.size(); }
  [[nodiscard]] std::size_t network_count() const noexcept { return v4_.size() + v6_.size(); }

 private:
  // A network as two 64-bit words and their prefix masks (big-endian, so the prefix is the
  // top bits): a lookup is two AND-compares per network.
  struct Net {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    std::uint64_t mask_hi = 0;
    std::uint64_t mask_lo = 0;
    std::uint8_t prefix = 0;
    std::uint8_t app = 0;
  };
  struct Host {
    std::string domain;  // lowercase, no trailing dot
    std::uint8_t app = 0;
  };
  std::string source_;
  std::vector<AppDefinition> apps_;
  std::vector<Host> hosts_;  // sorted by domain
  std::vector<Net> v4_;      // sorted by prefix, longest first
  // One bit per IPv4 /16 that some network overlaps: most addresses are ruled out by one test.
  std::vector<std::uint64_t> v4_slash16_;
  std::vector<Net> v6_;
};

// The payload checks, on a UDP payload. `packets`: the flow's packets so far, this one included.
[[nodiscard]] bool zoom_media(const std::uint8_t* p, std::size_t n, std::uint16_t src_port,
                              std::uint16_t dst_port, std::uint64_t packets) noexcept;
[[nodiscard]] bool zoom_p2p(const std::uint8_t* p, std::size_t n) noexcept;
// A STUN message (RFC 3489 or 5389 framing) whose attributes include 0x0101 or 0x0103.
[[nodiscard]] bool stun_zoom_attribute(const std::uint8_t* p, std::size_t n) noexcept;

}  // namespace ctlabeld::classify
