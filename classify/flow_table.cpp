// SPDX-License-Identifier: GPL-3.0-or-later
// The flow table: linear probing, bounded to kMaxProbe slots, with backward-shift deletion over
// a lazily mapped record pool.
#include "ctlabeld/classify/flow_table.hpp"

#include "ctlabeld/common/icmp.hpp"
#include "huge_pages.hpp"

#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

namespace ctlabeld::classify {

static_assert(std::is_trivially_destructible_v<FlowKey>);
static_assert(std::has_unique_object_representations_v<FlowKey>,
              "FlowKey has padding: keys_equal would compare it");

namespace {

std::uint64_t load64(const std::uint8_t* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Lexicographic byte order of two addresses (what Address's <=> gives), as two big-endian words.
int compare_addresses(const Address& a, const Address& b) noexcept {
  const std::uint64_t a0 = __builtin_bswap64(load64(a.bytes.data()));
  const std::uint64_t b0 = __builtin_bswap64(load64(b.bytes.data()));
  if (a0 != b0) return a0 < b0 ? -1 : 1;
  const std::uint64_t a1 = __builtin_bswap64(load64(a.bytes.data() + 8));
  const std::uint64_t b1 = __builtin_bswap64(load64(b.bytes.data() + 8));
  if (a1 != b1) return a1 < b1 ? -1 : 1;
  return 0;
}

std::size_t round_up_pow2(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

FlowKey make_key(const FlowTuple& t, bool& sender_is_lo) noexcept {
  FlowKey k;
  k.vlan = t.vlan;
  k.ip_version = t.ip_version;
  k.ip_protocol = t.ip_protocol;
  std::uint16_t sport = t.src_port;
  std::uint16_t dport = t.dst_port;
  if (is_icmp(t.ip_protocol)) {
    // Both directions of an echo exchange carry the same id, so the key stays symmetric.
    const bool echo = icmp_is_query(t.ip_protocol, t.icmp_type);
    sport = dport = echo ? t.icmp_id : 0;
  }
  const int order = compare_addresses(t.src, t.dst);
  const bool src_lower = order < 0 || (order == 0 && sport <= dport);
  sender_is_lo = src_lower;
  if (src_lower) {
    k.lo = t.src, k.hi = t.dst, k.lo_port = sport, k.hi_port = dport;
  } else {
    k.lo = t.dst, k.hi = t.src, k.lo_port = dport, k.hi_port = sport;
  }
  return k;
}

std::uint64_t hash_key(const FlowKey& k, const SipKey& secret) noexcept {
  std::uint64_t w[5];
  std::memcpy(w, &k, sizeof w);
  if (k.ip_version == 4) {
    // An IPv4 key's addresses fill 4 of their 16 bytes (the rest are zero): hash it as 15 bytes,
    // the two addresses in one word, then ports, VLAN and protocol with the length (the version
    // is implied by the length). Two SipHash blocks instead of six; a different length from the
    // 40-byte IPv6 form, so the two forms cannot be made to collide with each other.
    const std::uint64_t words[1] = {(w[0] & 0xffffffffULL) | (w[2] << 32)};
    const std::uint64_t tail = (w[4] & 0x0000ffffffffffffULL) |
                               (std::uint64_t{k.ip_protocol} << 48) | (std::uint64_t{15} << 56);
    return siphash13_words(secret, words, tail);
  }
  return siphash13_words(secret, w);
}

FlowTuple FlowRecord::initiator_tuple() const noexcept {
  FlowTuple t;
  t.ip_version = key.ip_version;
  t.ip_protocol = key.ip_protocol;
  t.vlan = key.vlan;
  if (initiator_is_lo) {
    t.src = key.lo, t.dst = key.hi, t.src_port = key.lo_port, t.dst_port = key.hi_port;
  } else {
    t.src = key.hi, t.dst = key.lo, t.src_port = key.hi_port, t.dst_port = key.lo_port;
  }
  if (is_icmp(key.ip_protocol)) {
    t.icmp_type = icmp_type;
    t.icmp_code = icmp_code;
    t.icmp_id = t.src_port;
    t.src_port = t.dst_port = 0;
  }
  return t;
}

FlowTable::FlowTable(std::size_t max_flows, const SipKey& secret)
    : max_flows_(max_flows == 0 ? 1 : max_flows),
      mask_(round_up_pow2(max_flows_ * 2) - 1),
      secret_(secret) {
  // Anonymous mappings are zero pages until touched: memory grows with flows actually seen.
  pool_ = std::make_unique<HugeRegion>(max_flows_ * sizeof(FlowRecord));
  slot_region_ = std::make_unique<HugeRegion>((mask_ + 1) * sizeof(Slot));
  if (!*pool_ || !*slot_region_) throw std::bad_alloc();
  records_ = reinterpret_cast<FlowRecord*>(pool_->data());
  slots_ = reinterpret_cast<Slot*>(slot_region_->data());
  for (std::size_t i = 0; i <= mask_; ++i) slots_[i] = Slot{kNoIndex, 0};
  free_.reserve(1024);
}

FlowTable::~FlowTable() = default;

FlowRecord* FlowTable::find(const FlowKey& key, std::uint64_t hash) noexcept {
  const auto h32 = static_cast<std::uint32_t>(hash);
  std::size_t s = h32 & mask_;
  for (std::size_t probe = 0; probe < kMaxProbe; ++probe, s = (s + 1) & mask_) {
    const Slot& slot = slots_[s];
    if (slot.index == kNoIndex) return nullptr;
    if (slot.hash == h32 && keys_equal(records_[slot.index].key, key)) return &records_[slot.index];
  }
  return nullptr;  // no record lies further than kMaxProbe from its home
}

std::size_t FlowTable::free_slot(std::uint32_t h32) const noexcept {
  std::size_t s = h32 & mask_;
  for (std::size_t probe = 0; probe < kMaxProbe; ++probe, s = (s + 1) & mask_) {
    if (slots_[s].index == kNoIndex) return s;
  }
  return kNoSlot;
}

std::size_t FlowTable::crowded_victim_slot(std::uint32_t h32) const noexcept {
  std::size_t s = h32 & mask_;
  std::size_t best = s;
  for (std::size_t probe = 1; probe < kMaxProbe; ++probe) {
    s = (s + 1) & mask_;
    if (records_[slots_[s].index].last_seen_us < records_[slots_[best].index].last_seen_us)
      best = s;
  }
  return best;
}

std::uint32_t FlowTable::take_index(std::uint32_t& generation) noexcept {
  if (free_.empty()) {
    generation = 1;
    return high_water_++;
  }
  const FreeSlot slot = free_.back();
  free_.pop_back();
  generation = slot.generation;
  return slot.index;
}

FlowRecord& FlowTable::emplace(std::size_t s, std::uint32_t index, std::uint32_t generation,
                               const FlowKey& key, std::uint32_t h32, TimeoutClass cls) {
  FlowRecord* r = new (&records_[index]) FlowRecord{};
  r->generation = generation;
  r->key = key;
  r->timeout_class = cls;
  r->hash32 = h32;
  slots_[s] = Slot{index, h32};
  lru_push_front(*r);
  ++stats_.created;
  stats_.active = size_;
  if (size_ > stats_.peak_active) stats_.peak_active = size_;
  return *r;
}

std::uint32_t FlowTable::retire(std::uint32_t index) noexcept {
  FlowRecord& r = records_[index];
  // Generation 0 means "no flow": skip it when the counter wraps.
  const std::uint32_t next_generation = r.generation + 1 == 0 ? 1 : r.generation + 1;
  lru_unlink(r);
  dpi_unlink(r);
  r.~FlowRecord();
  return next_generation;
}

std::size_t FlowTable::slot_of(const FlowRecord& r) const noexcept {
  const std::uint32_t index = index_of(r);
  std::size_t s = r.hash32 & mask_;
  while (slots_[s].index != index) s = (s + 1) & mask_;
  return s;
}

void FlowTable::erase(FlowRecord& r) noexcept {
  std::size_t hole = slot_of(r);
  // Backward-shift deletion keeps every probe sequence unbroken without tombstones, and never
  // moves a record further from its home. A record kMaxProbe or more past the hole has its home
  // after the hole, so the scan stops there.
  for (std::size_t s = (hole + 1) & mask_;
       slots_[s].index != kNoIndex && ((s - hole) & mask_) < kMaxProbe; s = (s + 1) & mask_) {
    const std::size_t home = slots_[s].hash & mask_;
    const bool movable = hole <= s ? (home <= hole || home > s) : (home <= hole && home > s);
    if (movable) {
      slots_[hole] = slots_[s];
      hole = s;
    }
  }
  slots_[hole] = Slot{kNoIndex, 0};
  const std::uint32_t index = index_of(r);
  free_.push_back(FreeSlot{index, retire(index)});
  --size_;
  stats_.active = size_;
}

template <FlowTable::Link Prev, FlowTable::Link Next>
void FlowTable::push_front(ListEnds& ends, FlowRecord& r) noexcept {
  const std::uint32_t i = index_of(r);
  r.*Prev = kNoIndex;
  r.*Next = ends.head;
  if (ends.head != kNoIndex) records_[ends.head].*Prev = i;
  ends.head = i;
  if (ends.tail == kNoIndex) ends.tail = i;
}

template <FlowTable::Link Prev, FlowTable::Link Next>
void FlowTable::unlink(ListEnds& ends, FlowRecord& r) noexcept {
  if (r.*Prev != kNoIndex)
    records_[r.*Prev].*Next = r.*Next;
  else
    ends.head = r.*Next;
  if (r.*Next != kNoIndex)
    records_[r.*Next].*Prev = r.*Prev;
  else
    ends.tail = r.*Prev;
  r.*Prev = r.*Next = kNoIndex;
}

void FlowTable::lru_push_front(FlowRecord& r) noexcept {
  push_front<&FlowRecord::lru_prev, &FlowRecord::lru_next>(
      lru_[static_cast<std::size_t>(r.timeout_class)], r);
}

void FlowTable::lru_unlink(FlowRecord& r) noexcept {
  unlink<&FlowRecord::lru_prev, &FlowRecord::lru_next>(
      lru_[static_cast<std::size_t>(r.timeout_class)], r);
}

void FlowTable::dpi_link(FlowRecord& r) noexcept {
  if (r.dpi_listed) return;
  push_front<&FlowRecord::dpi_prev, &FlowRecord::dpi_next>(dpi_, r);
  r.dpi_listed = true;
}

void FlowTable::dpi_unlink(FlowRecord& r) noexcept {
  if (!r.dpi_listed) return;
  unlink<&FlowRecord::dpi_prev, &FlowRecord::dpi_next>(dpi_, r);
  r.dpi_listed = false;
}

FlowRecord* FlowTable::dpi_oldest() noexcept {
  return dpi_.tail == kNoIndex ? nullptr : &records_[dpi_.tail];
}

void FlowTable::touch(FlowRecord& r) noexcept {
  const std::uint32_t i = index_of(r);
  if (r.dpi_listed && dpi_.head != i) {
    unlink<&FlowRecord::dpi_prev, &FlowRecord::dpi_next>(dpi_, r);
    push_front<&FlowRecord::dpi_prev, &FlowRecord::dpi_next>(dpi_, r);
  }
  if (lru_[static_cast<std::size_t>(r.timeout_class)].head == i) return;
  lru_unlink(r);
  lru_push_front(r);
}

void FlowTable::reclassify(FlowRecord& r, TimeoutClass cls) noexcept {
  if (r.timeout_class == cls) return;
  lru_unlink(r);
  r.timeout_class = cls;
  lru_push_front(r);
}

FlowRecord* FlowTable::oldest(TimeoutClass cls) noexcept {
  const std::uint32_t i = lru_[static_cast<std::size_t>(cls)].tail;
  return i == kNoIndex ? nullptr : &records_[i];
}

FlowRecord* FlowTable::oldest_overall() noexcept {
  FlowRecord* best = nullptr;
  for (std::size_t c = 0; c < kTimeoutClasses; ++c) {
    FlowRecord* r = oldest(static_cast<TimeoutClass>(c));
    if (r != nullptr && (best == nullptr || r->last_seen_us < best->last_seen_us)) best = r;
  }
  return best;
}

}  // namespace ctlabeld::classify
