// SPDX-License-Identifier: GPL-3.0-or-later
// sched_setattr(2) for the calling thread's slice; glibc 2.36 has no wrapper or struct for it.
#include "ctlabeld/common/thread_latency.hpp"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace ctlabeld {

namespace {

// The kernel's struct sched_attr (include/uapi/linux/sched/types.h, SCHED_ATTR_SIZE_VER1);
// <linux/sched/types.h> cannot be included beside glibc's <sched.h> (both define sched_param).
struct SchedAttr {
  std::uint32_t size;
  std::uint32_t sched_policy;
  std::uint64_t sched_flags;
  std::int32_t sched_nice;
  std::uint32_t sched_priority;
  std::uint64_t sched_runtime;
  std::uint64_t sched_deadline;
  std::uint64_t sched_period;
  std::uint32_t sched_util_min;
  std::uint32_t sched_util_max;
};

}  // namespace

bool request_short_slice(std::chrono::microseconds slice) noexcept {
  SchedAttr attr{};
  attr.size = sizeof attr;
  // Keep the thread's policy and nice value: read them first (tid 0 = the calling thread).
  if (::syscall(SYS_sched_getattr, 0, &attr, static_cast<unsigned>(sizeof attr), 0U) != 0) {
    return false;
  }
  if (attr.sched_policy != SCHED_OTHER && attr.sched_policy != SCHED_BATCH) return false;
  attr.size = sizeof attr;
  attr.sched_flags = 0;
  attr.sched_runtime = static_cast<std::uint64_t>(slice.count()) * 1000U;  // nanoseconds
  return ::syscall(SYS_sched_setattr, 0, &attr, 0U) == 0;
}

}  // namespace ctlabeld
