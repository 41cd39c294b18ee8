// SPDX-License-Identifier: GPL-3.0-or-later
// The SPSC ring between capture and workers: order, sizes, wrap-around and a full ring.
#include <catch2/catch.hpp>

#include <cstring>
#include <thread>

#include "byte_ring.hpp"

using ctlabeld::app::ByteRing;

TEST_CASE("records come out in order with their sizes, across many wrap-arounds") {
  ByteRing ring(4096);
  std::uint32_t next_in = 0;
  std::uint32_t next_out = 0;
  for (int round = 0; round < 5000; ++round) {
    // Put a few records of varying size, then take some out.
    for (int k = 0; k < 3; ++k) {
      const std::size_t size = 1 + (next_in * 37) % 700;
      std::uint8_t* p = ring.reserve(size);
      if (p == nullptr) break;
      std::memset(p, static_cast<int>(next_in & 0xff), size);
      std::memcpy(p, &next_in, std::min<std::size_t>(4, size));
      ring.commit();
      ++next_in;
    }
    for (int k = 0; k < 2; ++k) {
      std::size_t size = 0;
      const std::uint8_t* p = ring.peek(size);
      if (p == nullptr) break;
      REQUIRE(size == 1 + (next_out * 37) % 700);
      if (size > 4) REQUIRE(p[size - 1] == static_cast<std::uint8_t>(next_out & 0xff));
      if (size >= 4) {
        std::uint32_t id;
        std::memcpy(&id, p, 4);
        REQUIRE(id == next_out);
      }
      ring.release();
      ++next_out;
    }
  }
  CHECK(next_in > 1000);
}

TEST_CASE("a full ring refuses a record instead of overwriting") {
  ByteRing ring(4096);
  int accepted = 0;
  while (ring.reserve(100) != nullptr) {
    ring.commit();
    ++accepted;
    REQUIRE(accepted < 100);
  }
  CHECK(accepted >= 30);
  std::size_t size = 0;
  REQUIRE(ring.peek(size) != nullptr);
  ring.release();
  CHECK(ring.reserve(100) != nullptr);
  CHECK(ring.reserve(5000) == nullptr);  // larger than half the ring: never fits
}

TEST_CASE("one producer and one consumer thread exchange a million records intact") {
  ByteRing ring(1 << 16);
  constexpr std::uint32_t kCount = 1000000;
  std::thread producer([&] {
    for (std::uint32_t i = 0; i < kCount;) {
      const std::size_t size = 4 + i % 200;
      if (std::uint8_t* p = ring.reserve(size)) {
        std::memcpy(p, &i, 4);
        std::memset(p + 4, static_cast<int>(i & 0xff), size - 4);
        ring.commit();
        ++i;
      } else {
        std::this_thread::yield();
      }
    }
  });
  std::uint32_t expected = 0;
  bool ok = true;
  while (expected < kCount && ok) {
    std::size_t size = 0;
    const std::uint8_t* p = ring.peek(size);
    if (p == nullptr) {
      std::this_thread::yield();
      continue;
    }
    std::uint32_t got;
    std::memcpy(&got, p, 4);
    ok = got == expected && size == 4 + expected % 200 &&
         (size == 4 || p[size - 1] == (expected & 0xff));
    ring.release();
    ++expected;
  }
  producer.join();
  CHECK(ok);
  CHECK(expected == kCount);
  CHECK(ring.empty());
}

TEST_CASE("staged records appear only when published; consumed room frees only when published") {
  ByteRing ring(4096);
  std::uint8_t* p = ring.reserve(16);
  REQUIRE(p != nullptr);
  std::memset(p, 7, 16);
  ring.stage();
  std::size_t size = 0;
  CHECK(ring.peek(size) == nullptr);  // staged, not published
  CHECK(ring.empty());
  ring.publish_writes();
  CHECK_FALSE(ring.empty());
  const std::uint8_t* q = ring.peek(size);
  REQUIRE(q != nullptr);
  CHECK(size == 16);
  CHECK(q[15] == 7);
  ring.consume();
  CHECK(ring.peek(size) == nullptr);  // consumed locally
  CHECK_FALSE(ring.empty());          // but the producer has not been told
  // Fill the rest: without publish_reads the consumed record's room stays taken.
  int accepted = 0;
  while (ring.reserve(100) != nullptr) {
    ring.stage();
    ++accepted;
    REQUIRE(accepted < 100);
  }
  ring.publish_writes();
  ring.publish_reads();
  CHECK(ring.reserve(16) != nullptr);
}
