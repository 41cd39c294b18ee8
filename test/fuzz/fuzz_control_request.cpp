// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: the control socket's request parser on arbitrary bytes (what any local client
// may send), with round-trip properties, and the client's renderer on the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ctlabeld/control/request.hpp"
#include "ctlabeld/control/table.hpp"

namespace {

using namespace ctlabeld;
using namespace ctlabeld::control;

bool same(const Endpoint& a, const Endpoint& b) {
  return a.address == b.address && a.ip_version == b.ip_version && a.port == b.port;
}

bool same(const Request& a, const Request& b) {
  if (a.command != b.command || a.criteria != b.criteria || a.limit != b.limit) return false;
  const ExplainTarget& x = a.target;
  const ExplainTarget& y = b.target;
  if (x.protocol != y.protocol || !same(x.first, y.first) ||
      x.second.has_value() != y.second.has_value()) {
    return false;
  }
  return !x.second || same(*x.second, *y.second);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto words = split_words(line);
  auto request = parse_request(line);
  if (!request.ok() && request.errors().empty()) __builtin_trap();  // errors say what is wrong
  if (words.ok()) {
    // Quoting is exact: what quote_word writes, split_words reads back.
    std::string joined;
    for (const auto& w : words.value()) {
      if (!joined.empty()) joined += ' ';
      joined += quote_word(w);
    }
    auto again = split_words(joined);
    if (!again.ok() || again.value() != words.value()) __builtin_trap();
    if (request.ok() && joined.size() <= 4096) {  // quoting may lengthen a line past the cap
      auto reparsed = parse_request(joined);
      if (!reparsed.ok() || !same(reparsed.value(), request.value())) __builtin_trap();
    }
  }
  (void)render_reply(line);
  (void)render_event(line);
  return 0;
}
