// SPDX-License-Identifier: GPL-3.0-or-later
// One logger per stage, all sharing the default logger's sinks and pattern: the one helper.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>

namespace ctlabeld {

// The logger named `stage` ("capture", "conntrack", ...), created on first use. Call it once and
// keep the pointer (each stage does so in a function-local static).
inline std::shared_ptr<spdlog::logger> stage_logger(const char* stage) {
  if (auto existing = spdlog::get(stage)) return existing;
  auto created = spdlog::default_logger()->clone(stage);
  try {
    spdlog::register_logger(created);
  } catch (const spdlog::spdlog_ex&) {
    // Registered concurrently by another thread: use that one.
    if (auto existing = spdlog::get(stage)) return existing;
  }
  return created;
}

}  // namespace ctlabeld
