// SPDX-License-Identifier: GPL-3.0-or-later
// What the stages after classification see of a flow: a read-only view (its identifier, the
// initiator-oriented tuple, nDPI's verdict, counters). Nothing downstream writes into the record.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ctlabeld/common/flow_id.hpp"
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
  FlowId id{};        // stable while the flow lives: downstream state is keyed by it
  FlowTuple tuple{};  // src = the initiator
  const Verdict* verdict = nullptr;
  std::uint64_t packets = 0;        // both directions
  std::uint64_t bytes = 0;          // both directions, wire length
  std::string_view iface;           // capture source name ("eth0", "nflog:5", a file path)
  std::uint64_t first_seen_us = 0;  // packet time
  std::uint64_t last_seen_us = 0;
  // The initiator's (src) and responder's (dst) MAC addresses where the link gave them.
  Mac src_mac{};
  Mac dst_mac{};
  bool has_src_mac = false;
  bool has_dst_mac = false;
  // The initiator's packets' input and output interface: NFLOG's indev/outdev resolved to
  // names; on interface capture the capture interface is the input and the output is unknown.
  std::string_view in_iface;
  std::string_view out_iface;
};

}  // namespace ctlabeld::classify
