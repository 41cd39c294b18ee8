// SPDX-License-Identifier: GPL-3.0-or-later
// The application rules: the file format, host and network matching, the payload checks (H1-H3),
// the learned-endpoint table (H4), and the classifier using them on synthetic packets.
#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ctlabeld/capture/packet.hpp"
#include "ctlabeld/classify/app_rules.hpp"
#include "ctlabeld/classify/classifier.hpp"
#include "ctlabeld/classify/endpoint_table.hpp"

using namespace ctlabeld;
using namespace ctlabeld::classify;

namespace {

using Bytes = std::vector<std::uint8_t>;

std::shared_ptr<const AppRules> rules_from(const std::string& text) {
  auto r = AppRules::parse(text, "test.conf");
  INFO(r.error_text());
  REQUIRE(r.ok());
  return r.value();
}

Address v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  const std::uint8_t x[4] = {a, b, c, d};
  return Address::from_v4(x);
}

Address parse(const std::string& text, std::uint8_t& version) {
  Address a;
  version = parse_address(text, a);
  REQUIRE(version != 0);
  return a;
}

std::uint8_t app_of(const AppRules& r, const std::string& ip) {
  std::uint8_t version = 0;
  const Address a = parse(ip, version);
  return r.app_by_address(a, version);
}

// A STUN message: type, the RFC 5389 cookie (or not), and attributes (type, value length).
Bytes stun(std::uint16_t type, bool cookie,
           const std::vector<std::pair<std::uint16_t, std::uint16_t>>& attrs) {
  Bytes b(20, 0);
  b[0] = static_cast<std::uint8_t>(type >> 8);
  b[1] = static_cast<std::uint8_t>(type);
  if (cookie) {
    b[4] = 0x21;
    b[5] = 0x12;
    b[6] = 0xa4;
    b[7] = 0x42;
  }
  for (std::size_t i = 8; i < 20; ++i) b[i] = static_cast<std::uint8_t>(i * 7);
  for (auto [t, len] : attrs) {
    b.push_back(static_cast<std::uint8_t>(t >> 8));
    b.push_back(static_cast<std::uint8_t>(t));
    b.push_back(static_cast<std::uint8_t>(len >> 8));
    b.push_back(static_cast<std::uint8_t>(len));
    for (std::uint16_t i = 0; i < (len + 3) / 4 * 4; ++i) b.push_back(0x5a);
  }
  const std::size_t body = b.size() - 20;
  b[2] = static_cast<std::uint8_t>(body >> 8);
  b[3] = static_cast<std::uint8_t>(body);
  return b;
}

// Zoom's peer-to-peer hand-shake: 24 header bytes, then the peer's address and a UUID as
// length-value pairs, then four zero bytes.
Bytes p2p_handshake(const std::string& ip, const std::string& uuid) {
  Bytes b = {0x1f, 0x02, 0x01};
  b.resize(24, 0x33);
  auto put = [&](const std::string& s) {
    const auto n = static_cast<std::uint32_t>(s.size());
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(n >> shift));
    b.insert(b.end(), s.begin(), s.end());
  };
  put(ip);
  put(uuid);
  b.insert(b.end(), 4, 0);
  return b;
}

const std::string kUuid = "0f8fad5b-d9cb-469f-a165-70867728950e";

}  // namespace

TEST_CASE("app rules: every kind parses, and every mistake is reported with its line") {
  auto r = rules_from(
      "# comment\n"
      "zoom host zoom.us\n"
      "Zoom\thost\tZoomGov.com.  # trailing comment\n"
      "zoom network 192.0.2.0/24\n"
      "zoom network 2001:db8::/32\n"
      "zoom check zoom-media\n"
      "zoom check zoom-p2p\n"
      "zoom check zoom-stun\n"
      "zoom learn 3478-3479,8801-8810\n"
      "\n");
  REQUIRE(r->apps().size() == 1);
  const AppDefinition& z = r->apps()[0];
  CHECK(z.name == "zoom");
  CHECK(z.checks == 7);
  CHECK(z.is_learn_port(3479));
  CHECK(z.is_learn_port(8810));
  CHECK_FALSE(z.is_learn_port(8811));
  CHECK(r->host_count() == 2);
  CHECK(r->network_count() == 2);

  auto bad = AppRules::parse(
      "zoom host\n"
      "zoom host *.zoom.us\n"
      "zoom network 300.1.2.0/24\n"
      "zoom network 10.0.0.0/33\n"
      "zoom check zoom-video\n"
      "zoom learn 8801-\n"
      "zoom learn 9000-8000\n"
      "zoom port 8801\n",
      "bad.conf");
  REQUIRE_FALSE(bad.ok());
  const auto& e = bad.errors();
  REQUIRE(e.size() == 8);
  CHECK(e[0].rfind("bad.conf:1: expected 'APP KIND VALUE'", 0) == 0);
  CHECK(e[1].rfind("bad.conf:2: '*.zoom.us' is not a domain", 0) == 0);
  CHECK(e[2].rfind("bad.conf:3: '300.1.2.0/24' is not a network", 0) == 0);
  CHECK(e[3].rfind("bad.conf:4: '10.0.0.0/33' is not a network", 0) == 0);
  CHECK(e[4].rfind("bad.conf:5: unknown check 'zoom-video'", 0) == 0);
  CHECK(e[5].rfind("bad.conf:6: '8801-' is not a port list", 0) == 0);
  CHECK(e[6].rfind("bad.conf:7: '9000-8000' is not a port list", 0) == 0);
  CHECK(e[7].rfind("bad.conf:8: unknown kind 'port'", 0) == 0);

  auto missing = AppRules::load("/nonexistent/app_rules.conf");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.errors().front().find("/nonexistent/app_rules.conf") == 0);
}

TEST_CASE("app rules: host names match exactly or as subdomains, never by prefix") {
  auto r = rules_from("zoom host zoom.us\nzoom host zoomgov.com\n");
  CHECK(r->app_by_host("zoom.us") == 0);
  CHECK(r->app_by_host("us04web.zoom.us") == 0);
  CHECK(r->app_by_host("A.B.ZOOM.US.") == 0);
  CHECK(r->app_by_host("zoomgov.com") == 0);
  CHECK(r->app_by_host("my-zoom.us") == kNoApp);
  CHECK(r->app_by_host("myzoom.us") == kNoApp);
  CHECK(r->app_by_host("zoom.us.example.org") == kNoApp);
  CHECK(r->app_by_host("us") == kNoApp);
  CHECK(r->app_by_host("") == kNoApp);
  CHECK(r->app_by_host(std::string(300, 'a')) == kNoApp);
}

TEST_CASE("app rules: the longest network wins, per family") {
  auto r = rules_from(
      "teams network 10.0.0.0/8\n"
      "zoom network 10.1.0.0/16\n"
      "zoom network 2001:db8::/32\n"
      "teams network 2001:db8:1::/48\n");
  CHECK(app_of(*r, "10.1.2.3") == 1);
  CHECK(app_of(*r, "10.2.0.1") == 0);
  CHECK(app_of(*r, "11.0.0.1") == kNoApp);
  CHECK(app_of(*r, "2001:db8:1::5") == 0);
  CHECK(app_of(*r, "2001:db8:2::5") == 1);
  CHECK(app_of(*r, "2001:db9::1") == kNoApp);
}

TEST_CASE("app rules: the shipped file loads and keeps out the shared CloudFront space") {
  auto loaded = AppRules::load("etc/ctlabeld/app_rules.conf");
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  const AppRules& r = *loaded.value();
  REQUIRE(r.apps().size() == 1);
  CHECK(r.apps()[0].name == "zoom");
  CHECK(r.apps()[0].learns());
  CHECK(r.network_count() > 90);
  CHECK(app_of(r, "109.94.160.99") == 0);   // zoom.pcap's media server (nDPI 4.2's list)
  CHECK(app_of(r, "134.224.90.111") == 0);  // stun_zoom.pcapng's WebRTC server
  CHECK(app_of(r, "170.114.45.7") == 0);
  CHECK(app_of(r, "2407:30c0:180::1") == 0);
  CHECK(app_of(r, "52.84.151.10") == kNoApp);       // CloudFront, shared between customers
  CHECK(app_of(r, "2600:9000:2600::1") == kNoApp);  // CloudFront
  CHECK(r.app_by_host("zoom.com") == 0);
  CHECK(r.app_by_host("my-zoom.us") == kNoApp);
}

TEST_CASE("H1: Zoom server media on UDP 8801-8810") {
  Bytes sfu = {0x01, 0x00, 0x03, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70};
  CHECK(zoom_media(sfu.data(), sfu.size(), 50000, 8801, 1));
  CHECK_FALSE(zoom_media(sfu.data(), sfu.size(), 8801, 50000, 1));  // 01: client to server only
  CHECK_FALSE(zoom_media(sfu.data(), sfu.size(), 50000, 8811, 1));
  CHECK_FALSE(zoom_media(sfu.data(), 8, 50000, 8801, 1));  // length must exceed 8
  sfu[0] = 0x02;
  CHECK(zoom_media(sfu.data(), sfu.size(), 8810, 50000, 1));
  sfu[2] = 0x02;
  CHECK(zoom_media(sfu.data(), sfu.size(), 8810, 50000, 1));
  sfu[2] = 0x04;
  CHECK_FALSE(zoom_media(sfu.data(), sfu.size(), 8810, 50000, 1));
  Bytes keep = {0x03, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  CHECK_FALSE(zoom_media(keep.data(), keep.size(), 50000, 8801, 3));
  CHECK(zoom_media(keep.data(), keep.size(), 50000, 8801, 4));
  // Type 5: a media header at offset 8.
  Bytes media(8 + 19 + 12, 0);
  media[0] = 5;
  media[8] = 15;         // audio: RTP at +19
  media[8 + 19] = 0x80;  // RTP version 2
  media[8 + 20] = 111;   // dynamic payload type
  CHECK(zoom_media(media.data(), media.size(), 50000, 8801, 1));
  media[8 + 20] = 72;  // 72 is not an RTP payload type we accept
  CHECK_FALSE(zoom_media(media.data(), media.size(), 50000, 8801, 1));
  // A type-15 header cut short (24 to 27 bytes in all): no RTP to look at, and nothing read past
  // the payload (found by fuzz_packet under ASan).
  for (std::size_t len = 24; len <= 27; ++len) {
    Bytes cut(len, 0);
    cut[0] = 5;
    cut[8] = 15;
    CHECK_FALSE(zoom_media(cut.data(), cut.size(), 50000, 8801, 1));
  }
  Bytes share(8 + 28, 0);
  share[0] = 5;
  share[8] = 13;
  CHECK(zoom_media(share.data(), share.size(), 50000, 8801, 1));
  share.pop_back();
  CHECK_FALSE(zoom_media(share.data(), share.size(), 50000, 8801, 1));
  Bytes rtcp(8 + 16 + 8, 0);
  rtcp[0] = 5;
  rtcp[8] = 33;
  rtcp[8 + 16] = 0x80;
  rtcp[8 + 17] = 200;  // sender report
  rtcp[8 + 19] = 1;    // (1 + 1) * 4 = 8 bytes
  CHECK(zoom_media(rtcp.data(), rtcp.size(), 50000, 8801, 1));
  rtcp[8 + 19] = 2;  // longer than what is there
  CHECK_FALSE(zoom_media(rtcp.data(), rtcp.size(), 50000, 8801, 1));
}

TEST_CASE("H2: Zoom's peer-to-peer hand-shake") {
  Bytes h = p2p_handshake("192.168.1.226", kUuid);
  CHECK(h.size() == 85);  // as in zoom_p2p.pcapng
  CHECK(zoom_p2p(h.data(), h.size()));
  Bytes longer = h;
  longer.push_back(0);
  CHECK_FALSE(zoom_p2p(longer.data(), longer.size()));  // the lengths must add up exactly
  Bytes tail = h;
  tail[tail.size() - 1] = 1;
  CHECK_FALSE(zoom_p2p(tail.data(), tail.size()));
  Bytes magic = h;
  magic[2] = 0x02;
  CHECK_FALSE(zoom_p2p(magic.data(), magic.size()));
  Bytes huge = h;
  huge[24] = 0xff;  // L1 far beyond the packet
  CHECK_FALSE(zoom_p2p(huge.data(), huge.size()));
}

TEST_CASE("H3: STUN with Zoom's attribute") {
  Bytes a = stun(0x0001, true, {{0x0006, 5}, {0x0101, 4}});
  CHECK(stun_zoom_attribute(a.data(), a.size()));
  Bytes classic = stun(0x0001, false, {{0x0103, 8}});
  CHECK(stun_zoom_attribute(classic.data(), classic.size()));
  Bytes other = stun(0x0001, true, {{0x0006, 5}, {0x8022, 12}});
  CHECK_FALSE(stun_zoom_attribute(other.data(), other.size()));
  Bytes bad_len = a;
  bad_len.push_back(0);
  CHECK_FALSE(stun_zoom_attribute(bad_len.data(), bad_len.size()));
  Bytes not_stun = a;
  not_stun[0] = 0x80;
  CHECK_FALSE(stun_zoom_attribute(not_stun.data(), not_stun.size()));
}

TEST_CASE("H4 table: learn, find, refresh by packet time, expire, evict the least recent") {
  EndpointTable t(8, std::chrono::seconds(120));  // one probe window: the whole table
  const Address client = v4(192, 168, 12, 156);
  t.learn(client, 4, 39065, 0, 1'000'000);
  CHECK(t.find(client, 4, 39065, 2'000'000) == 0);
  CHECK(t.find(client, 4, 39066, 2'000'000) == kNoApp);
  CHECK(t.find(client, 6, 39065, 2'000'000) == kNoApp);
  CHECK(t.find(client, 4, 39065, 121'000'000) == 0);
  CHECK(t.find(client, 4, 39065, 121'000'001) == kNoApp);
  // A later refresh keeps it; a lookup from a worker behind in packet time still finds it.
  t.learn(client, 4, 39065, 0, 100'000'000);
  CHECK(t.find(client, 4, 39065, 219'000'000) == 0);
  CHECK(t.find(client, 4, 39065, 50'000'000) == 0);
  CHECK(t.stats().learned == 1);
  // Eight more endpoints into eight slots: the least recently refreshed goes.
  for (std::uint16_t i = 0; i < 8; ++i) {
    t.learn(v4(10, 0, 0, 1), 4, static_cast<std::uint16_t>(1000 + i), 0, 150'000'000 + i);
  }
  CHECK(t.stats().evicted == 1);
  CHECK(t.find(client, 4, 39065, 151'000'000) == kNoApp);
  CHECK(t.find(v4(10, 0, 0, 1), 4, 1007, 151'000'000) == 0);
}

TEST_CASE("H4 table: readers on other threads never see a torn entry") {
  EndpointTable t(64, std::chrono::seconds(120));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> wrong{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (std::uint64_t i = 0; i < 20000; ++i) {
        const auto port = static_cast<std::uint16_t>(1 + i % 500);
        // The app is a function of the key: a torn read would pair a key with another app.
        t.learn(v4(10, 0, static_cast<std::uint8_t>(w), 1), 4, port,
                static_cast<std::uint8_t>(port % 7), 1'000'000 + i * 2'000'000);
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      std::uint64_t i = 0;
      while (!stop.load(std::memory_order_relaxed) && i < 2'000'000) {
        const auto port = static_cast<std::uint16_t>(1 + i % 500);
        const std::uint8_t app = t.find(v4(10, 0, static_cast<std::uint8_t>(i % 2), 1), 4, port, 0);
        if (app != kNoApp && app != port % 7) wrong.fetch_add(1);
        ++i;
      }
    });
  }
  threads[0].join();
  threads[1].join();
  stop = true;
  threads[2].join();
  threads[3].join();
  CHECK(wrong.load() == 0);
  CHECK(t.stats().learned > 0);
}

namespace {

struct Packet {
  Bytes bytes;
  capture::DecodedPacket decoded;
};

Packet udp(const Address& src, std::uint16_t sport, const Address& dst, std::uint16_t dport,
           std::uint64_t ts_us, const Bytes& payload, std::uint8_t proto = kProtoUdp) {
  Packet p;
  const std::size_t total = 20 + 8 + payload.size();
  p.bytes.assign(total, 0);
  auto* ip = p.bytes.data();
  ip[0] = 0x45;
  ip[2] = static_cast<std::uint8_t>(total >> 8);
  ip[3] = static_cast<std::uint8_t>(total);
  ip[8] = 64;
  ip[9] = proto;
  std::copy(src.bytes.begin(), src.bytes.begin() + 4, ip + 12);
  std::copy(dst.bytes.begin(), dst.bytes.begin() + 4, ip + 16);
  auto* l = ip + 20;
  if (proto == kProtoUdp) {
    l[0] = static_cast<std::uint8_t>(sport >> 8);
    l[1] = static_cast<std::uint8_t>(sport);
    l[2] = static_cast<std::uint8_t>(dport >> 8);
    l[3] = static_cast<std::uint8_t>(dport);
    l[4] = static_cast<std::uint8_t>((8 + payload.size()) >> 8);
    l[5] = static_cast<std::uint8_t>(8 + payload.size());
  } else {
    l[0] = 8;  // ICMP echo request
  }
  std::copy(payload.begin(), payload.end(), l + 8);
  auto& d = p.decoded;
  d.ts_us = ts_us;
  d.wire_len = static_cast<std::uint32_t>(total);
  d.tuple.ip_version = 4;
  d.tuple.ip_protocol = proto;
  d.tuple.src = src;
  d.tuple.dst = dst;
  d.tuple.src_port = proto == kProtoUdp ? sport : 0;
  d.tuple.dst_port = proto == kProtoUdp ? dport : 0;
  if (proto != kProtoUdp) d.tuple.icmp_type = 8;
  d.l4_payload_len = static_cast<std::uint16_t>(payload.size());
  return p;
}

struct Seen : FlowEvents {
  struct Final {
    std::string app, protocol, detected_by;
    std::uint16_t src_port;
  };
  std::vector<Final> finals;
  void on_verdict(const FlowView& flow, bool final) override {
    if (final) {
      const Verdict& v = *flow.verdict;
      finals.push_back({std::string(v.app), std::string(v.protocol), std::string(v.detected_by),
                        flow.tuple.src_port});
    }
  }
  void on_end(const FlowView&, EndReason) override {}
};

void feed(Classifier& c, const Packet& p, Seen& s) {
  capture::DecodedPacket d = p.decoded;
  d.l3 = p.bytes.data();
  d.l3_len = static_cast<std::uint16_t>(p.bytes.size());
  c.process(d, 0, s);
}

const Bytes kNoise = {0x9a, 0x11, 0xc3, 0x05, 0x77, 0xe0, 0x42, 0x3b, 0x8f, 0x00, 0xd1, 0x6c};

std::unique_ptr<Classifier> classifier(std::shared_ptr<const AppRules> rules,
                                       std::shared_ptr<EndpointTable> endpoints,
                                       std::uint32_t max_dpi_packets = 8) {
  ClassifierConfig cfg;
  cfg.max_dpi_packets = max_dpi_packets;
  cfg.app_rules = std::move(rules);
  cfg.endpoints = std::move(endpoints);
  auto c = Classifier::create(cfg);
  INFO(c.error_text());
  REQUIRE(c.ok());
  return std::move(c.value());
}

const char* kRules =
    "zoom network 203.0.113.0/24\n"
    "zoom check zoom-media\n"
    "zoom check zoom-p2p\n"
    "zoom check zoom-stun\n"
    "zoom learn 3478-3479,8801-8810\n";

}  // namespace

TEST_CASE("classifier: an application nDPI does not know is an error naming the file") {
  ClassifierConfig cfg;
  cfg.app_rules = rules_from("notaprotocol host example.com\n");
  auto c = Classifier::create(cfg);
  REQUIRE_FALSE(c.ok());
  CHECK(c.errors().front().find("test.conf: application 'notaprotocol'") == 0);
}

TEST_CASE("classifier: payload checks, networks and a learned endpoint across two workers") {
  auto rules = rules_from(kRules);
  auto shared = std::make_shared<EndpointTable>();
  auto worker_a = classifier(rules, shared);
  auto worker_b = classifier(rules, shared);
  Seen a;
  Seen b;
  const Address client = v4(10, 0, 0, 5);
  const Address stun_server = v4(198, 51, 100, 7);  // on no list: the attribute decides
  const Address peer = v4(10, 9, 0, 2);
  const Address zoom_server = v4(203, 0, 113, 9);

  // STUN with attribute 0x0101 on worker A: zoom, protocol stun, by payload;
  // teaches 10.0.0.5:40000.
  const Bytes request = stun(0x0001, true, {{0x0101, 4}});
  feed(*worker_a, udp(client, 40000, stun_server, 3478, 1'000'000, request), a);
  for (int i = 0; i < 8; ++i) {
    feed(*worker_a, udp(stun_server, 3478, client, 40000, 1'100'000 + i, stun(0x0101, true, {})),
         a);
  }
  REQUIRE(a.finals.size() == 1);
  CHECK(a.finals[0].app == "zoom");
  CHECK(a.finals[0].protocol == "stun");
  CHECK(a.finals[0].detected_by == "payload");

  // Peer-to-peer media from the same endpoint on worker B, 3 s later: named on its first packet.
  for (int i = 0; i < 8; ++i) {
    feed(*worker_b, udp(client, 40000, peer, 50123, 4'000'000 + i, kNoise), b);
  }
  REQUIRE(b.finals.size() == 1);
  CHECK(b.finals[0].app == "zoom");
  CHECK(b.finals[0].detected_by == "endpoint");
  CHECK(worker_b->stats().app_rule_verdicts == 1);

  // The same endpoint 200 s after the STUN flow's last packet: forgotten.
  for (int i = 0; i < 8; ++i) {
    feed(*worker_b, udp(client, 40000, v4(10, 9, 0, 3), 50124, 201'200'000 + i, kNoise), b);
  }
  REQUIRE(b.finals.size() == 2);
  CHECK(b.finals[1].app == "unknown");
  CHECK(b.finals[1].detected_by == "none");

  // The SFU bytes to a port in 8801-8810 on a server on no list: zoom by payload.
  Bytes sfu = kNoise;
  sfu[0] = 0x01;
  sfu[1] = 0x00;
  sfu[2] = 0x03;
  for (int i = 0; i < 8; ++i) {
    feed(*worker_b, udp(client, 40100, v4(198, 51, 100, 8), 8801, 300'000'000 + i, sfu), b);
  }
  REQUIRE(b.finals.size() == 3);
  CHECK(b.finals[2].app == "zoom");
  CHECK(b.finals[2].detected_by == "payload");

  // Random payload to 8801 on a server on no list: nothing.
  for (int i = 0; i < 8; ++i) {
    feed(*worker_b, udp(client, 40200, v4(198, 51, 100, 8), 8801, 301'000'000 + i, kNoise), b);
  }
  REQUIRE(b.finals.size() == 4);
  CHECK(b.finals[3].app != "zoom");

  // Unrecognised UDP to a Zoom network: zoom by network at give-up. ICMP to it: never.
  for (int i = 0; i < 8; ++i) {
    feed(*worker_b, udp(client, 40300, zoom_server, 9000, 302'000'000 + i, kNoise), b);
  }
  REQUIRE(b.finals.size() == 5);
  CHECK(b.finals[4].app == "zoom");
  CHECK(b.finals[4].detected_by == "network");
  Seen icmp;
  for (int i = 0; i < 8; ++i) {
    feed(*worker_b, udp(client, 0, zoom_server, 0, 303'000'000 + i, kNoise, kProtoIcmp), icmp);
  }
  worker_b->flush(icmp);
  for (const auto& f : icmp.finals) {
    if (f.src_port == 0) CHECK(f.app != "zoom");
  }
}

TEST_CASE("classifier: without rules nothing changes and detected_by says dpi or none") {
  auto c = classifier(nullptr, nullptr);
  Seen s;
  Bytes sfu = kNoise;
  sfu[0] = 0x01;
  sfu[1] = 0x00;
  sfu[2] = 0x03;
  for (int i = 0; i < 8; ++i) {
    feed(*c, udp(v4(10, 0, 0, 5), 40100, v4(198, 51, 100, 8), 8801, 1'000'000 + i, sfu), s);
  }
  REQUIRE(s.finals.size() == 1);
  CHECK(s.finals[0].app != "zoom");
  CHECK((s.finals[0].detected_by == "none" || s.finals[0].detected_by == "dpi"));
}
