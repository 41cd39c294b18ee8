// SPDX-License-Identifier: GPL-3.0-or-later
// What the control server asks of the daemon: one method per command, called on the control
// thread. Implementations must answer from published snapshots and never wait on capture,
// workers or writers; a slow answer delays other control clients, never the packet path.
#pragma once

#include <optional>
#include <string>

#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/control/request.hpp"

namespace ctlabeld::control {

// One JSON value (usually an object) serialised on one line, or the errors to report.
using Reply = Expected<std::string>;

class Handler {
 public:
  virtual ~Handler() = default;
  virtual Reply status() = 0;
  virtual Reply flows(const std::optional<std::string>& criteria, std::size_t limit) = 0;
  virtual Reply explain(const ExplainTarget& target) = 0;
  virtual Reply reload() = 0;
  // Starts watch subscription `slot` (below WatchHub::kMaxWatchers): from now on the daemon
  // publishes events whose flow meets `criteria` (all, when absent) to the hub with bit `slot`
  // set in their audience. The reply is the first line the watcher sees.
  virtual Reply watch(unsigned slot, const std::optional<std::string>& criteria) = 0;
  // Ends subscription `slot` (its client went away).
  virtual void unwatch(unsigned slot) noexcept = 0;
};

}  // namespace ctlabeld::control
