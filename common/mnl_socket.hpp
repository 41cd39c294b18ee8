// SPDX-License-Identifier: GPL-3.0-or-later
// The netfilter netlink socket the set writers share: opening it with sized buffers, and reading
// the kernel's answers to a batch without blocking. Private to the stages that own libmnl.
#pragma once

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "ctlabeld/common/c_handle.hpp"
#include "ctlabeld/common/expected.hpp"

namespace ctlabeld::mnl {

using SocketPtr = CHandle<mnl_socket, mnl_socket_close>;

// A bound NETLINK_NETFILTER socket. `stage` starts the error messages ("nftset", "ipset").
// `cap_ack`: error answers carry only the failing message's header, so many fit the buffer (a
// writer that reads attributes of its failed message back must not ask for it).
// `buffer_bytes` > 0 sizes the send and receive buffers.
[[nodiscard]] inline Expected<SocketPtr> open_netfilter(const char* stage, int buffer_bytes,
                                                        bool cap_ack) {
  using Result = Expected<SocketPtr>;
  SocketPtr socket(mnl_socket_open(NETLINK_NETFILTER));
  if (!socket) {
    return Result::failure(std::string(stage) + ": netlink socket: " + std::strerror(errno));
  }
  if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return Result::failure(std::string(stage) + ": bind netlink socket: " + std::strerror(errno));
  }
  const int fd = mnl_socket_get_fd(socket.get());
  if (cap_ack) {
    const int one = 1;
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  }
  if (buffer_bytes > 0) {
    // FORCE needs CAP_NET_ADMIN, which the writes need anyway; fall back to the capped form.
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buffer_bytes, sizeof buffer_bytes) != 0) {
      (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof buffer_bytes);
    }
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer_bytes, sizeof buffer_bytes) != 0) {
      (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
    }
  }
  return socket;
}

// Reads the answers to what was just sent into `buffer` and calls `on_error(nlh)` for each
// NLMSG_ERROR message (acknowledgements included) until it returns true: every answer the caller
// waits for is in. Never blocks for long: the kernel answers a batch inside sendmsg, so it waits
// 10 ms at a time, and only until `deadline`, for an unusually slow one. Returns true when answers
// were lost (ENOBUFS); then it stops at the first empty read. Every recv is counted in `syscalls`.
template <typename OnError>
bool read_errors(mnl_socket* socket, std::span<char> buffer,
                 std::chrono::steady_clock::time_point deadline, std::uint64_t& syscalls,
                 OnError on_error) {
  const int fd = mnl_socket_get_fd(socket);
  bool lost = false;
  bool done = false;
  while (!done) {
    ++syscalls;
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        lost = true;
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) break;
      if (lost || std::chrono::steady_clock::now() > deadline) break;
      pollfd pfd{fd, POLLIN, 0};
      (void)::poll(&pfd, 1, 10);
      continue;
    }
    auto remaining = static_cast<int>(n);
    for (const auto* nlh = reinterpret_cast<const nlmsghdr*>(buffer.data());
         mnl_nlmsg_ok(nlh, remaining); nlh = mnl_nlmsg_next(nlh, &remaining)) {
      if (nlh->nlmsg_type != NLMSG_ERROR) continue;
      if (on_error(nlh)) done = true;
    }
  }
  return lost;
}

}  // namespace ctlabeld::mnl
