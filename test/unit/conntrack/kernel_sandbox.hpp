// SPDX-License-Identifier: GPL-3.0-or-later
// Test support: a private network namespace plus a private view of /etc (an overlay), entered
// by the calling thread and left on destruction. Nothing leaks: the namespace dies with its last
// user, and files written under /etc land in a temporary directory, never in the host's /etc.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace ctlabeld::test {

struct CommandResult {
  int status = -1;     // exit code, or -1 when it did not exit normally
  std::string output;  // stdout and stderr
};

// Runs a shell command in the current namespaces. Output capped so a runaway tool cannot hang us.
inline CommandResult run(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> chunk{};
  std::size_t n = 0;
  while ((n = std::fread(chunk.data(), 1, chunk.size(), pipe)) > 0 &&
         result.output.size() < (16u << 20)) {
    result.output.append(chunk.data(), n);
  }
  const int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class KernelSandbox {
 public:
  // Enters a new network namespace and mount namespace with /etc overlaid; writes
  // `connlabel_conf` to both /etc/connlabel.conf (nft) and /etc/xtables/connlabel.conf
  // (conntrack tool, libnetfilter_conntrack). On failure returns null and sets *error.
  static std::unique_ptr<KernelSandbox> enter(const std::string& connlabel_conf,
                                              std::string* error) {
    std::unique_ptr<KernelSandbox> box(new KernelSandbox());
    auto fail = [&](const std::string& what) {
      *error = what + ": " + std::strerror(errno);
      return nullptr;
    };
    char cwd[4096] = {};
    if (::getcwd(cwd, sizeof cwd) == nullptr) return fail("getcwd");
    box->cwd_ = cwd;
    box->saved_net_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    box->saved_mnt_ = ::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (box->saved_net_ < 0 || box->saved_mnt_ < 0) return fail("open /proc/self/ns");
    char dir_template[] = "/tmp/ctlabeld-sandbox-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return fail("mkdtemp");
    box->dir_ = dir_template;
    ::mkdir((box->dir_ + "/upper").c_str(), 0755);
    ::mkdir((box->dir_ + "/work").c_str(), 0755);
    if (::unshare(CLONE_NEWNS | CLONE_NEWNET) != 0)
      return fail("unshare(CLONE_NEWNS|CLONE_NEWNET)");
    box->entered_ = true;
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      return fail("make / private");
    const std::string options =
        "lowerdir=/etc,upperdir=" + box->dir_ + "/upper,workdir=" + box->dir_ + "/work";
    if (::mount("overlay", "/etc", "overlay", 0, options.c_str()) != 0) return fail("overlay /etc");
    ::mkdir("/etc/xtables", 0755);
    for (const char* path : {"/etc/connlabel.conf", "/etc/xtables/connlabel.conf"}) {
      std::ofstream out(path, std::ios::trunc);
      out << connlabel_conf;
      if (!out) return fail(std::string("write ") + path);
    }
    if (::chdir(box->cwd_.c_str()) != 0) return fail("chdir");
    return box;
  }

  ~KernelSandbox() {
    if (entered_) {
      // Back to the namespaces we came from; the private ones die with their last reference.
      if (saved_mnt_ >= 0 && ::setns(saved_mnt_, CLONE_NEWNS) != 0) std::abort();
      if (saved_net_ >= 0 && ::setns(saved_net_, CLONE_NEWNET) != 0) std::abort();
      if (::chdir(cwd_.c_str()) != 0) std::abort();
    }
    if (saved_net_ >= 0) ::close(saved_net_);
    if (saved_mnt_ >= 0) ::close(saved_mnt_);
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  KernelSandbox(const KernelSandbox&) = delete;
  KernelSandbox& operator=(const KernelSandbox&) = delete;

 private:
  KernelSandbox() = default;
  int saved_net_ = -1;
  int saved_mnt_ = -1;
  bool entered_ = false;
  std::string dir_;
  std::string cwd_;
};

}  // namespace ctlabeld::test
