// SPDX-License-Identifier: GPL-3.0-or-later
// A bounded single-producer/single-consumer ring of variable-length packet records: the
// capture thread copies only the bytes a packet has, and never blocks (a full ring says no).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace ctlabeld::app {

class ByteRing {
 public:
  // `capacity` is rounded up to a power of two.
  explicit ByteRing(std::size_t capacity) {
    std::size_t c = 4096;
    while (c < capacity) c <<= 1;
    capacity_ = c;
    buf_ = std::make_unique<std::uint8_t[]>(c);
  }

  // Producer: reserves room for a record of `size` bytes, or returns nullptr when full.
  // The record becomes visible to the consumer at commit(), or at publish_writes() after
  // stage(): publishing once per batch keeps the shared index's cache line from bouncing
  // between the cores on every packet.
  std::uint8_t* reserve(std::size_t size) noexcept {
    const std::size_t need = align(size + kHeader);
    if (need > capacity_ / 2) return nullptr;
    const std::size_t head = write_;
    std::size_t pos = head & (capacity_ - 1);
    std::size_t pad = 0;
    if (pos + need > capacity_) pad = capacity_ - pos;  // skip the tail end, wrap to 0
    if (head + pad + need - cached_tail_ > capacity_) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (head + pad + need - cached_tail_ > capacity_) return nullptr;
    }
    if (pad != 0) {
      write_header(pos, kWrap);
      pos = 0;
    }
    write_header(pos, static_cast<std::uint32_t>(size));
    pending_ = head + pad + need;
    return buf_.get() + pos + kHeader;
  }
  void commit() noexcept {
    stage();
    publish_writes();
  }
  void stage() noexcept { write_ = pending_; }
  void publish_writes() noexcept {
    if (head_.load(std::memory_order_relaxed) != write_)
      head_.store(write_, std::memory_order_release);
  }

  // Consumer: the next record's bytes and size, or nullptr when empty. release() frees it;
  // consume() moves past it and publish_reads() later frees everything consumed.
  const std::uint8_t* peek(std::size_t& size) noexcept {
    std::size_t tail = read_;
    if (tail == cached_head_) {
      cached_head_ = head_.load(std::memory_order_acquire);
      if (tail == cached_head_) return nullptr;
    }
    std::size_t pos = tail & (capacity_ - 1);
    std::uint32_t len = read_header(pos);
    if (len == kWrap) {
      tail += capacity_ - pos;
      pos = 0;
      len = read_header(0);
    }
    peek_tail_ = tail + align(len + kHeader);
    size = len;
    return buf_.get() + pos + kHeader;
  }
  void release() noexcept {
    consume();
    publish_reads();
  }
  void consume() noexcept { read_ = peek_tail_; }
  void publish_reads() noexcept {
    if (tail_.load(std::memory_order_relaxed) != read_)
      tail_.store(read_, std::memory_order_release);
  }

  [[nodiscard]] bool empty() const noexcept {
    return tail_.load(std::memory_order_acquire) == head_.load(std::memory_order_acquire);
  }

 private:
  static constexpr std::size_t kHeader = 8;
  static constexpr std::uint32_t kWrap = 0xffffffffu;
  static std::size_t align(std::size_t n) noexcept { return (n + 7) & ~std::size_t{7}; }
  void write_header(std::size_t pos, std::uint32_t len) noexcept {
    std::memcpy(buf_.get() + pos, &len, 4);
  }
  std::uint32_t read_header(std::size_t pos) const noexcept {
    std::uint32_t len;
    std::memcpy(&len, buf_.get() + pos, 4);
    return len;
  }

  std::size_t capacity_;
  std::unique_ptr<std::uint8_t[]> buf_;
  alignas(64) std::atomic<std::size_t> head_{0};  // written by the producer
  std::size_t cached_tail_ = 0;
  std::size_t pending_ = 0;
  std::size_t write_ = 0;                         // staged head, not yet published
  alignas(64) std::atomic<std::size_t> tail_{0};  // written by the consumer
  std::size_t cached_head_ = 0;
  std::size_t peek_tail_ = 0;
  std::size_t read_ = 0;  // consumed tail, not yet published
};

}  // namespace ctlabeld::app
