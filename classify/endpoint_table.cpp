// SPDX-License-Identifier: GPL-3.0-or-later
// The learned-endpoint table: a sequence lock per slot, so lookups never block or write.
#include "ctlabeld/classify/endpoint_table.hpp"

#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>

#include "ctlabeld/classify/app_rules.hpp"

namespace ctlabeld::classify {

namespace {

constexpr std::uint64_t kInUse = 1ULL << 32;
constexpr std::uint64_t kKeyBits = 0xffffffULL;  // port and version: w2 without app and in-use
constexpr std::uint64_t kRefreshEveryUs = 1000000;

std::uint64_t mix(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 33);
}

using Ref = std::atomic_ref<std::uint64_t>;

std::uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

void EndpointTable::FreeSlots::operator()(Slot* p) const noexcept { std::free(p); }

EndpointTable::EndpointTable(std::size_t slots, std::chrono::seconds ttl)
    : mask_(std::bit_ceil(slots < kProbe ? kProbe : slots) - 1),
      ttl_us_(static_cast<std::uint64_t>(ttl.count()) * 1000000ULL),
      seed_(random_seed()) {
  slots_.reset(static_cast<Slot*>(std::calloc(mask_ + 1, sizeof(Slot))));
  if (!slots_) throw std::bad_alloc();
}

EndpointTable::Key EndpointTable::make_key(const Address& addr, std::uint8_t ip_version,
                                           std::uint16_t port) const noexcept {
  Key k{};
  std::memcpy(&k.w0, addr.bytes.data(), 8);
  std::memcpy(&k.w1, addr.bytes.data() + 8, 8);
  k.w2 = port | (static_cast<std::uint64_t>(ip_version) << 16);
  return k;
}

std::size_t EndpointTable::home(const Key& k) const noexcept {
  std::uint64_t h = mix(seed_ ^ k.w0);
  h = mix(h ^ k.w1);
  h = mix(h ^ k.w2);
  return static_cast<std::size_t>(h) & mask_;
}

EndpointTable::Snapshot EndpointTable::read(const Slot& s) noexcept {
  // atomic_ref wants a non-const object; a read never writes through it.
  Slot& m = const_cast<Slot&>(s);
  Snapshot out{};
  const std::uint64_t before = Ref(m.seq).load(std::memory_order_acquire);
  out.w0 = Ref(m.w0).load(std::memory_order_relaxed);
  out.w1 = Ref(m.w1).load(std::memory_order_relaxed);
  out.w2 = Ref(m.w2).load(std::memory_order_relaxed);
  out.last_us = Ref(m.last_us).load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  out.valid = (before & 1U) == 0 && Ref(m.seq).load(std::memory_order_relaxed) == before;
  return out;
}

bool EndpointTable::same(const Snapshot& s, const Key& k) noexcept {
  return (s.w2 & kInUse) != 0 && s.w0 == k.w0 && s.w1 == k.w1 && (s.w2 & kKeyBits) == k.w2;
}

std::uint8_t EndpointTable::find(const Address& addr, std::uint8_t ip_version, std::uint16_t port,
                                 std::uint64_t now_us) noexcept {
  const Key k = make_key(addr, ip_version, port);
  const std::size_t h = home(k);
  for (std::size_t i = 0; i < kProbe; ++i) {
    const Snapshot s = read(slots_[(h + i) & mask_]);
    // Never used: learn() fills a window's first free slot, so the key is not further on.
    if (s.valid && s.w2 == 0) return kNoApp;
    if (!s.valid || !same(s, k)) continue;  // a slot mid-write is a miss: the give-up looks again
    if (s.last_us + ttl_us_ < now_us) return kNoApp;
    hits_.fetch_add(1, std::memory_order_relaxed);
    return static_cast<std::uint8_t>(s.w2 >> 24);
  }
  return kNoApp;
}

void EndpointTable::learn(const Address& addr, std::uint8_t ip_version, std::uint16_t port,
                          std::uint8_t app, std::uint64_t now_us) noexcept {
  const Key k = make_key(addr, ip_version, port);
  const std::size_t h = home(k);
  // Pick the slot: the key's own, else a free or expired one, else the least recently refreshed.
  std::size_t target = kProbe;
  std::size_t oldest = 0;
  std::uint64_t oldest_us = ~0ULL;
  bool found = false;
  bool reusable = false;
  for (std::size_t i = 0; i < kProbe; ++i) {
    const Snapshot s = read(slots_[(h + i) & mask_]);
    if (!s.valid) continue;
    if (same(s, k)) {
      // Refreshing often buys nothing: a second is nothing against the TTL.
      if (now_us < s.last_us + kRefreshEveryUs && (s.w2 >> 24 & 0xff) == app) return;
      target = i;
      found = true;
      break;
    }
    const bool free = (s.w2 & kInUse) == 0 || s.last_us + ttl_us_ < now_us;
    if (free && !reusable) {
      target = i;
      reusable = true;
    }
    if (s.last_us < oldest_us) {
      oldest_us = s.last_us;
      oldest = i;
    }
  }
  const bool evicting = !found && !reusable;
  if (evicting) target = oldest;
  Slot& slot = slots_[(h + target) & mask_];
  Ref seq_ref(slot.seq);
  std::uint64_t seq = seq_ref.load(std::memory_order_relaxed);
  if ((seq & 1U) != 0 || !seq_ref.compare_exchange_strong(seq, seq + 1, std::memory_order_acquire,
                                                          std::memory_order_relaxed)) {
    contended_.fetch_add(1, std::memory_order_relaxed);
    return;  // another worker writes this slot now; the next packet of the flow tries again
  }
  std::atomic_thread_fence(std::memory_order_release);
  const std::uint64_t prev_last = Ref(slot.last_us).load(std::memory_order_relaxed);
  Ref(slot.w0).store(k.w0, std::memory_order_relaxed);
  Ref(slot.w1).store(k.w1, std::memory_order_relaxed);
  Ref(slot.w2).store(k.w2 | (static_cast<std::uint64_t>(app) << 24) | kInUse,
                     std::memory_order_relaxed);
  // Workers run apart in packet time: a refresh never moves the time back.
  Ref(slot.last_us)
      .store(found && prev_last > now_us ? prev_last : now_us, std::memory_order_relaxed);
  seq_ref.store(seq + 2, std::memory_order_release);
  if (!found) learned_.fetch_add(1, std::memory_order_relaxed);
  if (evicting) evicted_.fetch_add(1, std::memory_order_relaxed);
}

EndpointTableStats EndpointTable::stats() const noexcept {
  EndpointTableStats s;
  s.learned = learned_.load(std::memory_order_relaxed);
  s.evicted = evicted_.load(std::memory_order_relaxed);
  s.contended = contended_.load(std::memory_order_relaxed);
  s.hits = hits_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace ctlabeld::classify
