// What the action stage sees of a flow: its initiator-oriented tuple, nDPI's verdict, counters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ctlabeld/common/net.hpp"

namespace ctlabeld::classify {

// nDPI's answer for a flow. Names are lowercase nDPI names ("tls", "zoom", "voip"). The
// string_views point into the classifier's name table and the flow record: valid while both live.
struct Verdict {
  std::string_view app = "unknown";                    // "TLS.Zoom" -> "zoom"; "DNS" -> "dns"
  std::string_view protocol = "unknown";               // "TLS.Zoom" -> "tls"; "DNS" -> "dns"
  std::string_view category = "unspecified";           // nDPI's flow category
  std::string_view app_category = "unspecified";       // the app protocol's default category
  std::string_view protocol_category = "unspecified";  // the master protocol's default category
  std::string_view confidence = "Unknown";             // nDPI's name: "DPI", "DPI (cache)", ...
  std::string_view hostname;     // TLS SNI, HTTP Host or DNS query; may be empty
  std::uint64_t risks = 0;       // bit i set: nDPI risk enum value i
  std::uint16_t risk_score = 0;  // nDPI's cumulative risk score
  // Why the app is what it is: "dpi" (nDPI), or the application rules' "host", "network",
  // "payload" or "endpoint"; "none" when nothing named the flow.
  std::string_view detected_by = "none";
  bool guessed = false;   // the verdict came from ports/IPs, not payload
  bool complete = false;  // nDPI will not change its mind
};

struct FlowView {
  FlowTuple tuple{};  // src = the initiator
  const Verdict* verdict = nullptr;
  std::uint64_t packets = 0;  // both directions
  std::uint64_t bytes = 0;    // both directions, wire length
  std::string_view iface;     // capture source name ("eth0", "nflog:5", a file path)
};

}  // namespace ctlabeld::classify
