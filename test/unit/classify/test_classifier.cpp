// SPDX-License-Identifier: GPL-3.0-or-later
// The nDPI classifier on synthetic packets: give-up after the packet limit, idle expiry by
// packet time, eviction, initiator detection, and the lowercase verdict names.
#include <catch2/catch.hpp>

#include <vector>

#include "ctlabeld/capture/packet.hpp"
#include "ctlabeld/classify/classifier.hpp"

using namespace ctlabeld;
using namespace ctlabeld::classify;

namespace {

// An IPv4 UDP or TCP packet (header checksums left zero: nDPI does not check them).
struct Packet {
  std::vector<std::uint8_t> bytes;
  capture::DecodedPacket decoded;
};

Packet make_packet(std::uint8_t proto, std::uint8_t a, std::uint16_t sport, std::uint8_t b,
                   std::uint16_t dport, std::uint64_t ts_us,
                   const std::vector<std::uint8_t>& payload, std::uint8_t tcp_flags = 0x18) {
  Packet p;
  const std::size_t l4 = proto == kProtoTcp ? 20 : 8;
  const std::size_t total = 20 + l4 + payload.size();
  p.bytes.assign(total, 0);
  auto* ip = p.bytes.data();
  ip[0] = 0x45;
  ip[2] = static_cast<std::uint8_t>(total >> 8);
  ip[3] = static_cast<std::uint8_t>(total);
  ip[8] = 64;
  ip[9] = proto;
  const std::uint8_t src[4] = {10, 0, 0, a};
  const std::uint8_t dst[4] = {10, 0, 1, b};
  std::copy(src, src + 4, ip + 12);
  std::copy(dst, dst + 4, ip + 16);
  auto* l = ip + 20;
  l[0] = static_cast<std::uint8_t>(sport >> 8);
  l[1] = static_cast<std::uint8_t>(sport);
  l[2] = static_cast<std::uint8_t>(dport >> 8);
  l[3] = static_cast<std::uint8_t>(dport);
  if (proto == kProtoTcp) {
    l[12] = 0x50;
    l[13] = tcp_flags;
  } else {
    l[4] = static_cast<std::uint8_t>((8 + payload.size()) >> 8);
    l[5] = static_cast<std::uint8_t>(8 + payload.size());
  }
  std::copy(payload.begin(), payload.end(), l + l4);
  auto& d = p.decoded;
  d.ts_us = ts_us;
  d.wire_len = static_cast<std::uint32_t>(total + 14);
  d.tuple.ip_version = 4;
  d.tuple.ip_protocol = proto;
  d.tuple.src = Address::from_v4(src);
  d.tuple.dst = Address::from_v4(dst);
  d.tuple.src_port = sport;
  d.tuple.dst_port = dport;
  d.l4_payload_len = static_cast<std::uint16_t>(payload.size());
  d.tcp_flags = proto == kProtoTcp ? tcp_flags : 0;
  return p;
}

struct Recorder : FlowEvents {
  struct Event {
    bool end;
    bool final;
    EndReason reason;
    std::string app;
    std::string protocol;
    FlowTuple tuple;
    std::uint32_t packets;
  };
  std::vector<Event> events;
  void on_verdict(const FlowView& flow, bool final) override {
    events.push_back({false, final, EndReason::kIdle, std::string(flow.verdict->app),
                      std::string(flow.verdict->protocol), flow.tuple,
                      static_cast<std::uint32_t>(flow.packets)});
  }
  void on_end(const FlowView& flow, EndReason reason) override {
    events.push_back({true, true, reason, std::string(flow.verdict->app),
                      std::string(flow.verdict->protocol), flow.tuple,
                      static_cast<std::uint32_t>(flow.packets)});
  }
  std::size_t count_ends() const {
    std::size_t n = 0;
    for (const auto& e : events) n += e.end ? 1 : 0;
    return n;
  }
};

std::unique_ptr<Classifier> make(ClassifierConfig cfg = {}) {
  auto c = Classifier::create(cfg);
  REQUIRE(c.ok());
  return std::move(c.value());
}

void feed(Classifier& c, const Packet& p, Recorder& r) {
  capture::DecodedPacket d = p.decoded;
  d.l3 = p.bytes.data();
  d.l3_len = static_cast<std::uint16_t>(p.bytes.size());
  c.process(d, 0, r);
}

const std::vector<std::uint8_t> kNoise = {0x9a, 0x11, 0xc3, 0x05, 0x77, 0xe0,
                                          0x42, 0x3b, 0x8f, 0x00, 0xd1, 0x6c};

}  // namespace

TEST_CASE("an unrecognisable flow gets a give-up verdict after max_dpi_packets packets") {
  for (std::uint32_t limit : {1u, 4u, 10u}) {
    ClassifierConfig cfg;
    cfg.max_dpi_packets = limit;
    auto c = make(cfg);
    Recorder r;
    for (std::uint32_t i = 0; i < limit + 5; ++i) {
      feed(*c, make_packet(kProtoUdp, 1, 40000, 2, 47123, 1000000 + i, kNoise), r);
    }
    REQUIRE(r.events.size() == 1);
    CHECK(r.events[0].final);
    CHECK(r.events[0].packets == limit);
    CHECK(c->stats().giveups == 1);
    CHECK(c->stats().dpi_packets == limit);  // packets after the verdict never reach nDPI
  }
}

TEST_CASE("idle flows expire by packet time, per protocol") {
  ClassifierConfig cfg;
  cfg.udp_idle = std::chrono::seconds(60);
  cfg.tcp_idle = std::chrono::seconds(300);
  auto c = make(cfg);
  Recorder r;
  feed(*c, make_packet(kProtoUdp, 1, 40000, 2, 47123, 1'000'000, kNoise), r);
  feed(*c, make_packet(kProtoTcp, 1, 40001, 2, 47124, 1'000'000, kNoise), r);
  c->expire(1'000'000 + 59'000'000, r);
  CHECK(r.count_ends() == 0);
  c->expire(1'000'000 + 61'000'000, r);
  CHECK(r.count_ends() == 1);
  CHECK(r.events.back().reason == EndReason::kIdle);
  CHECK(r.events.back().tuple.ip_protocol == kProtoUdp);
  c->expire(1'000'000 + 301'000'000, r);
  CHECK(r.count_ends() == 2);
  CHECK(c->table_stats().expired == 2);
  CHECK(c->table_stats().active == 0);
}

TEST_CASE("TCP flows that saw FIN or RST expire sooner") {
  ClassifierConfig cfg;
  cfg.tcp_closed_idle = std::chrono::seconds(10);
  auto c = make(cfg);
  Recorder r;
  feed(*c, make_packet(kProtoTcp, 1, 40001, 2, 47124, 0, {}, 0x02), r);
  feed(*c, make_packet(kProtoTcp, 1, 40001, 2, 47124, 1'000'000, {}, 0x11), r);
  c->expire(1'000'000 + 11'000'000, r);
  CHECK(r.count_ends() == 1);
}

TEST_CASE("a full table evicts the least recently used flow and counts it") {
  ClassifierConfig cfg;
  cfg.max_flows = 2;
  auto c = make(cfg);
  Recorder r;
  feed(*c, make_packet(kProtoUdp, 1, 1000, 2, 2000, 10, kNoise), r);
  feed(*c, make_packet(kProtoUdp, 3, 1000, 2, 2000, 20, kNoise), r);
  feed(*c, make_packet(kProtoUdp, 1, 1000, 2, 2000, 30, kNoise), r);  // refreshes the first
  feed(*c, make_packet(kProtoUdp, 4, 1000, 2, 2000, 40, kNoise), r);  // evicts 10.0.0.3
  REQUIRE(r.count_ends() == 1);
  CHECK(r.events.back().reason == EndReason::kEvicted);
  const std::uint8_t three[4] = {10, 0, 0, 3};
  CHECK(r.events.back().tuple.src == Address::from_v4(three));
  CHECK(c->table_stats().evicted == 1);
  CHECK(c->table_stats().active == 2);
}

TEST_CASE("the initiator is the client even when the SYN-ACK is seen first") {
  auto c = make();
  Recorder r;
  // Server 10.0.1.2:443 answers 10.0.0.1:40000; the capture missed the SYN.
  Packet synack = make_packet(kProtoTcp, 1, 40000, 2, 443, 0, {}, 0x12);
  std::swap(synack.decoded.tuple.src, synack.decoded.tuple.dst);
  std::swap(synack.decoded.tuple.src_port, synack.decoded.tuple.dst_port);
  feed(*c, synack, r);
  c->flush(r);
  REQUIRE_FALSE(r.events.empty());
  const FlowTuple t = r.events.back().tuple;
  const std::uint8_t client[4] = {10, 0, 0, 1};
  CHECK(t.src == Address::from_v4(client));
  CHECK(t.src_port == 40000);
  CHECK(t.dst_port == 443);
}

TEST_CASE("flush gives every undecided flow a verdict and ends it") {
  auto c = make();
  Recorder r;
  for (std::uint8_t i = 1; i <= 5; ++i)
    feed(*c, make_packet(kProtoUdp, i, 1000, 2, 2000, i, kNoise), r);
  c->flush(r);
  CHECK(r.count_ends() == 5);
  CHECK(c->stats().final_verdicts == 5);
  for (const auto& e : r.events) {
    CHECK_FALSE(e.app.empty());
    CHECK(e.app == e.protocol);  // one name: nDPI found nothing or a single protocol
  }
}

TEST_CASE("a DNS query is named in lowercase with protocol and app both dns") {
  // A standard query for example.com, type A.
  const std::vector<std::uint8_t> query = {
      0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 'e', 'x',
      'a',  'm',  'p',  'l',  'e',  0x03, 'c',  'o',  'm',  0x00, 0x00, 0x01, 0x00, 0x01};
  auto c = make();
  Recorder r;
  feed(*c, make_packet(kProtoUdp, 1, 53000, 2, 53, 0, query), r);
  c->flush(r);
  REQUIRE_FALSE(r.events.empty());
  CHECK(r.events.front().protocol == "dns");
  CHECK(r.events.front().app == "dns");
}

TEST_CASE("risk names map to their bits and back") {
  const auto bit = risk_bit_by_name("Self-signed Certificate");
  REQUIRE(bit.has_value());
  CHECK(risk_name(*bit) == "Self-signed Certificate");
  CHECK(risk_bit_by_name("self_signed_certificate") == bit);
  CHECK_FALSE(risk_bit_by_name("no such risk").has_value());
}

TEST_CASE("a protos file that does not load is an error naming it") {
  ClassifierConfig cfg;
  cfg.protos_file = "/nonexistent/protos.txt";
  auto c = Classifier::create(cfg);
  REQUIRE_FALSE(c.ok());
  CHECK(c.errors().front().find("/nonexistent/protos.txt") != std::string::npos);
}

TEST_CASE(
    "a flow that goes quiet while nDPI inspects it gets its verdict and its nDPI state freed") {
  ClassifierConfig cfg;
  cfg.dpi_idle = std::chrono::seconds(30);
  auto c = make(cfg);
  Recorder r;
  const std::uint64_t t0 = 1'000'000;
  feed(*c, make_packet(kProtoUdp, 1, 40000, 2, 47123, t0, kNoise), r);  // goes quiet
  feed(*c, make_packet(kProtoUdp, 3, 40000, 4, 47123, t0, kNoise), r);  // stays busy
  for (std::uint64_t s = 1; s <= 20; ++s) {
    feed(*c, make_packet(kProtoUdp, 3, 40000, 4, 47123, t0 + s * 2'000'000, kNoise), r);
  }
  c->expire(t0 + 29'000'000, r);
  CHECK(r.events.empty());
  CHECK(c->stats().dpi_active == 2);
  c->expire(t0 + 31'000'000, r);
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].final);
  CHECK(r.events[0].tuple.src ==
        make_packet(kProtoUdp, 1, 40000, 2, 47123, 0, kNoise).decoded.tuple.src);
  CHECK(c->stats().dpi_idle_giveups == 1);
  CHECK(c->stats().dpi_active == 1);
  CHECK(c->table_stats().active == 2);  // the record stays: only nDPI's state went
  // Later packets of the quiet flow are counted but no longer inspected.
  const auto dpi_before = c->stats().dpi_packets;
  feed(*c, make_packet(kProtoUdp, 1, 40000, 2, 47123, t0 + 32'000'000, kNoise), r);
  CHECK(c->stats().dpi_packets == dpi_before);
  CHECK(r.events.size() == 1);
}

namespace {
// Records the FlowView of the last flow that ended, with its own copy of the strings.
struct ViewRecorder : FlowEvents {
  FlowView view;
  std::string in, out;
  void on_verdict(const FlowView&, bool) override {}
  void on_end(const FlowView& flow, EndReason) override {
    view = flow;
    view.verdict = nullptr;  // not kept past the call
    in = std::string(view.in_iface);
    out = std::string(view.out_iface);
  }
};
ClassifierConfig with_source(std::string name) {
  ClassifierConfig cfg;
  cfg.source_names = {std::move(name)};
  return cfg;
}
}  // namespace

TEST_CASE("link facts: each side's MAC and the initiator's interfaces, oriented") {
  auto c = make(with_source("nflog:5"));
  ViewRecorder r;
  // The responder's NFLOG packet comes first (the SYN was missed): its indev is the initiator's
  // outdev. ifindex 1 is the loopback in every namespace.
  Packet synack = make_packet(kProtoTcp, 1, 40000, 2, 443, 0, {}, 0x12);
  std::swap(synack.decoded.tuple.src, synack.decoded.tuple.dst);
  std::swap(synack.decoded.tuple.src_port, synack.decoded.tuple.dst_port);
  synack.decoded.nflog = true;
  synack.decoded.in_ifindex = 1;
  synack.decoded.out_ifindex = 0;
  REQUIRE(parse_mac("02:00:00:00:00:02", synack.decoded.src_mac));
  synack.decoded.has_src_mac = true;
  Packet ack = make_packet(kProtoTcp, 1, 40000, 2, 443, 10, {}, 0x10);
  ack.decoded.nflog = true;
  ack.decoded.in_ifindex = 9999;  // ignored: the interfaces are already known
  REQUIRE(parse_mac("02:00:00:00:00:01", ack.decoded.src_mac));
  ack.decoded.has_src_mac = true;
  Recorder ignore;
  feed(*c, synack, ignore);
  capture::DecodedPacket d = ack.decoded;
  d.l3 = ack.bytes.data();
  d.l3_len = static_cast<std::uint16_t>(ack.bytes.size());
  c->process(d, 0, ignore);
  c->flush(r);
  CHECK(r.view.has_src_mac);
  CHECK(r.view.has_dst_mac);
  CHECK(to_string(r.view.src_mac) == "02:00:00:00:00:01");  // the client's
  CHECK(to_string(r.view.dst_mac) == "02:00:00:00:00:02");  // the server's
  CHECK(r.in.empty());   // the initiator's input: the reply's output, unknown here
  CHECK(r.out == "lo");  // the initiator's output: where the reply came in

  SECTION("interface capture: the capture source is the input, MACs from Ethernet") {
    auto c2 = make(with_source("eth0"));
    ViewRecorder r2;
    Packet p = make_packet(kProtoUdp, 1, 1000, 2, 2000, 0, kNoise);
    REQUIRE(parse_mac("02:00:00:00:00:01", p.decoded.src_mac));
    REQUIRE(parse_mac("02:00:00:00:00:fe", p.decoded.dst_mac));
    p.decoded.has_src_mac = p.decoded.has_dst_mac = true;
    feed(*c2, p, ignore);
    c2->flush(r2);
    CHECK(r2.in == "eth0");
    CHECK(r2.out.empty());
    CHECK(to_string(r2.view.dst_mac) == "02:00:00:00:00:fe");
  }
}
