// SPDX-License-Identifier: GPL-3.0-or-later
// The daemon's life: load and check the config, start the writer and the pipeline, then own
// the signals (stop, reload, statistics) until the input ends or a stop is asked for.
#pragma once

#include "options.hpp"

namespace ctlabeld::app {

// Returns the process exit status.
int run(const Options& options);

}  // namespace ctlabeld::app
