// SPDX-License-Identifier: GPL-3.0-or-later
// `ctlabeld ctl ...`: the client of the control socket, in the daemon's own binary.
#pragma once

#include <string>
#include <vector>

#include "ctlabeld/common/expected.hpp"

namespace ctlabeld::control {

struct ClientOptions {
  std::string socket;  // --socket PATH
  bool json = false;   // --json: print the daemon's JSON lines unchanged
  bool help = false;
  std::string request;  // the request line, without "\n"
  bool watch = false;   // the reply is a stream
};

// Parses `ctl [--socket PATH] [--json] COMMAND [ARGS...]` (argv[0] is "ctl"); the request is
// checked with the daemon's own parser, so mistakes are reported without a daemon.
[[nodiscard]] Expected<ClientOptions> parse_client_options(const std::vector<std::string>& args);

[[nodiscard]] const char* client_usage_text();

// Runs the client: 0 on success, 1 when the daemon answered with errors, 2 for a bad command
// line, 3 when the daemon cannot be reached.
int run_client(int argc, char** argv);

}  // namespace ctlabeld::control
