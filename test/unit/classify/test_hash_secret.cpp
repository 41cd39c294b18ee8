// SPDX-License-Identifier: GPL-3.0-or-later
// The keyed flow hash: SipHash against the reference vectors, layouts that change with the
// secret while verdicts do not, and the bounded probe when keys collide.
#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "ctlabeld/capture/file_reader.hpp"
#include "ctlabeld/capture/packet.hpp"
#include "ctlabeld/classify/classifier.hpp"
#include "ctlabeld/classify/flow_table.hpp"
#include "ctlabeld/common/siphash.hpp"

using namespace ctlabeld;
using namespace ctlabeld::classify;

namespace {

FlowKey key_for(std::uint32_t i) {
  FlowTuple t;
  t.ip_version = 4;
  t.ip_protocol = kProtoTcp;
  const std::uint8_t src[4] = {198, 18, static_cast<std::uint8_t>(i >> 8),
                               static_cast<std::uint8_t>(i)};
  const std::uint8_t dst[4] = {10, 0, 0, 1};
  t.src = Address::from_v4(src);
  t.dst = Address::from_v4(dst);
  t.src_port = static_cast<std::uint16_t>(1024 + (i >> 16));
  t.dst_port = 443;
  bool lo = false;
  return make_key(t, lo);
}

// Every packet of a capture through one classifier; the events it announced, in order, and the
// slot of every flow in its table before the final flush.
struct Run {
  std::vector<std::string> events;
  std::map<std::string, std::size_t> slots;  // flow (initiator tuple) -> slot
};

std::string describe(const FlowTuple& t, std::uint64_t first_seen_us) {
  return to_string(t.src, t.ip_version) + ":" + std::to_string(t.src_port) + ">" +
         to_string(t.dst, t.ip_version) + ":" + std::to_string(t.dst_port) + "/" +
         std::to_string(t.ip_protocol) + "v" + std::to_string(t.vlan) + "#" +
         std::to_string(first_seen_us);
}

struct Recorder : FlowEvents {
  std::vector<std::string>* out;
  explicit Recorder(std::vector<std::string>* o) : out(o) {}
  void on_verdict(const FlowView& flow, bool final) override {
    const Verdict& v = *flow.verdict;
    out->push_back("verdict " + describe(flow.tuple, flow.first_seen_us) + " " +
                   std::string(v.protocol) + "." + std::string(v.app) + (final ? " final" : ""));
  }
  void on_end(const FlowView& flow, EndReason reason) override {
    const Verdict& v = *flow.verdict;
    out->push_back("end " + describe(flow.tuple, flow.first_seen_us) + " " +
                   std::string(v.protocol) + "." + std::string(v.app) + " " + to_string(reason) +
                   " " + std::to_string(flow.packets));
  }
};

Run classify_capture(const std::string& path, std::uint64_t seed) {
  ClassifierConfig config;
  config.hash_secret = hash_secrets_from_seed(seed).flows;
  auto created = Classifier::create(config);
  REQUIRE(created);
  Classifier& classifier = *created.value();
  Run run;
  Recorder recorder(&run.events);
  auto opened = capture::FileReader::open(path);
  REQUIRE(opened);
  capture::FileReader& reader = opened.value();
  const auto link = static_cast<capture::LinkType>(reader.datalink());
  for (;;) {
    const auto status = reader.read(
        [&](const capture::RawFrame& f) {
          capture::DecodedPacket p;
          if (capture::decode(link, f.data, f.caplen, f.wire_len, f.ts_us, p) ==
              capture::DecodeStatus::kOk) {
            classifier.process(p, 0, recorder);
            classifier.expire(p.ts_us, recorder);
          }
        },
        512);
    if (status != capture::ReadStatus::kOk) {
      REQUIRE(status == capture::ReadStatus::kEnd);
      break;
    }
  }
  // The layout: which slot each flow occupies (the table is only read).
  FlowTable& table = const_cast<FlowTable&>(classifier.table());
  table.for_each([&](FlowRecord& r) {
    run.slots[describe(r.initiator_tuple(), r.first_seen_us)] = table.slot_of(r);
  });
  classifier.flush(recorder);
  return run;
}

}  // namespace

TEST_CASE("SipHash-2-4 gives the reference vectors; SipHash-1-3 words match its byte form",
          "[hash]") {
  // Aumasson and Bernstein's test vectors: key 00..0f, message 00 01 .. (len - 1).
  const SipKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  std::uint8_t msg[64];
  for (std::size_t i = 0; i < sizeof msg; ++i) msg[i] = static_cast<std::uint8_t>(i);
  const std::pair<std::size_t, std::uint64_t> vectors[] = {
      {0, 0x726fdb47dd0e0e31ULL},  {1, 0x74f839c593dc67fdULL},  {7, 0xab0200f58b01d137ULL},
      {8, 0x93f5f5799a932462ULL},  {15, 0xa129ca6149be45e5ULL}, {16, 0x3f2acc7f57c29bdbULL},
      {39, 0x9abfd8766a33735cULL}, {40, 0x0e3ea96b5304a7d0ULL},
  };
  for (const auto& [len, expected] : vectors) {
    INFO("length " << len);
    CHECK(siphash<2, 4>(key, msg, len) == expected);
  }
  // The word form used on the packet path is the same function as the byte form.
  std::uint64_t words[5];
  std::memcpy(words, msg, sizeof words);
  CHECK(siphash13_words(key, words) == siphash<1, 3>(key, msg, 40));
  CHECK(siphash<1, 3>(key, msg, 40) != siphash<2, 4>(key, msg, 40));
}

TEST_CASE("a flow key's hash is SipHash-1-3 of its canonical bytes", "[hash]") {
  const SipKey secret = hash_secrets_from_seed(9).flows;
  const FlowKey k4 = key_for(0x12345);
  // IPv4: the two addresses, the ports, the VLAN and the protocol: 15 bytes.
  std::uint8_t v4[15];
  std::memcpy(v4, k4.lo.bytes.data(), 4);
  std::memcpy(v4 + 4, k4.hi.bytes.data(), 4);
  std::memcpy(v4 + 8, &k4.lo_port, 2);
  std::memcpy(v4 + 10, &k4.hi_port, 2);
  std::memcpy(v4 + 12, &k4.vlan, 2);
  v4[14] = k4.ip_protocol;
  CHECK(hash_key(k4, secret) == siphash<1, 3>(secret, v4, sizeof v4));
  // IPv6: the whole 40-byte key.
  FlowKey k6 = k4;
  k6.ip_version = 6;
  k6.lo.bytes[15] = 1;
  CHECK(hash_key(k6, secret) == siphash<1, 3>(secret, &k6, sizeof k6));
  CHECK(hash_key(k4, secret) != hash_key(k4, hash_secrets_from_seed(10).flows));
}

TEST_CASE("hash secrets: a seed gives the same secrets, random ones differ each time", "[hash]") {
  CHECK(hash_secrets_from_seed(1).flows == hash_secrets_from_seed(1).flows);
  CHECK_FALSE(hash_secrets_from_seed(1).flows == hash_secrets_from_seed(2).flows);
  CHECK_FALSE(hash_secrets_from_seed(1).flows == hash_secrets_from_seed(1).routing);
  auto a = random_hash_secrets();
  auto b = random_hash_secrets();
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(a->flows == b->flows);
  CHECK_FALSE(a->routing == b->routing);
  CHECK_FALSE(a->flows == a->routing);
}

TEST_CASE("two secrets place the same flows in different slots; one secret always the same",
          "[hash]") {
  constexpr std::uint32_t kFlows = 2000;
  auto layout = [&](std::uint64_t seed) {
    FlowTable table(4096, hash_secrets_from_seed(seed).flows);
    std::vector<std::size_t> slots;
    for (std::uint32_t i = 0; i < kFlows; ++i) {
      const FlowKey k = key_for(i);
      table.insert(k, table.hash(k), TimeoutClass::kTcp, [](FlowRecord&) { FAIL("no eviction"); });
    }
    for (std::uint32_t i = 0; i < kFlows; ++i) {
      const FlowKey k = key_for(i);
      const FlowRecord* r = table.find(k, table.hash(k));
      REQUIRE(r != nullptr);
      slots.push_back(table.slot_of(*r));
    }
    CHECK(table.stats().probe_evicted == 0);
    return slots;
  };
  const auto a = layout(1);
  const auto b = layout(2);
  CHECK(layout(1) == a);
  std::size_t moved = 0;
  for (std::size_t i = 0; i < a.size(); ++i) moved += a[i] != b[i];
  CHECK(moved > kFlows * 9 / 10);  // 8192 slots: two independent placements rarely agree
}

TEST_CASE("the classifier's verdicts do not depend on the hash secret, its layout does", "[hash]") {
  for (const std::string name : {"zoom_v4.2.pcap", "teams.pcap"}) {
    INFO(name);
    const std::string path = "../shared/pcaps/" + name;
    const Run a = classify_capture(path, 1);
    const Run b = classify_capture(path, 0x5eed);
    REQUIRE(a.slots.size() > 20);  // the flows still in the table at the end
    CHECK(a.events.size() > a.slots.size());
    CHECK(a.events == b.events);  // the same verdicts, ends and packet counts, in the same order
    REQUIRE(a.slots.size() == b.slots.size());
    std::size_t moved = 0;
    for (const auto& [flow, slot] : a.slots) {
      REQUIRE(b.slots.count(flow) == 1);
      moved += b.slots.at(flow) != slot;
    }
    CHECK(moved > a.slots.size() * 9 / 10);
  }
}

TEST_CASE("keys that all share one home slot cost at most kMaxProbe probes and evict in place",
          "[hash]") {
  // Whoever knows the secret can find such keys (here by trying); the table must stay bounded.
  const SipKey secret = hash_secrets_from_seed(3).flows;
  constexpr std::size_t kMaxFlows = 1024;  // 2048 slots
  FlowTable table(kMaxFlows, secret);
  std::vector<FlowKey> colliding;
  const std::uint64_t home = table.hash(key_for(0)) & 2047;
  for (std::uint32_t i = 0; colliding.size() < 3 * kMaxProbe; ++i) {
    const FlowKey k = key_for(i);
    if ((table.hash(k) & 2047) == home) colliding.push_back(k);
  }
  std::vector<FlowKey> evicted;
  for (std::size_t i = 0; i < colliding.size(); ++i) {
    const FlowKey& k = colliding[i];
    REQUIRE(table.find(k, table.hash(k)) == nullptr);
    FlowRecord& r = table.insert(k, table.hash(k), TimeoutClass::kTcp,
                                 [&](FlowRecord& victim) { evicted.push_back(victim.key); });
    r.last_seen_us = 1000 + i;
    // Never further than kMaxProbe from home.
    CHECK(((table.slot_of(r) - home) & 2047) < kMaxProbe);
  }
  // The first kMaxProbe fill the probe window; each later one evicts the least recently used.
  CHECK(table.size() == kMaxProbe);
  CHECK(table.stats().probe_evicted == 2 * kMaxProbe);
  CHECK(table.stats().evicted == 2 * kMaxProbe);
  REQUIRE(evicted.size() == 2 * kMaxProbe);
  for (std::size_t i = 0; i < evicted.size(); ++i) CHECK(evicted[i] == colliding[i]);
  for (std::size_t i = 0; i < colliding.size(); ++i) {
    const FlowKey& k = colliding[i];
    CHECK((table.find(k, table.hash(k)) != nullptr) == (i >= 2 * kMaxProbe));
  }
  // Erasing keeps every remaining flow reachable.
  for (std::size_t i = 2 * kMaxProbe; i < colliding.size(); i += 2) {
    const FlowKey& k = colliding[i];
    table.erase(*table.find(k, table.hash(k)));
  }
  for (std::size_t i = 2 * kMaxProbe + 1; i < colliding.size(); i += 2) {
    const FlowKey& k = colliding[i];
    CHECK(table.find(k, table.hash(k)) != nullptr);
  }
}
