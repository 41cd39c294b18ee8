// SPDX-License-Identifier: GPL-3.0-or-later
// The conntrack stage's logger (common/logger.hpp's one helper).
#pragma once

#include "ctlabeld/common/logger.hpp"

namespace ctlabeld::conntrack {

inline std::shared_ptr<spdlog::logger> logger() { return cached_stage_logger<"conntrack">(); }

}  // namespace ctlabeld::conntrack
