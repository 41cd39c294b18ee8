// SPDX-License-Identifier: GPL-3.0-or-later
// The control socket: a UNIX stream socket served by its own thread with one epoll loop. One
// request per line, one JSON reply per line (or a stream of lines for `watch`). Every client has
// bounded input and output; a client that does not read is dropped when its output is full, so
// no client can block another, nor anything outside this thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/control/handler.hpp"
#include "ctlabeld/control/watch_hub.hpp"

namespace ctlabeld::control {

struct ServerSettings {
  std::string path = defaults::kControlSocket;
  std::string group;  // name or number; empty: the daemon's own group
  unsigned mode = defaults::kControlSocketMode;
  std::size_t max_clients = defaults::kControlMaxClients;
  std::size_t max_request_bytes = defaults::kControlMaxRequestBytes;
  std::size_t max_output_bytes = defaults::kControlClientOutputBytes;
  std::chrono::milliseconds idle_timeout = defaults::kControlIdleTimeout;
  std::chrono::milliseconds read_timeout = defaults::kControlReadTimeout;
  std::chrono::milliseconds write_timeout = defaults::kControlWriteTimeout;
};

// Monotonic counts since start (and two gauges), readable from any thread.
struct ServerCounters {
  std::uint64_t accepted = 0;
  std::uint64_t refused_too_many = 0;  // over max_clients: told so and closed
  std::uint64_t requests = 0;
  std::uint64_t bad_requests = 0;
  std::uint64_t oversized_requests = 0;
  std::uint64_t dropped_slow = 0;  // output buffer full
  std::uint64_t timed_out = 0;     // idle, read or write timeout
  std::uint64_t watch_events_sent = 0;
  std::uint64_t clients = 0;         // gauge
  std::uint64_t buffered_bytes = 0;  // gauge: input and output held for clients
  std::uint64_t peak_buffered_bytes = 0;
};

class Server {
 public:
  // Binds the socket (replacing a stale one, refusing when another daemon answers on it), sets
  // its mode and group, and starts the thread. `handler` and `hub` must outlive the server.
  [[nodiscard]] static Expected<std::unique_ptr<Server>> start(ServerSettings settings,
                                                               Handler& handler, WatchHub& hub);
  ~Server();  // stops the thread, closes every client, removes the socket file
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  [[nodiscard]] ServerCounters counters() const noexcept;
  [[nodiscard]] const std::string& path() const noexcept { return settings_.path; }

  struct Impl;  // the loop's state, owned by the thread

 private:
  Server(ServerSettings settings, Handler& handler, WatchHub& hub);
  ServerSettings settings_;
  Handler& handler_;
  WatchHub& hub_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace ctlabeld::control
