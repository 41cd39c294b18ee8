// SPDX-License-Identifier: GPL-3.0-or-later
// Least privilege: shed every capability but the two the daemon uses, and refuse a config file
// that someone other than its owner could rewrite (issue 7).
#pragma once

#include <string>

#include "ctlabeld/common/expected.hpp"

namespace ctlabeld::app {

// Keeps only CAP_NET_ADMIN (conntrack writes, nflog, forced socket buffers) and CAP_NET_RAW
// (packet capture, re-opening an interface that comes back) in the permitted and effective sets,
// empties the inheritable and ambient sets, removes every other capability from the bounding set
// (when CAP_SETPCAP allows it) and sets PR_SET_NO_NEW_PRIVS.
// A process that holds no capability beyond those two (a user running -r -n, or systemd having
// already bounded it) is left as it is apart from no_new_privs, and gets ok.
// Capabilities belong to each thread and a new thread copies its creator's: call this while the
// process has a single thread, before anything starts one; otherwise it fails and changes nothing.
[[nodiscard]] Status drop_capabilities();

// Refuses `path` when it, or any directory above it, is writable by group or others (a sticky
// directory such as /tmp is accepted: others cannot replace a file they do not own there) or is
// owned by a user other than root or the effective user, and likewise every symbolic link on the
// way (by its owner) and every directory of its target: the walk of files::open_read, on
// descriptors. Each message names the file, its mode or owner, and the command that fixes it.
[[nodiscard]] Status check_config_permissions(const std::string& path);

}  // namespace ctlabeld::app
