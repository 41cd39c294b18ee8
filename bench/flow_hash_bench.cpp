// SPDX-License-Identifier: GPL-3.0-or-later
// The flow table's hash under attack and in ordinary traffic (bench/run.sh, issue 15 item 6).
//
//   flow_hash_bench hash  FILE            ns per packet of the keyed hash vs the old unkeyed one,
//                                         over the flow keys of FILE's packets
//   flow_hash_bench table RANDOM COLLIDE  FlowTable find+insert per packet (ctlabeld's default
//                                         262144 flows) over two floods, with the keyed hash
//                                         and with the old hash, and the COLLIDE/RANDOM cost ratio
//
// The old hash lives only here and in gen_pcap (bench/old_flow_hash.hpp): the daemon has no way
// to run unkeyed. Prints "key value" lines.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/capture/file_reader.hpp"
#include "ctlabeld/capture/packet.hpp"
#include "ctlabeld/classify/flow_table.hpp"
#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/common/siphash.hpp"
#include "old_flow_hash.hpp"

namespace ctlabeld::bench {
namespace {

using classify::FlowKey;
using classify::FlowTable;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxKeys = 4'000'000;
constexpr int kRepeats = 5;  // the fastest of these counts: the others met the machine's noise

std::vector<FlowKey> load_keys(const std::string& path) {
  std::vector<FlowKey> keys;
  auto opened = capture::FileReader::open(path);
  if (!opened) {
    for (const auto& e : opened.errors()) std::fprintf(stderr, "flow_hash_bench: %s\n", e.c_str());
    std::exit(1);
  }
  capture::FileReader& reader = opened.value();
  const auto link = static_cast<capture::LinkType>(reader.datalink());
  for (;;) {
    const auto status = reader.read(
        [&](const capture::RawFrame& f) {
          capture::DecodedPacket p;
          if (keys.size() < kMaxKeys && capture::decode(link, f.data, f.caplen, f.wire_len, f.ts_us,
                                                        p) == capture::DecodeStatus::kOk) {
            bool lo = false;
            keys.push_back(classify::make_key(p.tuple, lo));
          }
        },
        512);
    if (status == capture::ReadStatus::kOk) continue;
    if (status == capture::ReadStatus::kError) {
      std::fprintf(stderr, "flow_hash_bench: %s\n", reader.last_error().c_str());
      std::exit(1);
    }
    break;
  }
  if (keys.empty()) {
    std::fprintf(stderr, "flow_hash_bench: %s: no decodable packets\n", path.c_str());
    std::exit(1);
  }
  return keys;
}

std::uint64_t old_hash(const FlowKey& k) noexcept {
  std::uint64_t w[5];
  std::memcpy(w, &k, sizeof w);
  return old_flow_hash(w);
}

// The fastest of kRepeats passes of fn over every key, in ns per key.
template <typename Fn>
double ns_per_key(const std::vector<FlowKey>& keys, Fn&& fn) {
  double best = 1e30;
  for (int r = 0; r < kRepeats; ++r) {
    const auto start = Clock::now();
    fn();
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    if (ns < best) best = ns;
  }
  return best / static_cast<double>(keys.size());
}

int hash_cost(const std::string& path) {
  const std::vector<FlowKey> keys = load_keys(path);
  const SipKey secret = hash_secrets_from_seed(1).flows;
  volatile std::uint64_t sink = 0;
  const double keyed = ns_per_key(keys, [&] {
    std::uint64_t acc = 0;
    for (const FlowKey& k : keys) acc += classify::hash_key(k, secret);
    sink = acc;
  });
  const double old = ns_per_key(keys, [&] {
    std::uint64_t acc = 0;
    for (const FlowKey& k : keys) acc += old_hash(k);
    sink = acc;
  });
  (void)sink;
  std::printf("keys %zu\nkeyed_ns_per_packet %.2f\nold_ns_per_packet %.2f\n", keys.size(), keyed,
              old);
  return 0;
}

// What the classifier does per packet: find, and insert when missing (evicting when full).
template <typename HashFn>
double table_pass(const std::vector<FlowKey>& keys, HashFn&& hash, std::uint64_t& probe_evicted) {
  double best = 1e30;
  for (int r = 0; r < kRepeats; ++r) {
    FlowTable table(defaults::kMaxFlows, hash_secrets_from_seed(1).flows);
    // A first pass, then every flow erased: the timed pass meets resident pages, not first-touch
    // page faults (which cost the same whatever the hash).
    for (const FlowKey& k : keys) {
      const std::uint64_t h = hash(table, k);
      if (table.find(k, h) == nullptr) {
        table.insert(k, h, classify::TimeoutClass::kTcp, [](classify::FlowRecord&) {});
      }
    }
    while (classify::FlowRecord* oldest = table.oldest(classify::TimeoutClass::kTcp))
      table.erase(*oldest);
    const std::uint64_t evicted_before = table.stats().probe_evicted;
    const auto start = Clock::now();
    for (const FlowKey& k : keys) {
      const std::uint64_t h = hash(table, k);
      if (table.find(k, h) == nullptr) {
        table.insert(k, h, classify::TimeoutClass::kTcp, [](classify::FlowRecord&) {});
      }
    }
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    if (ns < best) best = ns;
    probe_evicted = table.stats().probe_evicted - evicted_before;
  }
  return best / static_cast<double>(keys.size());
}

int table_cost(const std::string& random_path, const std::string& collide_path) {
  const std::vector<FlowKey> random = load_keys(random_path);
  const std::vector<FlowKey> collide = load_keys(collide_path);
  auto keyed = [](const FlowTable& t, const FlowKey& k) { return t.hash(k); };
  auto old = [](const FlowTable&, const FlowKey& k) { return old_hash(k); };
  std::uint64_t ev_rk = 0, ev_ck = 0, ev_ro = 0, ev_co = 0;
  const double rk = table_pass(random, keyed, ev_rk);
  const double ck = table_pass(collide, keyed, ev_ck);
  const double ro = table_pass(random, old, ev_ro);
  const double co = table_pass(collide, old, ev_co);
  std::printf(
      "random_flows %zu\ncollide_flows %zu\n"
      "keyed_random_ns %.1f\nkeyed_collide_ns %.1f\nkeyed_ratio %.2f\n"
      "keyed_probe_evicted %llu %llu\n"
      "old_random_ns %.1f\nold_collide_ns %.1f\nold_ratio %.2f\nold_probe_evicted %llu %llu\n",
      random.size(), collide.size(), rk, ck, ck / rk, static_cast<unsigned long long>(ev_rk),
      static_cast<unsigned long long>(ev_ck), ro, co, co / ro,
      static_cast<unsigned long long>(ev_ro), static_cast<unsigned long long>(ev_co));
  return 0;
}

int run(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode == "hash" && argc == 3) return hash_cost(argv[2]);
  if (mode == "table" && argc == 4) return table_cost(argv[2], argv[3]);
  std::fprintf(stderr,
               "usage: flow_hash_bench hash FILE\n"
               "       flow_hash_bench table RANDOM_FLOOD COLLIDING_FLOOD\n");
  return 2;
}

}  // namespace
}  // namespace ctlabeld::bench

int main(int argc, char** argv) { return ctlabeld::bench::run(argc, argv); }
