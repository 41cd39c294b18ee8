// SPDX-License-Identifier: GPL-3.0-or-later
// The file policy: descriptor-based path resolution with per-component checks, capped reads of
// regular files only, and atomic replacement through an O_EXCL temporary file.
#include "ctlabeld/common/file_policy.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstdint>
#include <deque>
#include <system_error>

namespace ctlabeld::files {

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

constexpr int kMaxSymlinks = 40;  // the kernel's own limit (MAXSYMLINKS)

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

std::string octal_mode(unsigned mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", mode & 07777u);
  return text;
}

// "is a named pipe (FIFO)": what a non-regular, non-directory file is, for messages.
const char* kind_of(mode_t mode) {
  if (S_ISFIFO(mode)) return "a named pipe (FIFO)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

const char* article(const char* word) {
  return std::string_view("aeiou").find(word[0]) != std::string_view::npos ? "an " : "a ";
}

std::string not_regular(const std::string& path, const ReadPolicy& policy, mode_t mode) {
  if (S_ISDIR(mode)) {
    return path + ": is a directory, not a file; give the path of the " + policy.what + " itself";
  }
  return path + ": is " + kind_of(mode) + ", not a regular file; ctlabeld reads " +
         article(policy.what) + policy.what + " only from a regular file (" + policy.why_regular +
         "): save the content to a file and give that path";
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir == "/") return "/" + name;
  return dir + "/" + name;
}

std::string parent_of(const std::string& dir) {
  const auto slash = dir.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return dir.substr(0, slash);
}

void split_into(const std::string& text, std::deque<std::string>& out) {
  std::deque<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto slash = text.find('/', start);
    const auto end = slash == std::string::npos ? text.size() : slash;
    std::string part = text.substr(start, end - start);
    if (!part.empty() && part != ".") parts.push_back(std::move(part));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  out.insert(out.begin(), parts.begin(), parts.end());
}

struct Walk {
  Walk(const std::string& p, const ReadPolicy& pol) : path(p), policy(pol) {}
  const std::string& path;
  const ReadPolicy& policy;
  uid_t euid = ::geteuid();
  Errors errors;  // owner/mode findings, all reported at once
  bool not_found = false;

  void check(const std::string& name, const struct stat& st, bool directory) {
    if (policy.privileged) {
      check_owner_mode(name, st.st_mode, st.st_uid, directory, static_cast<unsigned>(euid), errors);
    }
  }

  // The whole resolution; returns the directory holding the last component and its name, or
  // the opened directory itself when `want_dir`.
  Expected<OpenedFile> run(bool want_dir) {
    using Result = Expected<OpenedFile>;
    if (path.empty()) return Result::failure(std::string("empty path for the ") + policy.what);
    std::string absolute = path;
    if (path.front() != '/') {
      char cwd[4096];
      if (::getcwd(cwd, sizeof cwd) == nullptr) {
        return Result::failure(path +
                               ": cannot resolve the working directory: " + errno_text(errno));
      }
      absolute = std::string(cwd) + "/" + path;
    }
    std::deque<std::string> todo;
    split_into(absolute, todo);
    Fd dir(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) return Result::failure("/: cannot open: " + errno_text(errno));
    std::string shown = "/";
    struct stat st {};
    if (::fstat(dir.get(), &st) != 0) return Result::failure("/: fstat: " + errno_text(errno));
    check("/", st, true);
    int links = 0;
    while (!todo.empty()) {
      const std::string name = todo.front();
      todo.pop_front();
      const bool last = todo.empty();
      if (name == "..") {
        Fd up(::openat(dir.get(), "..", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!up.valid()) return Result::failure(shown + "/..: " + errno_text(errno));
        dir = std::move(up);
        shown = parent_of(shown);
        if (last && want_dir) return OpenedFile{std::move(dir), 0, shown};
        continue;
      }
      const std::string entry = join_path(shown, name);
      Fd fd(::openat(dir.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.valid()) {
        const int err = errno;
        not_found = err == ENOENT;
        std::string msg = path + ": cannot open the " + policy.what + ": " + errno_text(err);
        if (entry != path && entry != absolute) msg += " (at " + entry + ")";
        return Result::failure(std::move(msg));
      }
      if (::fstat(fd.get(), &st) != 0) return Result::failure(entry + ": " + errno_text(errno));
      if (S_ISLNK(st.st_mode)) {
        if (++links > kMaxSymlinks) {
          return Result::failure(path + ": more than " + std::to_string(kMaxSymlinks) +
                                 " symbolic links to follow; check for a loop");
        }
        // Where does it lead? Links such as /dev/stdin end in "pipe:[N]", which is no path:
        // judge the end point's type first so the message names what it really is.
        struct stat end {};
        Fd followed(::openat(dir.get(), name.c_str(), O_PATH | O_CLOEXEC));
        if (followed.valid() && ::fstat(followed.get(), &end) == 0 && !S_ISREG(end.st_mode) &&
            !S_ISDIR(end.st_mode)) {
          return Result::failure(not_regular(path, policy, end.st_mode));
        }
        // A link is as trustworthy as its owner (its mode is always 0777; its directory was
        // checked when it was opened).
        if (policy.privileged && st.st_uid != 0 && st.st_uid != euid) {
          errors.push_back(
              "symbolic link " + entry + ": owned by uid " + std::to_string(st.st_uid) +
              ", neither root nor the user ctlabeld runs as (uid " + std::to_string(euid) +
              "); refusing the config. Fix: chown -h root " + entry);
        }
        char target[4096];
        const ssize_t n = ::readlinkat(fd.get(), "", target, sizeof target - 1);
        if (n < 0) return Result::failure(entry + ": readlink: " + errno_text(errno));
        const std::string text(target, static_cast<std::size_t>(n));
        split_into(text, todo);
        if (!text.empty() && text.front() == '/') {
          dir = Fd(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
          if (!dir.valid()) return Result::failure("/: cannot open: " + errno_text(errno));
          shown = "/";
        }
        if (todo.empty()) todo.push_back(".");  // a link to "/" or "." : the directory itself
        continue;
      }
      if (S_ISDIR(st.st_mode)) {
        check(entry, st, true);
        dir = std::move(fd);
        shown = entry;
        if (last && want_dir) return OpenedFile{std::move(dir), 0, shown};
        if (last) return Result::failure(not_regular(path, policy, st.st_mode));
        continue;
      }
      if (!last) {
        return Result::failure(path + ": cannot open the " + policy.what + ": " + entry +
                               " is not a directory");
      }
      if (want_dir) return Result::failure(entry + ": not a directory");
      if (!S_ISREG(st.st_mode)) return Result::failure(not_regular(path, policy, st.st_mode));
      // The real open, of the same name in the same (checked) directory; O_NONBLOCK so that
      // even a FIFO swapped in at this instant could not block, and fstat on what was opened.
      Fd file(::openat(dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      if (!file.valid()) {
        return Result::failure(path + ": cannot open the " + policy.what + ": " +
                               errno_text(errno));
      }
      struct stat opened {};
      if (::fstat(file.get(), &opened) != 0) {
        return Result::failure(path + ": fstat: " + errno_text(errno));
      }
      if (opened.st_dev != st.st_dev || opened.st_ino != st.st_ino) {
        return Result::failure(path + ": the " + std::string(policy.what) +
                               " was replaced while it was being opened; refusing it (try again)");
      }
      if (!S_ISREG(opened.st_mode)) {
        return Result::failure(not_regular(path, policy, opened.st_mode));
      }
      check(entry == path || links == 0 ? path : entry, opened, false);
      if (!errors.empty()) return Result::failure(std::move(errors));
      const auto size = static_cast<std::uint64_t>(opened.st_size);
      if (policy.max_bytes != 0 && size > policy.max_bytes) {
        return Result::failure(path + ": " + std::to_string(size) + " bytes, above the " +
                               std::to_string(policy.max_bytes) + "-byte limit for " +
                               article(policy.what) + policy.what + "; is this the right file?");
      }
      return OpenedFile{std::move(file), size, entry};
    }
    if (want_dir) return OpenedFile{std::move(dir), 0, shown};
    return Result::failure(not_regular(path, policy, S_IFDIR));
  }
};

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::failure(errno_text(errno));
    }
    if (n == 0) return Status::failure("write returned 0");
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return ok_status();
}

}  // namespace

void check_owner_mode(const std::string& name, unsigned mode, unsigned uid, bool directory,
                      unsigned euid, Errors& errors) {
  const std::string what = directory ? "directory " + name : name;
  const bool group_writable = (mode & S_IWGRP) != 0;
  const bool others_writable = (mode & S_IWOTH) != 0;
  // In a sticky directory only an entry's owner may rename or delete it, so others cannot swap
  // ours.
  const bool sticky_dir = directory && (mode & S_ISVTX) != 0;
  if ((group_writable || others_writable) && !sticky_dir) {
    const char* who = group_writable && others_writable ? "group and others"
                      : group_writable                  ? "its group"
                                                        : "others";
    errors.push_back(
        what + ": mode " + octal_mode(mode) + " lets " + who +
        " write it, so they could change what ctlabeld (privileged) does; refusing the config. "
        "Fix: chmod go-w " +
        name);
  }
  if (uid != 0 && uid != euid) {
    errors.push_back(what + ": owned by uid " + std::to_string(uid) +
                     ", neither root nor the user ctlabeld runs as (uid " + std::to_string(euid) +
                     "); refusing the config. Fix: chown root " + name);
  }
}

Expected<OpenedFile> open_read(const std::string& path, const ReadPolicy& policy, bool* not_found) {
  Walk walk(path, policy);
  auto opened = walk.run(false);
  if (not_found != nullptr) *not_found = walk.not_found;
  if (opened && !walk.errors.empty()) return Expected<OpenedFile>::failure(std::move(walk.errors));
  if (!opened && !walk.errors.empty()) {
    Errors all = std::move(walk.errors);
    for (const auto& e : opened.errors()) all.push_back(e);
    return Expected<OpenedFile>::failure(std::move(all));
  }
  return opened;
}

Expected<std::string> read_all(const std::string& path, const ReadPolicy& policy, bool* not_found) {
  using Result = Expected<std::string>;
  auto opened = open_read(path, policy, not_found);
  if (!opened) return Result::failure(opened.errors());
  const int fd = opened->fd.get();
  const std::uint64_t cap = policy.max_bytes != 0 ? policy.max_bytes : UINT64_MAX;
  std::string out;
  out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(opened->size, cap)));
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Result::failure(path + ": cannot read the " + policy.what + ": " + errno_text(errno));
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > cap) {
      return Result::failure(path + ": grew beyond the " + std::to_string(cap) +
                             "-byte limit for " + article(policy.what) + policy.what +
                             " while being read");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

namespace {

// The directory a file is to be written in, resolved and checked like any path the daemon reads,
// and the file's own name in it. Errors are the part after "<what> <path>: ".
struct Parent {
  OpenedFile dir;
  std::string base;
};

Expected<Parent> open_parent(const std::string& path) {
  using Result = Expected<Parent>;
  const auto slash = path.find_last_of('/');
  const std::string dir_path = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") return Result::failure("not a file name");
  ReadPolicy dir_policy;
  dir_policy.what = "directory";
  Walk walk(dir_path, dir_policy);
  auto dir = walk.run(true);
  if (!dir) return Result::failure("its directory: " + dir.errors().front());
  return Parent{std::move(dir).value(), std::move(base)};
}

}  // namespace

Expected<Fd> open_write(const std::string& path, const char* what) {
  using Result = Expected<Fd>;
  auto fail = [&](const std::string& why) {
    return Result::failure(std::string(what) + " " + path + ": " + why);
  };
  auto target = open_parent(path);
  if (!target) return fail(target.errors().front());
  // Named references, not a structured binding: lambdas below capture them (clang 14).
  const OpenedFile& dir = target->dir;
  const std::string& base = target->base;
  constexpr int kFlags = O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC;
  // A link as the last component: judged by its owner and its directory before anything opens.
  struct stat link {};
  const bool is_link = ::fstatat(dir.fd.get(), base.c_str(), &link, AT_SYMLINK_NOFOLLOW) == 0 &&
                       S_ISLNK(link.st_mode);
  if (is_link) {
    struct stat parent {};
    if (::fstat(dir.fd.get(), &parent) != 0) return fail("fstat: " + errno_text(errno));
    const uid_t euid = ::geteuid();
    const bool trusted_owner = link.st_uid == 0 || link.st_uid == euid;
    const bool open_dir = (parent.st_mode & (S_IWGRP | S_IWOTH)) != 0;
    if (!trusted_owner && open_dir) {
      return fail("is a symbolic link owned by uid " + std::to_string(link.st_uid) + " in " +
                  dir.resolved +
                  ", a directory others can write: refusing to follow it (it could point at any "
                  "file). Remove it, or write somewhere only root can");
    }
  }
  Fd fd(::openat(dir.fd.get(), base.c_str(), is_link ? kFlags : kFlags | O_NOFOLLOW, 0644));
  if (!fd.valid()) {
    if (errno == ENXIO) return fail("a named pipe (FIFO) with no reader; start the reader first");
    return fail("cannot open for writing: " + errno_text(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail("fstat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode)) {
    return fail(std::string("is ") + kind_of(st.st_mode) +
                "; give a file, a character device or a FIFO");
  }
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return fail("fcntl: " + errno_text(errno));
  }
  return fd;
}

Status write_atomic(const std::string& path, std::string_view data, const char* what) {
  auto fail = [&](const std::string& why) {
    return Status::failure(std::string(what) + " " + path + ": " + why);
  };
  auto target = open_parent(path);
  if (!target) return fail(target.errors().front());
  // Named references, not a structured binding: lambdas below capture them (clang 14).
  const OpenedFile& dir = target->dir;
  const std::string& base = target->base;

  // A random name no one can predict, created exclusively and never through a link.
  std::string tmp;
  Fd file;
  for (int attempt = 0; attempt < 16 && !file.valid(); ++attempt) {
    std::uint64_t r = 0;
    if (::getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) {
      r = static_cast<std::uint64_t>(::getpid()) * 1000003u + static_cast<unsigned>(attempt);
    }
    char suffix[24];
    std::snprintf(suffix, sizeof suffix, ".%016llx", static_cast<unsigned long long>(r));
    tmp = "." + base + suffix;
    file = Fd(::openat(dir.fd.get(), tmp.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!file.valid() && errno != EEXIST) {
      return fail("cannot create a temporary file in " + dir.resolved + ": " + errno_text(errno));
    }
  }
  if (!file.valid()) return fail("cannot create a temporary file: every name was taken");
  auto discard = [&](const std::string& why) {
    ::unlinkat(dir.fd.get(), tmp.c_str(), 0);
    return fail(why);
  };
  // Readable by others whatever the umask (0077 under systemd): stats and metrics files are for
  // collectors that do not run as root.
  if (::fchmod(file.get(), 0644) != 0) return discard("fchmod: " + errno_text(errno));
  if (auto st = write_all(file.get(), data); !st) return discard("write: " + st.errors().front());
  if (::fsync(file.get()) != 0) return discard("fsync: " + errno_text(errno));
  if (::close(file.release()) != 0) return discard("close: " + errno_text(errno));
  if (::renameat(dir.fd.get(), tmp.c_str(), dir.fd.get(), base.c_str()) != 0) {
    return discard("rename: " + errno_text(errno));
  }
  return ok_status();
}

}  // namespace ctlabeld::files
