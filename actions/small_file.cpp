// SPDX-License-Identifier: GPL-3.0-or-later
// Bounded reads of the side files an actions file names, through the one file policy.
#include "ctlabeld/actions/small_file.hpp"

#include "ctlabeld/common/file_policy.hpp"

namespace ctlabeld::actions {

bool read_small_file(const std::string& path, std::string& out, std::string& error) {
  // These files decide what matches, as the actions file does: the same owner and mode policy,
  // one open, checks on the descriptor (common/file_policy).
  auto text = files::read_all(path, files::privileged_policy("file", kMaxSideFileBytes));
  if (!text) {
    error = text.errors().front();
    // The caller names the file: drop the policy's own "<path>: " prefix.
    if (error.rfind(path + ": ", 0) == 0) error.erase(0, path.size() + 2);
    return false;
  }
  out = std::move(text.value());
  return true;
}

}  // namespace ctlabeld::actions
