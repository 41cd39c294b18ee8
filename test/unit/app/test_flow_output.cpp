// SPDX-License-Identifier: GPL-3.0-or-later
// --flows lines: every required field, initiator first, valid JSON escaping.
#include <catch2/catch.hpp>

#include "flow_output.hpp"

using namespace ctlabeld;
using namespace ctlabeld::app;

TEST_CASE("JSON strings escape quotes, control bytes and non-ASCII") {
  std::string out;
  append_json_string("a\"b\\c\n\x01\xff", out);
  CHECK(out == "a\\\"b\\\\c\\n\\u0001\\u00ff");
}

TEST_CASE("a flow line has the required fields, initiator first") {
  classify::FlowView r{};
  const std::uint8_t initiator[4] = {192, 0, 2, 9};
  const std::uint8_t responder[4] = {10, 0, 0, 1};
  r.tuple.ip_version = 4;
  r.tuple.ip_protocol = kProtoTcp;
  r.tuple.src = Address::from_v4(initiator);  // 192.0.2.9:443 opened it
  r.tuple.dst = Address::from_v4(responder);
  r.tuple.src_port = 443;
  r.tuple.dst_port = 40000;
  r.packets = 3;
  r.bytes = 180;
  r.first_seen_us = 1500000000123456;
  r.last_seen_us = 1500000001000000;
  r.iface = "eth0";
  classify::Verdict v;
  v.app = "zoom";
  v.protocol = "tls";
  v.hostname = "x.zoom.us";
  v.detected_by = "host";
  r.verdict = &v;
  FlowLine line{&r, {"zoom"}, {"zoom"}};
  std::string out;
  format_flow_json(line, out);
  CHECK(out ==
        "{\"ip_version\":4,\"ip_protocol\":6,\"src_ip\":\"192.0.2.9\",\"src_port\":443,\"dst_ip\":"
        "\"10.0.0.1\","
        "\"dst_port\":40000,\"vlan\":0,\"app\":\"zoom\",\"protocol\":\"tls\",\"category\":"
        "\"unspecified\","
        "\"hostname\":\"x.zoom.us\",\"confidence\":\"Unknown\",\"detected_by\":\"host\","
        "\"guessed\":false,\"risk_score\":0,"
        "\"iface\":\"eth0\","
        "\"packets\":3,\"bytes\":180,\"first_seen\":1500000000.123456,\"last_seen\":1500000001."
        "000000,"
        "\"actions\":[\"zoom\"],\"labels\":[\"zoom\"]}");
}
