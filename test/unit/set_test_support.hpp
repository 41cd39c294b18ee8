// SPDX-License-Identifier: GPL-3.0-or-later
// Test support shared by the nftset and ipset writer tests: the kernel sandbox, shell steps,
// members from text, matching set listings, and capturing a stage's log.
#pragma once

#include <catch2/catch.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cctype>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctlabeld/common/set_member.hpp"
#include "test/unit/conntrack/kernel_sandbox.hpp"

namespace ctlabeld::test {

inline bool is_root() { return ::geteuid() == 0; }

inline std::unique_ptr<KernelSandbox> sandbox() {
  std::string error;
  auto box = KernelSandbox::enter("", &error);
  INFO(error);
  REQUIRE(box != nullptr);
  return box;
}

inline void sh(const std::string& command) {
  const auto r = run(command);
  INFO(command << "\n" << r.output);
  REQUIRE(r.status == 0);
}

// A member from a local and other address (both IPv4 or both IPv6), protocol and other port.
inline MemberFields member(const char* local, std::uint8_t proto, std::uint16_t port,
                           const char* other) {
  MemberFields m;
  m.ip_version = parse_address(local, m.local_addr);
  REQUIRE(parse_address(other, m.other_addr) == m.ip_version);
  m.ip_protocol = proto;
  m.other_port = port;
  return m;
}

// Places in `text` where one of `patterns` matches; '#' in a pattern stands for one or more
// digits (listings print counters and remaining times that move while the test runs).
inline std::size_t count_of(const std::string& text,
                            std::initializer_list<std::string_view> patterns) {
  auto digit = [&](std::size_t at) {
    return at < text.size() && std::isdigit(static_cast<unsigned char>(text[at])) != 0;
  };
  auto matches_at = [&](std::size_t at, std::string_view pattern) {
    for (const char c : pattern) {
      if (c == '#') {
        if (!digit(at)) return false;
        while (digit(at)) ++at;
      } else {
        if (at >= text.size() || text[at] != c) return false;
        ++at;
      }
    }
    return true;
  };
  std::size_t n = 0;
  for (std::size_t at = 0; at < text.size(); ++at) {
    for (const auto pattern : patterns) {
      if (matches_at(at, pattern)) {
        ++n;
        break;
      }
    }
  }
  return n;
}

// Captures what the stage logger `name` logs from now on.
inline std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> capture_log(const std::string& name) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  if (auto existing = spdlog::get(name)) {
    existing->sinks().push_back(sink);
  } else {
    spdlog::register_logger(std::make_shared<spdlog::logger>(name, sink));
  }
  return sink;
}

inline std::size_t logged(spdlog::sinks::ringbuffer_sink_mt& sink, const std::string& text) {
  std::size_t n = 0;
  for (const auto& line : sink.last_formatted()) n += line.find(text) != std::string::npos ? 1 : 0;
  return n;
}

// Opens a writer or fails the test with its message.
template <typename Writer, typename Options>
Writer open_writer_with(const Options& options) {
  auto writer = Writer::open(options);
  INFO(writer.error_text());
  REQUIRE(writer.ok());
  return std::move(writer).value();
}

// Attaches a set or fails the test with the self-check's message.
template <typename Writer, typename Spec>
auto attach(Writer& writer, const Spec& spec) {
  auto handle = writer.attach(spec);
  INFO(handle.error_text());
  REQUIRE(handle.ok());
  return handle.value();
}

// Applies `requests` in one call and returns the per-element results.
template <typename Writer, typename Request>
std::vector<MemberResult> apply_all(Writer& writer, const std::vector<Request>& requests) {
  std::vector<MemberResult> results(requests.size());
  writer.apply(requests, results);
  return results;
}
template <typename Writer, typename Request>
std::vector<MemberResult> apply_all(Writer& writer, std::initializer_list<Request> requests) {
  return apply_all(writer, std::vector<Request>(requests));
}

}  // namespace ctlabeld::test
