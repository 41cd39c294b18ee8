// SPDX-License-Identifier: GPL-3.0-or-later
// The ipset stage's logger (common/logger.hpp's one helper).
#pragma once

#include <memory>

#include "ctlabeld/common/logger.hpp"

namespace ctlabeld::ipset {

inline std::shared_ptr<spdlog::logger> logger() {
  static const std::shared_ptr<spdlog::logger> instance = stage_logger("ipset");
  return instance;
}

}  // namespace ctlabeld::ipset
