// SPDX-License-Identifier: GPL-3.0-or-later
// The daemon's answers on the control socket (control::Handler): status and figures from the
// published statistics, flows and explanations from the workers' own threads (a task each,
// waited for a bounded time), watch filters for the workers, reload through the main loop's
// reload function.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ctlabeld/control/handler.hpp"
#include "ctlabeld/control/server.hpp"
#include "stats.hpp"
#include "watch_feed.hpp"
#include "worker.hpp"

namespace ctlabeld::app {

// What a reload did: its errors (the old rules stay) or the new rules' warnings.
struct ReloadResult {
  bool ok = false;
  std::string file;
  std::size_t actions = 0;
  Errors errors;
  std::vector<std::string> warnings;
};

// The configuration in force, for `status`.
struct ConfigState {
  std::string file;
  std::chrono::system_clock::time_point loaded_at{};
  std::vector<std::string> warnings;
};

struct ControlContext {
  std::vector<Worker*> workers;
  WatchFeed* watch = nullptr;
  bool dry_run = false;
  std::chrono::system_clock::time_point started{};
  std::function<StatsReport()> report;
  std::function<ReloadResult()> reload;
  std::function<ConfigState()> config;
  // How long a worker may take to answer `flows` / `explain` (it answers between batches).
  std::chrono::milliseconds worker_timeout{1000};
};

class ControlHandler final : public control::Handler {
 public:
  explicit ControlHandler(ControlContext context) : ctx_(std::move(context)) {}
  void set_server(const control::Server* server) noexcept { server_ = server; }

  control::Reply status() override;
  control::Reply flows(const std::optional<std::string>& criteria, std::size_t limit) override;
  control::Reply explain(const control::ExplainTarget& target) override;
  control::Reply reload() override;
  control::Reply watch(unsigned slot, const std::optional<std::string>& criteria) override;
  void unwatch(unsigned slot) noexcept override;

 private:
  // Posts one task per worker (made by `make`) and waits for all, up to the timeout; returns
  // which answered (only their results may be read).
  std::vector<bool> ask_workers(
      const std::function<std::shared_ptr<WorkerTask>(std::size_t)>& make);

  ControlContext ctx_;
  const control::Server* server_ = nullptr;
};

}  // namespace ctlabeld::app
