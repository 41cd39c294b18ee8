// SPDX-License-Identifier: GPL-3.0-or-later
// `ctlabeld ctl watch`: which watchers want an event (their criteria, set by the control thread)
// and the hand-off of event lines to the control thread's WatchHub. Workers read the filters
// through a generation counter, as they read the rules: no lock on the packet path.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "ctlabeld/actions/criteria.hpp"
#include "ctlabeld/control/watch_hub.hpp"

namespace ctlabeld::app {

class WatchFeed {
 public:
  struct Filters {
    // By watch slot: the watcher's criteria; empty: every event.
    std::array<std::optional<actions::Criteria>, control::WatchHub::kMaxWatchers> by_slot;
  };

  explicit WatchFeed(control::WatchHub& hub) : hub_(hub) {}

  // Any thread: whether anybody watches (one relaxed load).
  [[nodiscard]] bool active() const noexcept { return hub_.subscribed() != 0; }
  [[nodiscard]] std::uint64_t subscribed() const noexcept { return hub_.subscribed(); }
  bool publish(std::uint64_t audience, std::string line) noexcept {
    return hub_.publish(audience, std::move(line));
  }

  // Control thread.
  void set(unsigned slot, std::optional<actions::Criteria> filter) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto next = filters_ ? std::make_shared<Filters>(*filters_) : std::make_shared<Filters>();
    next->by_slot[slot] = std::move(filter);
    filters_ = std::move(next);
    generation_.fetch_add(1, std::memory_order_release);
  }

  // Workers: the current filters when they changed since `generation`, else null.
  [[nodiscard]] std::shared_ptr<const Filters> changed(std::uint64_t& generation) const {
    const std::uint64_t g = generation_.load(std::memory_order_acquire);
    if (g == generation) return nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    generation = g;
    return filters_ ? filters_ : std::make_shared<const Filters>();
  }

 private:
  control::WatchHub& hub_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Filters> filters_;
  std::atomic<std::uint64_t> generation_{1};
};

}  // namespace ctlabeld::app
