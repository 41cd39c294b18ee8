// SPDX-License-Identifier: GPL-3.0-or-later
// The set of connlabel bits: what targets set and what the conntrack writer sends.
#pragma once

#include <bitset>
#include <cstddef>

namespace ctlabeld {

// The kernel's connlabel extension holds 128 bits (XT_CONNLABEL_MAXBIT 127).
inline constexpr std::size_t kMaxLabelBits = 128;
using LabelBits = std::bitset<kMaxLabelBits>;

}  // namespace ctlabeld
