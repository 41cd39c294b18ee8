// SPDX-License-Identifier: GPL-3.0-or-later
// A bounded, direction-independent flow table: open addressing over a fixed record pool, with
// one LRU list per idle-timeout class so expiry and eviction are O(1) per flow. Keys come from
// the network, so the slots are chosen by a keyed hash (SipHash-1-3 with a per-start secret) and
// no flow is ever more than kMaxProbe slots from its home slot: a lookup's worst case is bounded
// even if the secret leaked.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "ctlabeld/common/flow_id.hpp"
#include "ctlabeld/common/net.hpp"
#include "ctlabeld/common/siphash.hpp"

struct ndpi_flow_struct;

namespace ctlabeld::classify {

class HugeRegion;  // classify/huge_pages.hpp (private to the stage)

// The flow's identity whatever the direction: the lower address/port pair first.
struct FlowKey {
  Address lo{};
  Address hi{};
  std::uint16_t lo_port = 0;
  std::uint16_t hi_port = 0;
  std::uint16_t vlan = 0;
  std::uint8_t ip_version = 0;
  std::uint8_t ip_protocol = 0;
  friend bool operator==(const FlowKey&, const FlowKey&) = default;
};
static_assert(sizeof(FlowKey) == 40, "FlowKey must stay packed: keys_equal compares it as 5 words");

// The packet path's key compare: five 64-bit words instead of the defaulted member-wise ==
// (which calls memcmp twice); the first word differs for almost every non-matching key.
[[nodiscard]] inline bool keys_equal(const FlowKey& a, const FlowKey& b) noexcept {
  std::uint64_t wa[5];
  std::uint64_t wb[5];
  std::memcpy(wa, &a, sizeof wa);
  std::memcpy(wb, &b, sizeof wb);
  return ((wa[0] ^ wb[0]) | (wa[1] ^ wb[1]) | (wa[2] ^ wb[2]) | (wa[3] ^ wb[3]) |
          (wa[4] ^ wb[4])) == 0;
}

// Builds the key for a packet's tuple; `sender_is_lo` tells which side sent it. ICMP echo
// exchanges are keyed by their identifier (as conntrack does), other ICMP by the host pair.
FlowKey make_key(const FlowTuple& tuple, bool& sender_is_lo) noexcept;

// The keyed hash of a flow key (SipHash-1-3 of the canonical key: 15 bytes for IPv4, all 40
// for IPv6). Symmetric by construction (the key is normalised).
[[nodiscard]] std::uint64_t hash_key(const FlowKey& key, const SipKey& secret) noexcept;

// The longest probe: a flow sits at most this many slots past its home slot. With a keyed hash
// at the table's load (at most one half) honest traffic never comes near it; when an insert finds
// no free slot that close, the least recently used flow among those slots is evicted in its place
// (FlowTableStats::probe_evicted).
inline constexpr std::size_t kMaxProbe = 64;

enum class TimeoutClass : std::uint8_t { kTcp = 0, kTcpClosed = 1, kUdp = 2, kOther = 3 };
inline constexpr std::size_t kTimeoutClasses = 4;

inline constexpr std::uint32_t kNoIndex = 0xffffffffu;

// The compact per-flow record. nDPI's heavy state hangs off `dpi` only while classifying.
enum LinkFlag : std::uint8_t {
  kLinkInitiatorMac = 1,
  kLinkResponderMac = 2,
  kLinkNflog = 4,       // seen through NFLOG: the interface indexes are the kernel's
  kLinkInterfaces = 8,  // in_ifindex/out_ifindex are set
};

struct FlowRecord {
  FlowKey key;
  // The initiator's tuple fields that the key does not keep in order.
  bool initiator_is_lo = false;
  std::uint8_t icmp_type = 0;
  std::uint8_t icmp_code = 0;
  TimeoutClass timeout_class = TimeoutClass::kOther;
  std::uint8_t dpi_packets = 0;    // packets given to nDPI (saturates at 255)
  std::uint8_t state = 0;          // FlowState bits (classifier-owned)
  std::uint8_t confidence = 0;     // ndpi_confidence_t
  std::uint16_t master_proto = 0;  // nDPI master protocol id
  std::uint16_t app_proto = 0;     // nDPI app protocol id
  std::uint16_t category = 0;      // ndpi_protocol_category_t
  std::uint16_t risk_score = 0;
  std::uint32_t packets = 0;
  std::uint64_t bytes = 0;
  std::uint64_t first_seen_us = 0;
  std::uint64_t last_seen_us = 0;
  std::uint64_t risks = 0;
  std::uint32_t lru_prev = kNoIndex;
  std::uint32_t lru_next = kNoIndex;
  std::uint32_t dpi_prev =
      kNoIndex;  // the DPI list (FlowTable::dpi_link): flows nDPI still inspects
  std::uint32_t dpi_next = kNoIndex;
  bool dpi_listed = false;
  // The application rules' part (classify/app_layer.cpp), in what was padding: DetectedBy, the
  // rules' application (index + 1, 0: none) and AppFlag bits.
  std::uint8_t detected_by = 0;
  std::uint8_t rule_app = 0;
  std::uint8_t app_flags = 0;
  std::uint32_t source = 0;  // which capture source first saw it
  std::uint32_t hash32 = 0;  // low 32 bits of hash_key(key): erase finds the slot without rehashing
  std::uint32_t generation = 0;  // this record's use of its slot: FlowId::generation
  ndpi_flow_struct* dpi = nullptr;
  char* hostname = nullptr;  // malloc'd, NUL-terminated; null when none
  // Link-layer facts (classifier-owned), for the MAC and interface criteria: each side's MAC as
  // first seen, and the initiator's input/output interface indexes from NFLOG.
  Mac initiator_mac{};
  Mac responder_mac{};
  std::uint8_t link_flags = 0;  // LinkFlag bits
  std::uint32_t in_ifindex = 0;
  std::uint32_t out_ifindex = 0;

  [[nodiscard]] FlowTuple initiator_tuple() const noexcept;
};

struct FlowTableStats {
  std::uint64_t created = 0;
  std::uint64_t expired = 0;
  std::uint64_t evicted = 0;
  std::size_t active = 0;
  std::size_t peak_active = 0;
  std::uint64_t probe_evicted = 0;  // of `evicted`: evicted because kMaxProbe slots were full
};

class FlowTable {
 public:
  // `secret` keys the slot hash: draw it at random per start (random_hash_secrets()).
  FlowTable(std::size_t max_flows, const SipKey& secret);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // The hash this table places `key` by (pass it to find and insert).
  [[nodiscard]] std::uint64_t hash(const FlowKey& key) const noexcept {
    return hash_key(key, secret_);
  }
  // Finds the record for `key`, or nullptr.
  [[nodiscard]] FlowRecord* find(const FlowKey& key, std::uint64_t hash) noexcept;
  // Inserts a new record. When the table is full, `evict` is called with the least recently
  // used flow (oldest last_seen across the classes) before it is removed; then the new one goes in.
  // Likewise when no slot within kMaxProbe of the key's home is free: then the victim is the least
  // recently used flow in those slots, and the new record takes its slot.
  template <typename EvictFn>
  FlowRecord& insert(const FlowKey& key, std::uint64_t hash, TimeoutClass cls, EvictFn&& evict);
  // Moves a record to the front of its LRU list (call on every packet).
  void touch(FlowRecord& record) noexcept;
  // Moves a record to another timeout class (e.g. TCP after FIN).
  void reclassify(FlowRecord& record, TimeoutClass cls) noexcept;
  // The least recently used record of a class, or nullptr.
  [[nodiscard]] FlowRecord* oldest(TimeoutClass cls) noexcept;
  // Removes a record (the caller has released what hangs off it).
  void erase(FlowRecord& record) noexcept;
  // The DPI list: the records nDPI still inspects, ordered by activity like the LRU lists (touch
  // moves a listed record to the front), so the owner can give up on those that went quiet.
  void dpi_link(FlowRecord& record) noexcept;
  void dpi_unlink(FlowRecord& record) noexcept;  // no-op when not listed
  [[nodiscard]] FlowRecord* dpi_oldest() noexcept;
  // Calls fn(record) for every record; fn must not modify the table.
  template <typename Fn>
  void for_each(Fn&& fn);

  // The stable identifier of a live record (slot index and generation).
  [[nodiscard]] FlowId id_of(const FlowRecord& r) const noexcept {
    return FlowId{index_of(r), r.generation};
  }
  // The slot a record occupies (its place in the table's layout; tests compare layouts).
  [[nodiscard]] std::size_t slot_of(const FlowRecord& r) const noexcept;

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return max_flows_; }
  [[nodiscard]] FlowTableStats& stats() noexcept { return stats_; }
  [[nodiscard]] const FlowTableStats& stats() const noexcept { return stats_; }

 private:
  struct Slot {
    std::uint32_t index;  // record index, kNoIndex when empty
    std::uint32_t hash;   // low 32 bits of the key's hash: home slot and a cheap pre-compare
  };
  [[nodiscard]] std::uint32_t index_of(const FlowRecord& r) const noexcept {
    return static_cast<std::uint32_t>(&r - records_);
  }
  static constexpr std::size_t kNoSlot = ~std::size_t{0};
  // The first free slot within kMaxProbe of the home slot of `h32`, or kNoSlot.
  [[nodiscard]] std::size_t free_slot(std::uint32_t h32) const noexcept;
  // When free_slot found none: the slot, among those kMaxProbe, of the least recently used flow.
  [[nodiscard]] std::size_t crowded_victim_slot(std::uint32_t h32) const noexcept;
  // Builds a new record at pool index `index` and puts it in slot `s`.
  FlowRecord& emplace(std::size_t s, std::uint32_t index, std::uint32_t generation,
                      const FlowKey& key, std::uint32_t h32, TimeoutClass cls);
  // Unlinks and destroys the record at pool index `index` (its slot is the caller's business);
  // returns the generation the index's next record gets.
  [[nodiscard]] std::uint32_t retire(std::uint32_t index) noexcept;
  // A pool index for a new record, and that record's generation.
  [[nodiscard]] std::uint32_t take_index(std::uint32_t& generation) noexcept;
  [[nodiscard]] FlowRecord* oldest_overall() noexcept;
  // The two ends of an intrusive list threaded through the records.
  struct ListEnds {
    std::uint32_t head = kNoIndex;
    std::uint32_t tail = kNoIndex;
  };
  using Link = std::uint32_t FlowRecord::*;
  template <Link Prev, Link Next>
  void push_front(ListEnds& ends, FlowRecord& r) noexcept;
  template <Link Prev, Link Next>
  void unlink(ListEnds& ends, FlowRecord& r) noexcept;
  void lru_push_front(FlowRecord& r) noexcept;
  void lru_unlink(FlowRecord& r) noexcept;

  std::size_t max_flows_;
  std::size_t mask_;
  SipKey secret_;
  // Both arrays live in huge-page-advised anonymous mappings: the record pool's pages become
  // resident only as records are first used.
  std::unique_ptr<HugeRegion> pool_;
  FlowRecord* records_;
  std::uint32_t high_water_ = 0;  // records [0, high_water_) have been used at least once
  // Erased record slots with the generation their next record gets.
  struct FreeSlot {
    std::uint32_t index;
    std::uint32_t generation;
  };
  std::vector<FreeSlot> free_;
  std::unique_ptr<HugeRegion> slot_region_;
  Slot* slots_;
  std::size_t size_ = 0;
  ListEnds lru_[kTimeoutClasses];  // one per timeout class, most recently active first
  ListEnds dpi_;
  FlowTableStats stats_;
};

template <typename EvictFn>
FlowRecord& FlowTable::insert(const FlowKey& key, std::uint64_t hash, TimeoutClass cls,
                              EvictFn&& evict) {
  if (size_ >= max_flows_) {
    FlowRecord* victim = oldest_overall();
    evict(*victim);
    erase(*victim);
    ++stats_.evicted;
  }
  const auto h32 = static_cast<std::uint32_t>(hash);
  if (const std::size_t s = free_slot(h32); s != kNoSlot) {
    ++size_;
    std::uint32_t generation = 0;
    const std::uint32_t index = take_index(generation);
    return emplace(s, index, generation, key, h32, cls);
  }
  // Every slot a lookup would probe is taken: replace the least recently used of them. The slot
  // stays occupied throughout, so no other flow's probe sequence changes.
  const std::size_t s = crowded_victim_slot(h32);
  const std::uint32_t index = slots_[s].index;
  evict(records_[index]);
  const std::uint32_t generation = retire(index);
  ++stats_.evicted;
  ++stats_.probe_evicted;
  return emplace(s, index, generation, key, h32, cls);
}

template <typename Fn>
void FlowTable::for_each(Fn&& fn) {
  for (std::size_t c = 0; c < kTimeoutClasses; ++c) {
    for (std::uint32_t i = lru_[c].head; i != kNoIndex;) {
      const std::uint32_t next = records_[i].lru_next;
      fn(records_[i]);
      i = next;
    }
  }
}

}  // namespace ctlabeld::classify
