// SPDX-License-Identifier: GPL-3.0-or-later
// The watch queue: never blocks, counts what it drops, loses nothing it accepted.
#include <catch2/catch.hpp>

#include <poll.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ctlabeld/control/watch_hub.hpp"

using namespace ctlabeld::control;

TEST_CASE("a full queue drops and counts; the consumer is woken once") {
  WatchHub hub(4);
  pollfd p{hub.wake_fd(), POLLIN, 0};
  CHECK(::poll(&p, 1, 0) == 0);
  for (int i = 0; i < 4; ++i) CHECK(hub.publish(1, std::to_string(i)));
  CHECK_FALSE(hub.publish(1, "4"));
  CHECK(hub.dropped() == 1);
  CHECK(hub.published() == 4);
  CHECK(::poll(&p, 1, 0) == 1);
  hub.acknowledge_wake();
  CHECK(::poll(&p, 1, 0) == 0);
  WatchEvent ev;
  for (int i = 0; i < 4; ++i) {
    REQUIRE(hub.pop(ev));
    CHECK(ev.line == std::to_string(i));
    CHECK(ev.audience == 1);
  }
  CHECK_FALSE(hub.pop(ev));
  CHECK(hub.publish(2, "again"));  // wakes again after the acknowledgement
  CHECK(::poll(&p, 1, 0) == 1);
}

TEST_CASE(
    "four producers, one consumer: every accepted event arrives once, in order per producer") {
  WatchHub hub(256);
  constexpr int kProducers = 4;
  constexpr int kEach = 20000;
  std::atomic<int> done{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < kProducers; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) hub.publish(1, std::to_string(t) + ":" + std::to_string(i));
      done.fetch_add(1);
    });
  }
  std::vector<int> last(kProducers, -1);
  std::uint64_t received = 0;
  WatchEvent ev;
  bool ordered = true;
  while (done.load() < kProducers || hub.pop(ev)) {
    if (ev.line.empty() && !hub.pop(ev)) continue;
    const auto colon = ev.line.find(':');
    const int t = std::stoi(ev.line.substr(0, colon));
    const int i = std::stoi(ev.line.substr(colon + 1));
    if (i <= last[static_cast<std::size_t>(t)]) ordered = false;
    last[static_cast<std::size_t>(t)] = i;
    ++received;
    ev.line.clear();
  }
  for (auto& p : producers) p.join();
  while (hub.pop(ev)) ++received;
  CHECK(ordered);
  CHECK(received == hub.published());
  CHECK(hub.published() + hub.dropped() == std::uint64_t{kProducers} * kEach);
}
