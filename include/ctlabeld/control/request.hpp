// SPDX-License-Identifier: GPL-3.0-or-later
// The control socket's line protocol: one request per line, parsed by one pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/net.hpp"

namespace ctlabeld::control {

enum class Command : std::uint8_t { kStatus, kFlows, kExplain, kWatch, kReload };

[[nodiscard]] const char* command_name(Command c) noexcept;

// One end of a connection as `explain` names it: an address and, optionally, a port.
struct Endpoint {
  Address address;
  std::uint8_t ip_version = 0;  // 4 or 6
  std::optional<std::uint16_t> port;
};

// `explain ADDRESS [PORT]` (any flow with that end) or `explain PROTO SRC SPORT DST DPORT`
// (that connection, in either direction).
struct ExplainTarget {
  std::optional<std::uint8_t> protocol;  // IP protocol number, full tuple only
  Endpoint first;
  std::optional<Endpoint> second;
};

// Whether a flow (protocol and both ends, as captured) is one the target names.
[[nodiscard]] bool explain_matches(const ExplainTarget& target, std::uint8_t protocol,
                                   const Address& a, std::uint16_t a_port, const Address& b,
                                   std::uint16_t b_port) noexcept;

struct Request {
  Command command = Command::kStatus;
  std::optional<std::string> criteria;  // flows, watch: a criteria expression
  std::optional<std::size_t> limit;     // flows --limit N
  ExplainTarget target;                 // explain
};

// Parses one request line (without or with its trailing "\n" / "\r\n"). Words are separated by
// blanks; a word with blanks or quotes is written in double quotes with \" and \\ escapes:
//   status | reload | flows ["CRITERIA"] [--limit N] | watch ["CRITERIA"]
//   explain ADDRESS [PORT] | explain PROTO SRC SPORT DST DPORT
// Errors say what was wrong and what the command accepts.
[[nodiscard]] Expected<Request> parse_request(std::string_view line);

// Splits a line into words with the quoting rules above (exposed for tests and the client).
[[nodiscard]] Expected<std::vector<std::string>> split_words(std::string_view line);

// Writes `word` so that split_words() reads it back unchanged.
[[nodiscard]] std::string quote_word(std::string_view word);

}  // namespace ctlabeld::control
