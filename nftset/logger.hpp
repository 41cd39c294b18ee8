// SPDX-License-Identifier: GPL-3.0-or-later
// The nftset stage's logger (common/logger.hpp's one helper).
#pragma once

#include "ctlabeld/common/logger.hpp"

namespace ctlabeld::nftset {

inline std::shared_ptr<spdlog::logger> logger() { return cached_stage_logger<"nftset">(); }

}  // namespace ctlabeld::nftset
