// SPDX-License-Identifier: GPL-3.0-or-later
// "Did you mean ...?" hints for misspelt keys and field names.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ctlabeld::actions {

std::size_t edit_distance(std::string_view a, std::string_view b);

// "; did you mean 'xxx'?" for the closest candidate within a third of the word's length (at
// least 2 edits), or "" when nothing is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace ctlabeld::actions
