// SPDX-License-Identifier: GPL-3.0-or-later
// The application rules inside the classifier: what names a flow after nDPI has answered, and
// the learned endpoints. Only generic nDPI answers are ever renamed.
#include <ndpi/ndpi_api.h>

#include <spdlog/spdlog.h>

#include "ctlabeld/classify/classifier.hpp"

namespace ctlabeld::classify {

namespace {

// nDPI answers that say how, not what: the rules may name the application behind them.
bool generic_id(std::uint16_t id, bool host_rule) noexcept {
  switch (id) {
    case NDPI_PROTOCOL_UNKNOWN:
    case NDPI_PROTOCOL_STUN:
    case NDPI_PROTOCOL_DTLS:
    case NDPI_PROTOCOL_RTP:
    case NDPI_PROTOCOL_RTCP:
    case NDPI_PROTOCOL_TLS:
    case NDPI_PROTOCOL_QUIC: return true;
    // A host name the client asked for names the application behind a lookup or a plain request.
    case NDPI_PROTOCOL_HTTP:
    case NDPI_PROTOCOL_DNS: return host_rule;
    default: return false;
  }
}

bool generic(std::uint16_t master, std::uint16_t app, bool host_rule) noexcept {
  return generic_id(master, host_rule) && generic_id(app, host_rule);
}

bool tcp_or_udp(const FlowRecord& flow) noexcept {
  return flow.key.ip_protocol == kProtoTcp || flow.key.ip_protocol == kProtoUdp;
}

constexpr std::uint8_t kWhyPayload = kAppWhyMedia | kAppWhyP2p | kAppWhyStun;

}  // namespace

void Classifier::app_rules_packet(FlowRecord& flow, const capture::DecodedPacket& packet) noexcept {
  if (flow.rule_app != 0 || flow.key.ip_protocol != kProtoUdp) return;
  const std::size_t n = packet.l4_payload_len;
  const std::uint8_t* payload = packet.l3 + packet.l3_len - n;
  const auto& apps = rules_->apps();
  for (std::size_t i = 0; i < apps.size() && n > 0; ++i) {
    const std::uint8_t checks = apps[i].checks;
    std::uint8_t why = 0;
    if ((checks & static_cast<std::uint8_t>(PayloadCheck::kZoomMedia)) != 0 &&
        zoom_media(payload, n, packet.tuple.src_port, packet.tuple.dst_port, flow.packets)) {
      why = kAppWhyMedia;
    } else if ((checks & static_cast<std::uint8_t>(PayloadCheck::kZoomP2p)) != 0 &&
               zoom_p2p(payload, n)) {
      why = kAppWhyP2p;
    } else if ((checks & static_cast<std::uint8_t>(PayloadCheck::kZoomStun)) != 0 &&
               stun_zoom_attribute(payload, n)) {
      why = kAppWhyStun;
    }
    if (why != 0) {
      flow.rule_app = static_cast<std::uint8_t>(i + 1);
      flow.app_flags |= why;
      return;
    }
  }
  // H4 on the flow's first packet: either side may be the endpoint a client taught.
  if (endpoints_ && flow.dpi_packets == 1) {
    const std::uint8_t version = flow.key.ip_version;
    std::uint8_t app = endpoints_->find(flow.key.lo, version, flow.key.lo_port, packet.ts_us);
    if (app == kNoApp) app = endpoints_->find(flow.key.hi, version, flow.key.hi_port, packet.ts_us);
    if (app != kNoApp && app < rule_app_ids_.size())
      flow.rule_app = static_cast<std::uint8_t>(app + 1);
  }
}

void Classifier::app_rules_overlay(FlowRecord& flow, std::uint16_t& master, std::uint16_t& app,
                                   std::string_view host, bool final) noexcept {
  flow.detected_by = static_cast<std::uint8_t>(DetectedBy::kDpi);
  if (!tcp_or_udp(flow)) return;  // never ICMP or other protocols
  const bool strict = generic(master, app, false);
  std::uint8_t rule = kNoApp;
  DetectedBy by = DetectedBy::kDpi;
  if (flow.rule_app != 0 && strict) {
    rule = static_cast<std::uint8_t>(flow.rule_app - 1);
    by = (flow.app_flags & kWhyPayload) != 0 ? DetectedBy::kPayload : DetectedBy::kEndpoint;
  }
  if (rule == kNoApp && !host.empty() && generic(master, app, true)) {
    rule = rules_->app_by_host(host);
    by = DetectedBy::kHost;
  }
  const bool unknown = master == NDPI_PROTOCOL_UNKNOWN && app == NDPI_PROTOCOL_UNKNOWN;
  // Networks name what DPI recognised as a transport (TLS, STUN, DTLS...), or nothing at the end.
  if (rule == kNoApp && strict && (final || !unknown)) {
    rule = rules_->app_by_address(flow.key.lo, flow.key.ip_version);
    if (rule == kNoApp) rule = rules_->app_by_address(flow.key.hi, flow.key.ip_version);
    by = DetectedBy::kNetwork;
  }
  if (rule == kNoApp && strict && final && endpoints_ && flow.key.ip_protocol == kProtoUdp) {
    // H4 again at give-up: the teaching flow may have been on another worker, behind this one.
    const std::uint64_t now = flow.last_seen_us;
    rule = endpoints_->find(flow.key.lo, flow.key.ip_version, flow.key.lo_port, now);
    if (rule == kNoApp)
      rule = endpoints_->find(flow.key.hi, flow.key.ip_version, flow.key.hi_port, now);
    by = DetectedBy::kEndpoint;
  }
  if (rule == kNoApp || rule >= rule_app_ids_.size()) return;
  // Keep nDPI's protocol (stun, dtls, tls...); a STUN message found by the check is STUN.
  std::uint16_t protocol = master != NDPI_PROTOCOL_UNKNOWN ? master : app;
  if (protocol == NDPI_PROTOCOL_UNKNOWN && (flow.app_flags & kAppWhyStun) != 0) {
    protocol = NDPI_PROTOCOL_STUN;
  }
  master = protocol;
  app = rule_app_ids_[rule];
  flow.detected_by = static_cast<std::uint8_t>(by);
}

void Classifier::app_rules_learn(FlowRecord& flow, std::uint64_t now_us) noexcept {
  if (!endpoints_ || flow.key.ip_protocol != kProtoUdp ||
      (flow.app_flags & (kAppLearnLo | kAppLearnHi)) != 0 || flow.app_proto == 0) {
    return;
  }
  std::size_t rule = 0;
  while (rule < rule_app_ids_.size() && rule_app_ids_[rule] != flow.app_proto) ++rule;
  if (rule == rule_app_ids_.size()) return;
  const AppDefinition& def = rules_->apps()[rule];
  if (!def.learns()) return;
  const FlowKey& k = flow.key;
  const bool lo_port = def.is_learn_port(k.lo_port);
  const bool hi_port = def.is_learn_port(k.hi_port);
  bool client_is_lo = false;
  if ((flow.app_flags & kAppWhyStun) != 0 || flow.master_proto == NDPI_PROTOCOL_STUN) {
    // Named by STUN: the client is the side off the STUN ports, else the initiator.
    client_is_lo = lo_port != hi_port ? hi_port : flow.initiator_is_lo;
  } else {
    // Going to one of the application's networks on a learning port.
    const auto r = static_cast<std::uint8_t>(rule);
    const bool lo_server = lo_port && rules_->app_by_address(k.lo, k.ip_version) == r;
    const bool hi_server = hi_port && rules_->app_by_address(k.hi, k.ip_version) == r;
    if (lo_server == hi_server) return;
    client_is_lo = hi_server;
  }
  flow.app_flags |= client_is_lo ? kAppLearnLo : kAppLearnHi;
  app_rules_refresh(flow, now_us);
}

void Classifier::app_rules_refresh(const FlowRecord& flow, std::uint64_t now_us) noexcept {
  if (!endpoints_) return;
  std::size_t rule = 0;
  while (rule < rule_app_ids_.size() && rule_app_ids_[rule] != flow.app_proto) ++rule;
  if (rule == rule_app_ids_.size()) return;
  const bool lo = (flow.app_flags & kAppLearnLo) != 0;
  endpoints_->learn(lo ? flow.key.lo : flow.key.hi, flow.key.ip_version,
                    lo ? flow.key.lo_port : flow.key.hi_port, static_cast<std::uint8_t>(rule),
                    now_us);
}

void Classifier::app_rules_explain(const FlowRecord& flow) const {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  const Verdict v = verdict_of(flow);
  const FlowTuple t = flow.initiator_tuple();
  const char* why = "";
  switch (static_cast<DetectedBy>(flow.detected_by)) {
    case DetectedBy::kDpi: why = "nDPI's answer"; break;
    case DetectedBy::kHost: why = "host name in the application rules"; break;
    case DetectedBy::kNetwork: why = "server network in the application rules"; break;
    case DetectedBy::kPayload:
      why = (flow.app_flags & kAppWhyMedia) != 0 ? "zoom-media payload check"
            : (flow.app_flags & kAppWhyP2p) != 0 ? "zoom-p2p payload check"
                                                 : "zoom-stun payload check";
      break;
    case DetectedBy::kEndpoint: why = "endpoint learned from an earlier flow"; break;
  }
  spdlog::debug(
      "classify: {} {}:{} -> {}:{}: app {}, protocol {}, detected_by {} ({}){}{}{}",
      t.ip_protocol == kProtoTcp   ? "TCP"
      : t.ip_protocol == kProtoUdp ? "UDP"
                                   : "IP",
      to_string(t.src, t.ip_version), t.src_port, to_string(t.dst, t.ip_version), t.dst_port, v.app,
      v.protocol, v.detected_by, why, v.hostname.empty() ? "" : ", host ", v.hostname,
      (flow.app_flags & (kAppLearnLo | kAppLearnHi)) != 0 ? ", teaches its client endpoint" : "");
}

}  // namespace ctlabeld::classify
