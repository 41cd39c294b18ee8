// SPDX-License-Identifier: GPL-3.0-or-later
// The seam between the enforcement stage and the writers: one small interface per kind of
// change (label updates today; marks and set members next). A writer runs on its own thread
// behind a BatchQueue; submit() only queues. Changes the writer took but could not complete
// (the kernel's answer was lost, the send failed) come back through WriteFeedback, so the
// enforcement stage retries them instead of believing they were applied.
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

namespace ctlabeld {

template <typename Change>
class EffectWriter {
 public:
  virtual ~EffectWriter() = default;
  // Any worker thread; never blocks for long and does no I/O. True: accepted (the writer owns
  // it now). False: refused (queue full or stopped); the caller keeps the change and retries.
  [[nodiscard]] virtual bool submit(const Change& change) noexcept = 0;
};

// Written by a writer thread, read by the one enforcement stage that owns it.
template <typename Change>
class WriteFeedback {
 public:
  // Writer thread: `change` was accepted but did not reach the kernel.
  void failed(const Change& change) {
    std::lock_guard lock(mutex_);
    failed_.push_back(change);
    any_.store(true, std::memory_order_release);
  }
  // Owner: moves the failed changes into `out` (cleared first). Cheap when there are none.
  bool take(std::vector<Change>& out) {
    out.clear();
    if (!any_.load(std::memory_order_acquire)) return false;
    std::lock_guard lock(mutex_);
    out.swap(failed_);
    any_.store(false, std::memory_order_relaxed);
    return !out.empty();
  }

 private:
  std::mutex mutex_;
  std::vector<Change> failed_;
  std::atomic<bool> any_{false};
};

}  // namespace ctlabeld
