// SPDX-License-Identifier: GPL-3.0-or-later
// Members of ipsets: batched adds and deletes with per-element outcomes (raw ipset netlink over
// libmnl on the hot path), managed creation, flushes and the missing-set self-check (libipset).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/set_member.hpp"

namespace ctlabeld::ipset {

// The set types Netify's ipset target uses. What each stores of a flow (NETIFY.md):
// hash:ip the other address; hash:ip,port the other address and protocol:other port;
// hash:ip,port,ip the local address, protocol:other port, other address; hash:mac the local MAC.
enum class Type : std::uint8_t { kHashIp, kHashIpPort, kHashIpPortIp, kHashMac };
// Accepts "hash:ip" and Netify's short forms ("ip", "ip,port", "ip,port,ip", "mac").
[[nodiscard]] std::optional<Type> type_from_name(std::string_view name);
[[nodiscard]] std::string_view type_name(Type type);

enum class Family : std::uint8_t { kIpv4 = 4, kIpv6 = 6 };
// Netify's family suffix: "nfa.blocks" -> "nfa.blocks.v4" / "nfa.blocks.v6".
[[nodiscard]] std::string set_name_for(std::string_view base, Family family);

// The skbinfo extension (`SET --map-set`): values stored with every member of the set.
struct SkbInfo {
  std::optional<std::uint32_t> mark;
  std::uint32_t mask = 0xffffffff;
  std::optional<std::uint32_t> prio;  // tc class handle, MAJOR << 16 | MINOR
  std::optional<std::uint16_t> queue;
  [[nodiscard]] bool any() const noexcept { return mark || prio || queue; }
  friend bool operator==(const SkbInfo&, const SkbInfo&) = default;
};
// "MAJOR:MINOR" in hex, as tc writes class handles (e.g. "1:10"); nullopt when malformed.
[[nodiscard]] std::optional<std::uint32_t> parse_skb_prio(std::string_view text);

struct SetSpec {
  std::string name;  // full name with the family suffix; at most 31 characters
  Family family = Family::kIpv4;
  Type type = Type::kHashIp;
  std::uint32_t max_elements = 65536;
  bool timeout = true;  // members carry timeouts: the set needs timeout support
  SkbInfo skb;          // stored with every member; the set needs skbinfo support
  bool managed = false;
  bool flush_on_create = false;   // managed only: empty the set when attached
  bool flush_on_destroy = false;  // empty the set at clean shutdown
  friend bool operator==(const SetSpec&, const SetSpec&) = default;
};

using SetHandle = std::uint16_t;

struct Request {
  SetOp op = SetOp::kAdd;  // kRefresh is an add: with -exist the kernel restarts the timeout
  SetHandle set = 0;
  MemberFields member;
  std::chrono::seconds timeout{0};  // 0: the member never expires
};

struct Counters {
  std::uint64_t messages = 0;  // netlink messages sent (resends included)
  std::uint64_t resends = 0;   // messages sent again with the elements after a failed one
  std::uint64_t applied = 0;
  std::uint64_t set_full = 0;
  std::uint64_t no_set = 0;
  std::uint64_t rejected = 0;
  std::uint64_t failed = 0;
  std::uint64_t syscalls = 0;
};

enum class AddPath : std::uint8_t {
  kNetlink,   // many elements per message, many messages per sendmsg (the default)
  kLibipset,  // one ipset_cmd() per element, each waiting for its acknowledgement
};

struct Options {
  std::size_t elements_per_message = 256;  // at most 409 (one nested attribute holds them)
  std::size_t messages_per_send = 16;
  int socket_buffer = 8 << 20;  // bytes (SO_*BUFFORCE)
  std::chrono::milliseconds timeout{2000};
  AddPath path = AddPath::kNetlink;
  std::uint32_t first_seq = 1;  // netlink sequence numbers start here (tests: near the wrap)
};

// Owned and called by one thread (the target's writer thread); not thread-safe.
class SetWriter {
 public:
  [[nodiscard]] static Expected<SetWriter> open(const Options& options = {});
  SetWriter(SetWriter&&) noexcept;
  SetWriter& operator=(SetWriter&&) noexcept;
  ~SetWriter();

  // Checks the set (creates it when managed and missing, flushes it when flush_on_create) and
  // returns its handle. Errors name the set, what is wrong and the fix: a missing set, another
  // type or family, no timeout or skbinfo support. A spec attached before is checked again and
  // keeps its handle (and is not flushed again).
  [[nodiscard]] Expected<SetHandle> attach(const SetSpec& spec);

  // One result per request. Adds and refreshes use -exist semantics (an existing member is not
  // an error; its timeout restarts). A failing element does not lose the others: the kernel
  // stops a message at the failing element and names it; the elements after it are sent again.
  void apply(std::span<const Request> requests, std::span<MemberResult> results);

  [[nodiscard]] Status flush(SetHandle set);
  // Clean shutdown: flushes the sets attached with flush_on_destroy (each name once).
  [[nodiscard]] Status shutdown();

  [[nodiscard]] const Counters& counters() const noexcept;

 private:
  struct State;
  explicit SetWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Pure helpers, inline so the actions stage reads target keys without linking netlink code.
inline std::optional<Type> type_from_name(std::string_view name) {
  if (name.starts_with("hash:")) name.remove_prefix(5);
  if (name == "ip") return Type::kHashIp;
  if (name == "ip,port") return Type::kHashIpPort;
  if (name == "ip,port,ip") return Type::kHashIpPortIp;
  if (name == "mac") return Type::kHashMac;
  return std::nullopt;
}

inline std::string_view type_name(Type type) {
  switch (type) {
    case Type::kHashIp: return "hash:ip";
    case Type::kHashIpPort: return "hash:ip,port";
    case Type::kHashIpPortIp: return "hash:ip,port,ip";
    case Type::kHashMac: return "hash:mac";
  }
  return "?";
}

inline std::string set_name_for(std::string_view base, Family family) {
  std::string name(base);
  name += family == Family::kIpv4 ? ".v4" : ".v6";
  return name;
}

inline std::optional<std::uint32_t> parse_skb_prio(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= text.size()) {
    return std::nullopt;
  }
  auto hex = [](std::string_view part) -> std::optional<std::uint32_t> {
    if (part.size() > 4) return std::nullopt;
    std::uint32_t value = 0;
    for (const char c : part) {
      int digit = -1;
      if (c >= '0' && c <= '9') digit = c - '0';
      if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
      if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
      if (digit < 0) return std::nullopt;
      value = value * 16 + static_cast<std::uint32_t>(digit);
    }
    return value;
  };
  const auto major = hex(text.substr(0, colon));
  const auto minor = hex(text.substr(colon + 1));
  if (!major || !minor) return std::nullopt;
  return *major << 16 | *minor;
}

}  // namespace ctlabeld::ipset
