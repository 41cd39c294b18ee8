// SPDX-License-Identifier: GPL-3.0-or-later
// Learned client endpoints (ZOOM.md's H4), shared by every worker: a fixed-size, open-addressed
// table of atomics with a sequence lock per slot. Readers (a new UDP flow's first packet) take no
// lock and write nothing; writers (packets of the few flows that teach) claim one slot at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/common/net.hpp"

namespace ctlabeld::classify {

struct EndpointTableStats {
  std::uint64_t learned = 0;    // endpoints that went in (new or after expiry)
  std::uint64_t evicted = 0;    // live endpoints pushed out by a new one (the window was full)
  std::uint64_t contended = 0;  // learns skipped because another worker held the slot
  std::uint64_t hits = 0;       // flows named by a learned endpoint
};

class EndpointTable {
 public:
  // `slots` is rounded up to a power of two. Throws std::bad_alloc when memory is short. Entries
  // live `ttl` of packet time after their last refresh; within a probe window of kProbe slots the
  // least recently refreshed is evicted.
  explicit EndpointTable(std::size_t slots = defaults::kEndpointSlots,
                         std::chrono::seconds ttl = defaults::kEndpointTtl);
  EndpointTable(const EndpointTable&) = delete;
  EndpointTable& operator=(const EndpointTable&) = delete;

  // Remembers (address, port) for application `app` at packet time now_us, or refreshes it.
  // Refreshes closer than a second apart are skipped: the TTL is what matters.
  void learn(const Address& addr, std::uint8_t ip_version, std::uint16_t port, std::uint8_t app,
             std::uint64_t now_us) noexcept;
  // The application of (address, port) if it was refreshed no longer than the TTL before now_us
  // (or later: another worker may be ahead in packet time), else kNoApp (0xff).
  [[nodiscard]] std::uint8_t find(const Address& addr, std::uint8_t ip_version, std::uint16_t port,
                                  std::uint64_t now_us) noexcept;

  [[nodiscard]] EndpointTableStats stats() const noexcept;
  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

  static constexpr std::size_t kProbe = 8;

 private:
  // Plain words, accessed only through std::atomic_ref: the array comes zeroed from calloc, whose
  // large blocks are fresh mappings, so a slot's page becomes resident only once it is written.
  struct Slot {
    std::uint64_t seq;      // odd while a writer holds the slot
    std::uint64_t w0;       // address bytes 0-7
    std::uint64_t w1;       // address bytes 8-15
    std::uint64_t w2;       // port | version << 16 | app << 24 | 1 << 32 (in use)
    std::uint64_t last_us;  // packet time of the last refresh
  };
  struct FreeSlots {
    void operator()(Slot* p) const noexcept;
  };
  struct Key {
    std::uint64_t w0, w1, w2;  // w2 without the app byte
  };
  struct Snapshot {
    bool valid;  // read consistently
    std::uint64_t w0, w1, w2, last_us;
  };
  [[nodiscard]] Key make_key(const Address& addr, std::uint8_t ip_version,
                             std::uint16_t port) const noexcept;
  [[nodiscard]] std::size_t home(const Key& k) const noexcept;
  [[nodiscard]] static Snapshot read(const Slot& s) noexcept;
  static bool same(const Snapshot& s, const Key& k) noexcept;

  std::unique_ptr<Slot[], FreeSlots> slots_;
  std::size_t mask_;
  std::uint64_t ttl_us_;
  std::uint64_t seed_;  // per-start secret: the key comes off the wire
  std::atomic<std::uint64_t> learned_{0};
  std::atomic<std::uint64_t> evicted_{0};
  std::atomic<std::uint64_t> contended_{0};
  std::atomic<std::uint64_t> hits_{0};
};

}  // namespace ctlabeld::classify
