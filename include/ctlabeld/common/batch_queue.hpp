// SPDX-License-Identifier: GPL-3.0-or-later
// A bounded multi-producer queue drained in batches by one consumer thread: the hand-over from
// the workers to every writer. Producers never block beyond one short lock and never do the
// consumer's work; a full queue refuses the item and the producer keeps it to retry.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/common/thread_latency.hpp"

namespace ctlabeld {

template <typename T>
class BatchQueue {
 public:
  explicit BatchQueue(std::size_t capacity) : ring_(capacity == 0 ? 1 : capacity) {}
  BatchQueue(const BatchQueue&) = delete;
  BatchQueue& operator=(const BatchQueue&) = delete;

  // Any thread. False: the queue is full or closed; nothing was taken.
  [[nodiscard]] bool push(const T& item) noexcept {
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      if (closed_ || size_ == ring_.size()) {
        ++refused_;
        return false;
      }
      ring_[(head_ + size_) % ring_.size()] = item;
      ++size_;
      ++accepted_;
      wake = consumer_waiting_;
    }
    // Only a sleeping consumer needs the (system-call) wake-up; a busy one sees the item.
    if (wake) not_empty_.notify_one();
    return true;
  }

  // The consumer: waits for items, then moves up to `max` of them into `out` (cleared first).
  // False once the queue is closed and empty: everything pushed was handed out.
  bool pop_batch(std::vector<T>& out, std::size_t max) {
    out.clear();
    tune_consumer();
    std::unique_lock lock(mutex_);
    consumer_waiting_ = true;
    not_empty_.wait(lock, [&] { return size_ > 0 || closed_; });
    consumer_waiting_ = false;
    const std::size_t n = std::min(size_, std::max<std::size_t>(max, 1));
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(ring_[head_]);
      head_ = (head_ + 1) % ring_.size();
    }
    size_ -= n;
    return n != 0;
  }

  // The consumer, for a writer that also keeps time (the log writer's intervals): as pop_batch,
  // but returns by `deadline`, or at wake(), with `out` possibly empty. False only once the
  // queue is closed and empty.
  bool pop_batch_until(std::vector<T>& out, std::size_t max,
                       std::chrono::steady_clock::time_point deadline) {
    out.clear();
    tune_consumer();
    std::unique_lock lock(mutex_);
    consumer_waiting_ = true;
    not_empty_.wait_until(lock, deadline, [&] { return size_ > 0 || closed_ || woken_; });
    consumer_waiting_ = false;
    woken_ = false;
    const std::size_t n = std::min(size_, std::max<std::size_t>(max, 1));
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(ring_[head_]);
      head_ = (head_ + 1) % ring_.size();
    }
    size_ -= n;
    return n != 0 || !closed_;
  }
  // Any thread: a consumer in pop_batch_until returns now (its deadline changed).
  void wake() {
    {
      std::lock_guard lock(mutex_);
      woken_ = true;
    }
    not_empty_.notify_one();
  }

  // The consumer: `n` handed-out items are fully handled (for wait_handled).
  void handled(std::size_t n) {
    {
      std::lock_guard lock(done_mutex_);
      handled_ += n;
    }
    done_cv_.notify_all();
  }
  // The consumer is gone: nothing more will be handled.
  void consumer_exited() {
    {
      std::lock_guard lock(done_mutex_);
      exited_ = true;
    }
    done_cv_.notify_all();
  }
  // Blocks until every item accepted before the call has been handled (or the consumer exited).
  void wait_handled() {
    std::uint64_t target = 0;
    {
      std::lock_guard lock(mutex_);
      target = accepted_;
    }
    std::unique_lock lock(done_mutex_);
    done_cv_.wait(lock, [&] { return handled_ >= target || exited_; });
  }
  // Refuses new items; the consumer still drains what is queued.
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    not_empty_.notify_one();
  }

  [[nodiscard]] std::uint64_t accepted() const {
    std::lock_guard lock(mutex_);
    return accepted_;
  }
  [[nodiscard]] std::uint64_t refused() const {
    std::lock_guard lock(mutex_);
    return refused_;
  }

 private:
  // The consumer sleeps between items; a push wakes it. On a loaded machine that wake-up
  // waited for a busy thread's whole slice (p99 1.3 ms); a short slice of its own lets it
  // preempt at once (bench/handoff_bench). A spin before sleeping was measured too: it burnt
  // CPU and did not help, as items arrive milliseconds apart. Best effort: older kernels
  // ignore it. Called by the consumer thread only.
  void tune_consumer() noexcept {
    if (consumer_tuned_) return;
    consumer_tuned_ = true;
    (void)request_short_slice(defaults::kWriterSlice);
  }

  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::vector<T> ring_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::uint64_t accepted_ = 0;
  std::uint64_t refused_ = 0;
  bool consumer_waiting_ = false;
  bool closed_ = false;
  bool woken_ = false;
  bool consumer_tuned_ = false;  // the consumer thread's own

  std::mutex done_mutex_;
  std::condition_variable done_cv_;
  std::uint64_t handled_ = 0;
  bool exited_ = false;
};

}  // namespace ctlabeld
