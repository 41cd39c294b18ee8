// SPDX-License-Identifier: GPL-3.0-or-later
// The one way ctlabeld opens files: every file it reads (actions file, connlabel.conf, protos
// file, capture files) and every file it writes (stats file) goes through here, so one policy
// holds for all of them, judged on open descriptors rather than on paths.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ctlabeld/common/expected.hpp"

namespace ctlabeld::files {

// A file descriptor closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

struct ReadPolicy {
  const char* what = "file";    // for messages: "actions file", "connlabel.conf", ...
  std::uint64_t max_bytes = 0;  // 0: no cap (capture files)
  // The file decides what a privileged daemon does: the file, every directory on the way to it
  // and every symbolic link followed must be owned by root or the daemon's user and not be
  // writable by group or others (a directory may be if it is sticky, like /tmp).
  bool privileged = false;
  // Why only a regular file will do, for the message refusing anything else.
  const char* why_regular = "so no writer can stall it and no device can feed it endless bytes";
};

// The policy of every file that decides what the daemon does (the actions file, its side files,
// rules, label maps): privileged checks and a size cap of `max_bytes`.
[[nodiscard]] inline ReadPolicy privileged_policy(const char* what, std::uint64_t max_bytes) {
  ReadPolicy policy;
  policy.what = what;
  policy.max_bytes = max_bytes;
  policy.privileged = true;
  return policy;
}

struct OpenedFile {
  Fd fd;
  std::uint64_t size = 0;
  std::string resolved;  // the path after following symbolic links, for messages
};

// Opens `path` for reading. The path is resolved one component at a time from '/' on
// descriptors (O_PATH | O_NOFOLLOW), following symbolic links here (at most 40) so that each
// directory, link and the file itself is checked as it is opened and nothing can be swapped
// between a check and the open. Only a regular file is accepted (never a FIFO, a device or a
// directory: nothing can block or feed endless bytes); it is opened O_NONBLOCK and checked
// again with fstat. A file larger than `max_bytes` is refused before anything is read.
// `*not_found` (optional) is set when the failure is that the path does not exist.
[[nodiscard]] Expected<OpenedFile> open_read(const std::string& path, const ReadPolicy& policy,
                                             bool* not_found = nullptr);

// open_read, then the whole content (refused if it grows beyond the cap while being read).
[[nodiscard]] Expected<std::string> read_all(const std::string& path, const ReadPolicy& policy,
                                             bool* not_found = nullptr);

// Replaces `path` atomically with `data`: a new temporary file in the same directory, created
// O_EXCL | O_NOFOLLOW under a random name (a planted file or link there is never followed or
// overwritten), written in full, fsync'ed, then renamed over `path`. Every write is checked;
// on any failure the temporary file is removed and `path` is left as it was.
[[nodiscard]] Status write_atomic(const std::string& path, std::string_view data, const char* what);

// Opens `path` for streaming output (--flows), created 0644 or truncated. The directory is
// resolved by the same walk; a symbolic link as the last component is followed only when it is
// owned by root or the daemon's user, or lies in a directory others cannot write (the kernel's
// protected_symlinks rule, applied whatever the sysctl says), so a link planted in /tmp cannot
// make a root daemon overwrite another file. A regular file, a character device (/dev/null,
// /dev/full) or a FIFO with a reader is accepted; a FIFO is never waited for.
[[nodiscard]] Expected<Fd> open_write(const std::string& path, const char* what);

// What a mode/owner check found wrong with one entry, appended to `errors` (empty when fine).
// `directory`: a sticky directory may be writable by others. `euid`: the daemon's user.
void check_owner_mode(const std::string& name, unsigned mode, unsigned uid, bool directory,
                      unsigned euid, Errors& errors);

}  // namespace ctlabeld::files
