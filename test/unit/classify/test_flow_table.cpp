// SPDX-License-Identifier: GPL-3.0-or-later
// Flow keying, hashing and the bounded table (checked against a std::map model).
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "ctlabeld/classify/flow_table.hpp"

using namespace ctlabeld;
using namespace ctlabeld::classify;

namespace {

const SipKey kSecret = hash_secrets_from_seed(1).flows;

FlowTuple tcp4(std::uint8_t a, std::uint16_t sport, std::uint8_t b, std::uint16_t dport) {
  FlowTuple t;
  t.ip_version = 4;
  t.ip_protocol = kProtoTcp;
  const std::uint8_t src[4] = {10, 0, 0, a};
  const std::uint8_t dst[4] = {10, 0, 1, b};
  t.src = Address::from_v4(src);
  t.dst = Address::from_v4(dst);
  t.src_port = sport;
  t.dst_port = dport;
  return t;
}

FlowTuple reversed(FlowTuple t) {
  std::swap(t.src, t.dst);
  std::swap(t.src_port, t.dst_port);
  return t;
}

}  // namespace

TEST_CASE("a flow has one key whichever way its packets go") {
  const auto cases = {tcp4(1, 40000, 2, 443), tcp4(9, 53, 1, 53), tcp4(5, 1, 5, 2)};
  for (const FlowTuple& t : cases) {
    bool a_lo = false;
    bool b_lo = false;
    const FlowKey a = make_key(t, a_lo);
    const FlowKey b = make_key(reversed(t), b_lo);
    CHECK(a == b);
    CHECK(a_lo != b_lo);
    CHECK(hash_key(a, kSecret) == hash_key(b, kSecret));
  }
}

TEST_CASE("keys differ by VLAN, protocol and ports") {
  bool lo = false;
  FlowTuple t = tcp4(1, 1000, 2, 80);
  const FlowKey base = make_key(t, lo);
  FlowTuple v = t;
  v.vlan = 7;
  CHECK_FALSE(make_key(v, lo) == base);
  FlowTuple u = t;
  u.ip_protocol = kProtoUdp;
  CHECK_FALSE(make_key(u, lo) == base);
  FlowTuple p = t;
  p.src_port = 1001;
  CHECK_FALSE(make_key(p, lo) == base);
}

TEST_CASE("ICMP echo is keyed by its identifier, other ICMP by the host pair") {
  FlowTuple req;
  req.ip_version = 4;
  req.ip_protocol = kProtoIcmp;
  const std::uint8_t a[4] = {10, 0, 0, 1};
  const std::uint8_t b[4] = {10, 0, 0, 2};
  req.src = Address::from_v4(a);
  req.dst = Address::from_v4(b);
  req.icmp_type = 8;
  req.icmp_id = 77;
  FlowTuple rep = reversed(req);
  rep.icmp_type = 0;
  bool lo = false;
  CHECK(make_key(req, lo) == make_key(rep, lo));
  FlowTuple other_id = req;
  other_id.icmp_id = 78;
  CHECK_FALSE(make_key(other_id, lo) == make_key(req, lo));
  FlowTuple unreach = req;
  unreach.icmp_type = 3;
  unreach.icmp_id = 0;
  CHECK(make_key(unreach, lo).lo_port == 0);
}

TEST_CASE("the initiator tuple comes back oriented as first sent") {
  FlowTable table(8, kSecret);
  bool lo = false;
  const FlowTuple t = tcp4(9, 40000, 1, 443);
  const FlowKey k = make_key(t, lo);
  FlowRecord& r = table.insert(k, table.hash(k), TimeoutClass::kTcp, [](FlowRecord&) {});
  r.initiator_is_lo = lo;
  const FlowTuple back = r.initiator_tuple();
  CHECK(back.src == t.src);
  CHECK(back.dst == t.dst);
  CHECK(back.src_port == 40000);
  CHECK(back.dst_port == 443);
}

TEST_CASE("the table agrees with a std::map model under random inserts and erases") {
  constexpr std::size_t kCapacity = 512;
  FlowTable table(kCapacity, kSecret);
  std::map<std::uint32_t, bool> model;  // flow id -> present
  std::mt19937 rng(12345);
  auto key_of = [](std::uint32_t id) {
    FlowTuple t =
        tcp4(static_cast<std::uint8_t>(id & 0xff), static_cast<std::uint16_t>(id >> 8), 1, 80);
    bool lo = false;
    return make_key(t, lo);
  };
  std::size_t evictions = 0;
  for (int step = 0; step < 20000; ++step) {
    const auto id = static_cast<std::uint32_t>(rng() % 2000);
    const FlowKey k = key_of(id);
    FlowRecord* r = table.find(k, table.hash(k));
    REQUIRE((r != nullptr) == (model.count(id) == 1));
    if (r == nullptr) {
      table.insert(k, table.hash(k), TimeoutClass::kTcp, [&](FlowRecord& victim) {
        ++evictions;
        for (auto it = model.begin(); it != model.end(); ++it) {
          if (key_of(it->first) == victim.key) {
            model.erase(it);
            break;
          }
        }
      });
      model[id] = true;
    } else if (rng() % 3 == 0) {
      table.erase(*r);
      model.erase(id);
    }
    REQUIRE(table.size() == model.size());
    REQUIRE(table.size() <= kCapacity);
  }
  CHECK(evictions > 0);
  CHECK(table.stats().evicted == evictions);
  for (const auto& [id, present] : model) {
    const FlowKey k = key_of(id);
    CHECK(table.find(k, table.hash(k)) != nullptr);
  }
}

TEST_CASE("eviction picks the least recently used flow across timeout classes") {
  FlowTable table(3, kSecret);
  bool lo = false;
  std::vector<FlowRecord*> recs;
  const TimeoutClass classes[] = {TimeoutClass::kTcp, TimeoutClass::kUdp, TimeoutClass::kOther};
  for (std::uint8_t i = 0; i < 3; ++i) {
    const FlowKey k = make_key(tcp4(i, 1, 1, 1), lo);
    FlowRecord& r =
        table.insert(k, table.hash(k), classes[i], [](FlowRecord&) { FAIL("no eviction yet"); });
    recs.push_back(&r);
  }
  recs[0]->last_seen_us = 300;
  recs[1]->last_seen_us = 100;  // the oldest
  recs[2]->last_seen_us = 200;
  const FlowKey victim_key = recs[1]->key;
  const FlowKey k = make_key(tcp4(50, 1, 1, 1), lo);
  bool called = false;
  table.insert(k, table.hash(k), TimeoutClass::kTcp, [&](FlowRecord& v) {
    called = true;
    CHECK(v.key == victim_key);
  });
  CHECK(called);
  CHECK(table.find(victim_key, table.hash(victim_key)) == nullptr);
  CHECK(table.stats().evicted == 1);
}

TEST_CASE("touch keeps the LRU order per class") {
  FlowTable table(8, kSecret);
  bool lo = false;
  const FlowKey a = make_key(tcp4(1, 1, 1, 1), lo);
  const FlowKey b = make_key(tcp4(2, 1, 1, 1), lo);
  FlowRecord& ra = table.insert(a, table.hash(a), TimeoutClass::kUdp, [](FlowRecord&) {});
  FlowRecord& rb = table.insert(b, table.hash(b), TimeoutClass::kUdp, [](FlowRecord&) {});
  CHECK(table.oldest(TimeoutClass::kUdp) == &ra);
  table.touch(ra);
  CHECK(table.oldest(TimeoutClass::kUdp) == &rb);
  table.reclassify(rb, TimeoutClass::kTcpClosed);
  CHECK(table.oldest(TimeoutClass::kUdp) == &ra);
  CHECK(table.oldest(TimeoutClass::kTcpClosed) == &rb);
}

#include "../../../classify/huge_pages.hpp"  // the stage's private header: what the table sits on

#ifdef CTLABELD_LSAN_ROOTS
namespace {
// Stores `n` fresh allocations only inside `region` (noinline: no copy stays in this frame).
[[gnu::noinline]] void hide_pointers(HugeRegion& region, std::size_t n) {
  auto** slots = reinterpret_cast<void**>(region.data());
  for (std::size_t i = 0; i < n; ++i) slots[i] = std::malloc(32);
}
}  // namespace

TEST_CASE("LeakSanitizer finds pointers kept only in a huge-page region (ASan builds)") {
  // Flow records hold hostnames and nDPI state; without the region registered as a root, a leak
  // check during a run would call every live flow's allocations leaked.
  HugeRegion region(kHugePage);
  REQUIRE(region);
  constexpr std::size_t n = 100;
  hide_pointers(region, n);
  CHECK(__lsan_do_recoverable_leak_check() == 0);
  auto** slots = reinterpret_cast<void**>(region.data());
  for (std::size_t i = 0; i < n; ++i) std::free(slots[i]);
}
#endif
