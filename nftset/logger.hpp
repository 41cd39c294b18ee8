// SPDX-License-Identifier: GPL-3.0-or-later
// The nftset stage's logger (common/logger.hpp's one helper).
#pragma once

#include <memory>

#include "ctlabeld/common/logger.hpp"

namespace ctlabeld::nftset {

inline std::shared_ptr<spdlog::logger> logger() {
  static const std::shared_ptr<spdlog::logger> instance = stage_logger("nftset");
  return instance;
}

}  // namespace ctlabeld::nftset
