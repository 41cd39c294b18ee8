// SPDX-License-Identifier: GPL-3.0-or-later
// ctlabeld's entry point: parse the command line and hand over to the daemon.
#include <cstdio>
#include <cstring>

#include "ctlabeld/control/client.hpp"
#include "daemon.hpp"
#include "options.hpp"

#ifndef CTLABELD_VERSION
#define CTLABELD_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  // `ctlabeld ctl ...` is the control-socket client, with its own arguments.
  if (argc > 1 && std::strcmp(argv[1], "ctl") == 0)
    return ctlabeld::control::run_client(argc - 1, argv + 1);
  auto options = ctlabeld::app::parse_options(argc, argv);
  if (!options) {
    for (const auto& e : options.errors()) std::fprintf(stderr, "ctlabeld: %s\n", e.c_str());
    return 2;
  }
  if (options->show_help) {
    std::fputs(ctlabeld::app::usage_text(), stdout);
    return 0;
  }
  if (options->show_version) {
    std::printf("ctlabeld %s\n", CTLABELD_VERSION);
    return 0;
  }
  return ctlabeld::app::run(options.value());
}
