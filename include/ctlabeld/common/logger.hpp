// SPDX-License-Identifier: GPL-3.0-or-later
// One logger per stage, all sharing the default logger's sinks and pattern: the one helper.
#pragma once

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstddef>
#include <memory>

namespace ctlabeld {

// The logger named `stage` ("capture", "conntrack", ...), created on first use. Call it once and
// keep the pointer (cached_stage_logger below does so for each stage).
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

// A stage's name as a template argument ("capture", "nftset", ...).
template <std::size_t N>
struct StageName {
  constexpr StageName(const char (&name)[N]) { std::copy_n(name, N, text); }  // NOLINT: implicit
  char text[N];
};

// The stage's logger, looked up once per stage and kept: each stage's `logger()` returns this.
template <StageName Stage>
const std::shared_ptr<spdlog::logger>& cached_stage_logger() {
  static const std::shared_ptr<spdlog::logger> instance = stage_logger(Stage.text);
  return instance;
}

}  // namespace ctlabeld
