// SPDX-License-Identifier: GPL-3.0-or-later
// The published rule set: reload builds a new one off the packet path and swaps it in here;
// workers notice the generation change once per batch, never per packet.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "ctlabeld/actions/rule_set.hpp"

namespace ctlabeld::app {

class RulesHolder {
 public:
  void publish(std::shared_ptr<const actions::RuleSet> rules) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      rules_ = std::move(rules);
    }
    generation_.fetch_add(1, std::memory_order_release);
  }
  [[nodiscard]] std::uint64_t generation() const noexcept {
    return generation_.load(std::memory_order_acquire);
  }
  [[nodiscard]] std::shared_ptr<const actions::RuleSet> get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return rules_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const actions::RuleSet> rules_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace ctlabeld::app
