// SPDX-License-Identifier: GPL-3.0-or-later
// Reads the small side files an actions file names (address groups, the name table): a regular
// file, checked on the open descriptor, at most a few MiB, so a path such as /dev/zero or a
// FIFO cannot hang or exhaust a load.
#pragma once

#include <cstddef>
#include <string>

namespace ctlabeld::actions {

inline constexpr std::size_t kMaxSideFileBytes = 4 * 1024 * 1024;

// On failure returns false and sets `error` ("cannot open ...: <errno text>", "... is not a
// regular file", "... is larger than 4 MiB") without the path.
[[nodiscard]] bool read_small_file(const std::string& path, std::string& out, std::string& error);

}  // namespace ctlabeld::actions
