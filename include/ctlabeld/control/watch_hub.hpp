// SPDX-License-Identifier: GPL-3.0-or-later
// Watch events from any thread to the control thread: a bounded lock-free queue (Vyukov's
// MPMC ring, used here with one consumer). Publishing never blocks; a full queue drops the event
// and counts it, and watchers are told how many they missed.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ctlabeld/common/defaults.hpp"

namespace ctlabeld::control {

struct WatchEvent {
  std::uint64_t audience = 0;  // bit i: watch subscription i receives it
  std::string line;            // one JSON object, no newline
};

class WatchHub {
 public:
  static constexpr unsigned kMaxWatchers = 64;  // bits of WatchEvent::audience

  explicit WatchHub(std::size_t capacity = defaults::kControlWatchQueue);
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Producers (any thread). Check subscribed() first: 0 means nobody watches, build nothing.
  [[nodiscard]] std::uint64_t subscribed() const noexcept {
    return subscribed_.load(std::memory_order_relaxed);
  }
  // Never blocks. False when the queue is full (the event is dropped and counted).
  bool publish(std::uint64_t audience, std::string line) noexcept;
  [[nodiscard]] std::uint64_t published() const noexcept {
    return published_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t dropped() const noexcept {
    return dropped_.load(std::memory_order_relaxed);
  }

  // Consumer side (the control server only).
  [[nodiscard]] int wake_fd() const noexcept { return wake_fd_; }
  void set_subscribed(std::uint64_t mask) noexcept {
    subscribed_.store(mask, std::memory_order_relaxed);
  }
  // Clears the wake-up, so a publish after this call wakes the consumer again.
  void acknowledge_wake() noexcept;
  bool pop(WatchEvent& out) noexcept;

 private:
  struct Cell {
    std::atomic<std::size_t> sequence;
    WatchEvent event;
  };
  std::unique_ptr<Cell[]> cells_;
  std::size_t mask_;
  alignas(64) std::atomic<std::size_t> enqueue_{0};
  alignas(64) std::atomic<std::size_t> dequeue_{0};
  alignas(64) std::atomic<std::uint64_t> subscribed_{0};
  std::atomic<bool> wake_pending_{false};
  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> dropped_{0};
  int wake_fd_ = -1;
};

}  // namespace ctlabeld::control
