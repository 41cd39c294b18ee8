// SPDX-License-Identifier: GPL-3.0-or-later
// The watch queue: Dmitry Vyukov's bounded MPMC ring (one CAS per operation, no locks) plus an
// eventfd that wakes the control thread at most once per drain.
#include "ctlabeld/control/watch_hub.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <bit>
#include <cstdlib>

namespace ctlabeld::control {

WatchHub::WatchHub(std::size_t capacity) {
  const std::size_t n = std::bit_ceil(capacity < 2 ? std::size_t{2} : capacity);
  cells_ = std::make_unique<Cell[]>(n);
  for (std::size_t i = 0; i < n; ++i) cells_[i].sequence.store(i, std::memory_order_relaxed);
  mask_ = n - 1;
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) std::abort();  // only with no file descriptors left at start-up
}

WatchHub::~WatchHub() { ::close(wake_fd_); }

bool WatchHub::publish(std::uint64_t audience, std::string line) noexcept {
  std::size_t pos = enqueue_.load(std::memory_order_relaxed);
  Cell* cell = nullptr;
  for (;;) {
    cell = &cells_[pos & mask_];
    const std::size_t seq = cell->sequence.load(std::memory_order_acquire);
    const auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos);
    if (diff == 0) {
      if (enqueue_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
    } else if (diff < 0) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    } else {
      pos = enqueue_.load(std::memory_order_relaxed);
    }
  }
  cell->event.audience = audience;
  cell->event.line = std::move(line);
  cell->sequence.store(pos + 1, std::memory_order_release);
  published_.fetch_add(1, std::memory_order_relaxed);
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    const std::uint64_t one = 1;
    // EAGAIN only when the counter is saturated, and then the consumer is woken anyway.
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
  }
  return true;
}

void WatchHub::acknowledge_wake() noexcept {
  std::uint64_t v = 0;
  [[maybe_unused]] const auto n = ::read(wake_fd_, &v, sizeof v);
  // An exchange, not a store: it reads the producer's exchange and so sees every event pushed
  // before it, which the drain that follows then finds.
  wake_pending_.exchange(false, std::memory_order_acq_rel);
}

bool WatchHub::pop(WatchEvent& out) noexcept {
  std::size_t pos = dequeue_.load(std::memory_order_relaxed);
  Cell* cell = nullptr;
  for (;;) {
    cell = &cells_[pos & mask_];
    const std::size_t seq = cell->sequence.load(std::memory_order_acquire);
    const auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos + 1);
    if (diff == 0) {
      if (dequeue_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
    } else if (diff < 0) {
      return false;
    } else {
      pos = dequeue_.load(std::memory_order_relaxed);
    }
  }
  out = std::move(cell->event);
  cell->event.line.clear();
  cell->sequence.store(pos + mask_ + 1, std::memory_order_release);
  return true;
}

}  // namespace ctlabeld::control
