// SPDX-License-Identifier: GPL-3.0-or-later
// Bounded reads of regular files for the actions stage.
#include "ctlabeld/actions/small_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ctlabeld::actions {

bool read_small_file(const std::string& path, std::string& out, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    error = std::string("cannot open: ") + std::strerror(errno);
    return false;
  }
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0;
  if (!ok) {
    error = std::string("cannot stat: ") + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    error = "not a regular file";
    ok = false;
  } else if (static_cast<std::size_t>(st.st_size) > kMaxSideFileBytes) {
    error = "larger than 4 MiB";
    ok = false;
  }
  if (ok) {
    out.assign(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    out.resize(done);  // a file that shrank meanwhile: what was there
  }
  ::close(fd);
  return ok;
}

}  // namespace ctlabeld::actions
