// SPDX-License-Identifier: GPL-3.0-or-later
// Capability dropping with libcap, and the ownership/mode check for configuration files.
#include "privileges.hpp"

#include "ctlabeld/common/file_policy.hpp"

#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>
#include <type_traits>

namespace ctlabeld::app {

namespace {

struct CapFree {
  void operator()(cap_t caps) const noexcept { cap_free(caps); }
};
using CapPtr = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

constexpr std::array<cap_value_t, 2> kKeptCaps{CAP_NET_ADMIN, CAP_NET_RAW};

bool is_kept(cap_value_t cap) {
  for (cap_value_t kept : kKeptCaps) {
    if (cap == kept) return true;
  }
  return false;
}

bool has_flag(cap_t caps, cap_value_t cap, cap_flag_t flag) {
  cap_flag_value_t value = CAP_CLEAR;
  return cap_get_flag(caps, cap, flag, &value) == 0 && value == CAP_SET;
}

std::string cap_name(cap_value_t cap) {
  char* text = cap_to_name(cap);
  if (text == nullptr) return "capability " + std::to_string(cap);
  std::string out(text);
  cap_free(text);
  return out;
}

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// Threads in this process, from /proc; 0 when /proc cannot tell (then the caller cannot check).
std::size_t thread_count() {
  std::error_code ec;
  std::size_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/task", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return ec ? 0 : n;
}

}  // namespace

Status drop_capabilities() {
  if (const std::size_t threads = thread_count(); threads > 1) {
    return Status::failure(
        "dropping capabilities: the process already runs " + std::to_string(threads) +
        " threads, which would keep theirs; drop_capabilities() must run before any thread starts");
  }
  // Nothing exec'd from here on may gain privileges (setuid files, file capabilities).
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Status::failure("prctl(PR_SET_NO_NEW_PRIVS): " + errno_text(errno));
  }
  const CapPtr current(cap_get_proc());
  if (!current) return Status::failure("cap_get_proc: " + errno_text(errno));

  const cap_value_t max_cap = static_cast<cap_value_t>(cap_max_bits());
  bool extra = false;
  for (cap_value_t cap = 0; cap < max_cap; ++cap) {
    if (!is_kept(cap) && (has_flag(current.get(), cap, CAP_PERMITTED) ||
                          has_flag(current.get(), cap, CAP_EFFECTIVE))) {
      extra = true;
    }
  }
  if (!extra)
    return ok_status();  // already least privilege: an unprivileged run, or systemd bounded us

  // The bounding set first: shrinking it needs CAP_SETPCAP, which the next step gives up.
  if (has_flag(current.get(), CAP_SETPCAP, CAP_PERMITTED)) {
    if (!has_flag(current.get(), CAP_SETPCAP, CAP_EFFECTIVE)) {
      const CapPtr raised(cap_dup(current.get()));
      const cap_value_t setpcap[] = {CAP_SETPCAP};
      if (!raised || cap_set_flag(raised.get(), CAP_EFFECTIVE, 1, setpcap, CAP_SET) != 0 ||
          cap_set_proc(raised.get()) != 0) {
        return Status::failure("raising CAP_SETPCAP to shrink the bounding set: " +
                               errno_text(errno));
      }
    }
    for (cap_value_t cap = 0; cap < max_cap; ++cap) {
      if (is_kept(cap) || cap_get_bound(cap) != 1) continue;
      if (cap_drop_bound(cap) != 0) {
        return Status::failure("cap_drop_bound(" + cap_name(cap) + "): " + errno_text(errno));
      }
    }
  }

  // Permitted and effective: the kept capabilities the process had; inheritable empty, so
  // nothing passes to a child program (and the ambient set, which needs inheritable, empties).
  const CapPtr wanted(cap_init());
  if (!wanted) return Status::failure("cap_init: " + errno_text(errno));
  for (cap_value_t cap : kKeptCaps) {
    if (!has_flag(current.get(), cap, CAP_PERMITTED)) continue;
    const cap_value_t one[] = {cap};
    if (cap_set_flag(wanted.get(), CAP_PERMITTED, 1, one, CAP_SET) != 0 ||
        cap_set_flag(wanted.get(), CAP_EFFECTIVE, 1, one, CAP_SET) != 0) {
      return Status::failure("cap_set_flag(" + cap_name(cap) + "): " + errno_text(errno));
    }
  }
  if (cap_set_proc(wanted.get()) != 0) return Status::failure("cap_set_proc: " + errno_text(errno));
  // Kernels before 4.3 have no ambient set (EINVAL): nothing to clear there.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return Status::failure("prctl(PR_CAP_AMBIENT_CLEAR_ALL): " + errno_text(errno));
  }

  // Prove it: the kernel's view must now be exactly what was asked for.
  const CapPtr after(cap_get_proc());
  if (!after) return Status::failure("cap_get_proc: " + errno_text(errno));
  if (cap_compare(after.get(), wanted.get()) != 0) {
    return Status::failure(
        "dropping capabilities: the kernel kept more than CAP_NET_ADMIN and CAP_NET_RAW");
  }
  return ok_status();
}

Status check_config_permissions(const std::string& path) {
  // The same walk every config read does (common/file_policy): on descriptors, links included.
  files::ReadPolicy policy;
  policy.what = "config";
  policy.privileged = true;
  auto opened = files::open_read(path, policy);
  if (!opened) return Status::failure(opened.errors());
  return ok_status();
}

}  // namespace ctlabeld::app
