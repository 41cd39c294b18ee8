// The ipset stage's spdlog logger: shares the default logger's sinks, created on first use.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>

namespace ctlabeld::ipset {

inline std::shared_ptr<spdlog::logger> logger() {
  static const std::shared_ptr<spdlog::logger> instance = [] {
    if (auto existing = spdlog::get("ipset")) return existing;
    auto created = spdlog::default_logger()->clone("ipset");
    spdlog::register_logger(created);
    return created;
  }();
  return instance;
}

}  // namespace ctlabeld::ipset
