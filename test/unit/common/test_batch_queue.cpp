// SPDX-License-Identifier: GPL-3.0-or-later
// The hand-off queue: bounded, refuses when full, drains in batches after close; its consumer
// thread asks for a short scheduler slice (checked with sched_getattr where the kernel has it).
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "ctlabeld/common/batch_queue.hpp"
#include "ctlabeld/common/thread_latency.hpp"

using namespace ctlabeld;

namespace {

// sched_getattr's view of the calling thread: its slice request in nanoseconds.
std::uint64_t own_slice_ns() {
  struct {
    std::uint32_t size, policy;
    std::uint64_t flags;
    std::int32_t nice;
    std::uint32_t priority;
    std::uint64_t runtime, deadline, period;
    std::uint32_t util_min, util_max;
  } attr{};
  attr.size = sizeof attr;
  REQUIRE(::syscall(SYS_sched_getattr, 0, &attr, static_cast<unsigned>(sizeof attr), 0U) == 0);
  return attr.runtime;
}

// Linux 6.12 added custom slices for SCHED_OTHER (EEVDF).
bool kernel_has_slices() {
  utsname u{};
  if (::uname(&u) != 0) return false;
  unsigned major = 0, minor = 0;
  if (std::sscanf(u.release, "%u.%u", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 12);
}

}  // namespace

TEST_CASE("batch queue: bounded, batches, drains after close", "[common][queue]") {
  BatchQueue<int> q(4);
  for (int i = 0; i < 4; ++i) CHECK(q.push(i));
  CHECK_FALSE(q.push(99));  // full: refused, counted
  CHECK(q.refused() == 1);
  std::vector<int> out;
  REQUIRE(q.pop_batch(out, 3));
  CHECK(out == std::vector<int>{0, 1, 2});
  CHECK(q.push(4));
  q.close();
  CHECK_FALSE(q.push(5));
  REQUIRE(q.pop_batch(out, 10));
  CHECK(out == std::vector<int>{3, 4});
  CHECK_FALSE(q.pop_batch(out, 10));
  CHECK(q.accepted() == 5);
}

TEST_CASE("batch queue: the consumer thread asks for a short slice; producers do not",
          "[common][queue]") {
  BatchQueue<int> q(16);
  std::uint64_t consumer_slice = 0;
  std::thread consumer([&] {
    std::vector<int> out;
    while (q.pop_batch(out, 8)) {
    }
    consumer_slice = own_slice_ns();
  });
  const std::uint64_t producer_before = own_slice_ns();
  for (int i = 0; i < 100; ++i) {
    while (!q.push(i)) std::this_thread::yield();
  }
  q.close();
  consumer.join();
  CHECK(own_slice_ns() == producer_before);
  if (!kernel_has_slices()) {
    WARN("kernel before 6.12: no custom slices; the request is ignored");
    return;
  }
  CHECK(consumer_slice ==
        static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(defaults::kWriterSlice).count()));
}

TEST_CASE("request_short_slice keeps the thread's nice value", "[common][queue]") {
  std::thread t([] {
    const int before = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
    const bool ok = request_short_slice(std::chrono::microseconds(200));
    CHECK(::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())) == before);
    if (kernel_has_slices()) {
      CHECK(ok);
      CHECK(own_slice_ns() == 200'000);
    }
  });
  t.join();
}
