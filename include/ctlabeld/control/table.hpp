// SPDX-License-Identifier: GPL-3.0-or-later
// Human text from the control socket's JSON replies, rendered generically (no per-command
// layout): scalars as aligned "name  value" lines, arrays of objects as tables, nested objects
// as indented sections. Pure functions, so the output is tested without a daemon.
#pragma once

#include <string>
#include <string_view>

#include "ctlabeld/common/expected.hpp"

namespace ctlabeld::control {

// A reply line ({"ok":true,"result":...} or {"ok":false,"errors":[...]}): the rendered result,
// or the reply's errors (or what is wrong with the line itself).
[[nodiscard]] Expected<std::string> render_reply(std::string_view json_line);

// One watch event (a JSON object) as one line: "key=value key=value ...".
[[nodiscard]] std::string render_event(std::string_view json_line);

}  // namespace ctlabeld::control
