// SPDX-License-Identifier: GPL-3.0-or-later
// Wake-up latency of a mostly sleeping thread (a writer) on a busy machine.
#pragma once

#include <chrono>

namespace ctlabeld {

// Asks the scheduler to give the calling thread short time slices (Linux >= 6.12, EEVDF: the
// sched_runtime of SCHED_OTHER, unprivileged, clamped by the kernel to 0.1-100 ms). A thread
// with a short slice gets an early deadline, so its wake-up preempts a busy task at once instead
// of waiting for that task's slice (about 3 ms) to end; it costs no CPU while the thread sleeps.
// Nice and policy are unchanged. False when the kernel refused (older kernels ignore the field).
bool request_short_slice(std::chrono::microseconds slice) noexcept;

}  // namespace ctlabeld
