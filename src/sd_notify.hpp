// SPDX-License-Identifier: GPL-3.0-or-later
// The systemd notification protocol: one datagram to $NOTIFY_SOCKET. Written here (a dozen
// lines) rather than linking libsystemd, so the daemon has no dependency for it.
#pragma once

#include <string>

namespace ctlabeld::app {

// Sends `state` (e.g. "READY=1") if started by systemd with Type=notify; otherwise does nothing.
// Returns true when a message was sent.
bool sd_notify(const std::string& state) noexcept;

}  // namespace ctlabeld::app
