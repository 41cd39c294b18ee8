// SPDX-License-Identifier: GPL-3.0-or-later
// check_config_permissions on real files and directories; drop_capabilities in forked children,
// judged by the kernel's own view (/proc/self/status), so the test process keeps its capabilities.
#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "privileges.hpp"

namespace {

using ctlabeld::app::check_config_permissions;
using ctlabeld::app::drop_capabilities;

constexpr std::uint64_t kNetAdmin = std::uint64_t{1} << CAP_NET_ADMIN;
constexpr std::uint64_t kNetRaw = std::uint64_t{1} << CAP_NET_RAW;
constexpr std::uint64_t kKept = kNetAdmin | kNetRaw;  // 0x3000

// A private directory (mkdtemp makes it 0700), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "ctlabeld-priv-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::string file(const std::string& name, mode_t mode) const {
    const std::string p = (path_ / name).string();
    std::ofstream(p) << "{}\n";
    REQUIRE(::chmod(p.c_str(), mode) == 0);  // explicit: the umask must not decide the test
    return p;
  }

 private:
  std::filesystem::path path_;
};

// "CapEff" -> value, "NoNewPrivs" -> value, from a /proc/self/status text.
std::map<std::string, std::uint64_t> status_fields(const std::string& text) {
  std::map<std::string, std::uint64_t> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, colon);
    const int base = key.rfind("Cap", 0) == 0 ? 16 : 10;
    if (key.rfind("Cap", 0) == 0 || key == "NoNewPrivs") {
      out[key] = std::strtoull(line.c_str() + colon + 1, nullptr, base);
    }
  }
  return out;
}

std::string read_self_status() {
  std::ifstream in("/proc/self/status");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct ChildResult {
  bool ok = false;                              // drop_capabilities() returned ok
  std::string error;                            // its first error otherwise
  std::map<std::string, std::uint64_t> status;  // /proc/self/status afterwards
};

// Runs `prepare` then drop_capabilities() in a forked child and reports what the kernel says.
ChildResult run_in_child(const std::function<bool()>& prepare) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string report;
    if (!prepare()) {
      report = "PREPARE_FAILED\n";
    } else {
      const auto st = drop_capabilities();
      report = st ? "OK\n" : "ERR " + st.errors().front() + "\n";
      report += read_self_status();
    }
    const char* p = report.data();
    std::size_t left = report.size();
    while (left > 0) {
      const ssize_t n = ::write(fds[1], p, left);
      if (n <= 0) break;
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int wstatus = 0;
  REQUIRE(::waitpid(pid, &wstatus, 0) == pid);
  REQUIRE(WIFEXITED(wstatus));
  const auto eol = text.find('\n');
  REQUIRE(eol != std::string::npos);
  const std::string first = text.substr(0, eol);
  REQUIRE(first != "PREPARE_FAILED");
  ChildResult r;
  r.ok = first == "OK";
  if (!r.ok) r.error = first.substr(4);
  r.status = status_fields(text.substr(eol + 1));
  return r;
}

bool full_root() {
  const auto st = status_fields(read_self_status());
  return ::geteuid() == 0 && (st.at("CapEff") & ~kKept) != 0 &&
         (st.at("CapEff") & (std::uint64_t{1} << CAP_SETPCAP)) != 0;
}

}  // namespace

TEST_CASE("a config file writable by others is refused with the fix", "[privileges]") {
  TempDir dir;
  const std::string file = dir.file("actions.json", 0666);
  const auto st = check_config_permissions(file);
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.errors().size() == 1);
  CHECK(st.errors().front() == file +
                                   ": mode 0666 lets group and others write it, so they could "
                                   "change what ctlabeld (privileged) does; "
                                   "refusing the config. Fix: chmod go-w " +
                                   file);
}

TEST_CASE("config file modes: which are accepted", "[privileges]") {
  struct Case {
    mode_t mode;
    bool accepted;
    const char* who;
  };
  const Case cases[] = {
      {0644, true, ""},
      {0600, true, ""},
      {0400, true, ""},
      {0664, false, "its group"},
      {0646, false, "others"},
      {0622, false, "group and others"},
      {0777, false, "group and others"},
  };
  for (const auto& c : cases) {
    TempDir dir;
    const std::string file = dir.file("actions.json", c.mode);
    INFO("mode " << std::oct << c.mode);
    const auto st = check_config_permissions(file);
    CHECK(st.ok() == c.accepted);
    if (!c.accepted) {
      REQUIRE(st.errors().size() == 1);
      CHECK(st.errors().front().find(std::string(" lets ") + c.who + " write it") !=
            std::string::npos);
    }
  }
}

TEST_CASE("a directory above the config that others can write is refused, unless sticky",
          "[privileges]") {
  TempDir dir;
  const std::filesystem::path sub = dir.path() / "conf";
  REQUIRE(std::filesystem::create_directory(sub));
  const std::string file = (sub / "actions.json").string();
  std::ofstream(file) << "{}\n";
  REQUIRE(::chmod(file.c_str(), 0644) == 0);

  REQUIRE(::chmod(sub.c_str(), 0777) == 0);
  const auto refused = check_config_permissions(file);
  REQUIRE_FALSE(refused.ok());
  REQUIRE(refused.errors().size() == 1);
  const std::string real_sub = std::filesystem::canonical(sub).string();
  CHECK(refused.errors().front() ==
        "directory " + real_sub +
            ": mode 0777 lets group and others write it, so they could change what "
            "ctlabeld (privileged) does; refusing the config. Fix: chmod go-w " +
            real_sub);

  REQUIRE(::chmod(sub.c_str(), 01777) == 0);  // like /tmp: others cannot replace our file
  CHECK(check_config_permissions(file).ok());
}

TEST_CASE("a config file owned by another user is refused", "[privileges]") {
  if (::geteuid() != 0) {
    WARN("not root: cannot give a file to another user; skipped");
    return;
  }
  TempDir dir;
  const std::string file = dir.file("actions.json", 0644);
  REQUIRE(::chown(file.c_str(), 12345, static_cast<gid_t>(-1)) == 0);
  const auto st = check_config_permissions(file);
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.errors().size() == 1);
  CHECK(st.errors().front() ==
        file +
            ": owned by uid 12345, neither root nor the user ctlabeld runs as (uid 0); refusing "
            "the config. Fix: chown root " +
            file);
}

TEST_CASE("every problem is reported at once", "[privileges]") {
  if (::geteuid() != 0) {
    WARN("not root: skipped");
    return;
  }
  TempDir dir;
  const std::string file = dir.file("actions.json", 0666);
  REQUIRE(::chown(file.c_str(), 12345, static_cast<gid_t>(-1)) == 0);
  CHECK(check_config_permissions(file).errors().size() == 2);
}

TEST_CASE("a missing config file is reported, not accepted", "[privileges]") {
  TempDir dir;
  const std::string file = (dir.path() / "absent.json").string();
  const auto st = check_config_permissions(file);
  REQUIRE_FALSE(st.ok());
  CHECK(st.errors().front() == file + ": cannot open the config: No such file or directory");
}

// The link's own directory decides who can repoint it: the check used to look only at the
// target's directories (through canonical()), so a link in a world-writable directory passed.
TEST_CASE("a symbolic link in a directory others can write is refused", "[privileges]") {
  TempDir dir;
  const std::string target = dir.file("actions.json", 0644);
  const std::filesystem::path open_dir = dir.path() / "shared";
  REQUIRE(std::filesystem::create_directory(open_dir));
  REQUIRE(::chmod(open_dir.c_str(), 0777) == 0);
  const std::string link = (open_dir / "link.json").string();
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  const auto st = check_config_permissions(link);
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.errors().size() == 1);
  CHECK(st.errors().front() ==
        "directory " + open_dir.string() +
            ": mode 0777 lets group and others write it, so they could change what ctlabeld "
            "(privileged) does; refusing the config. Fix: chmod go-w " +
            open_dir.string());
}

TEST_CASE("a link's target directory is checked too, relative links and '..' included",
          "[privileges]") {
  TempDir dir;
  const std::filesystem::path bad = dir.path() / "bad";
  const std::filesystem::path conf = dir.path() / "conf";
  REQUIRE(std::filesystem::create_directory(bad));
  REQUIRE(std::filesystem::create_directory(conf));
  REQUIRE(::chmod(bad.c_str(), 0757) == 0);
  std::ofstream((bad / "actions.json").string()) << "{}\n";
  REQUIRE(::chmod((bad / "actions.json").c_str(), 0644) == 0);
  const std::string link = (conf / "actions.json").string();
  REQUIRE(::symlink("../bad/actions.json", link.c_str()) == 0);
  const auto st = check_config_permissions(link);
  REQUIRE_FALSE(st.ok());
  CHECK(st.errors().front().rfind("directory " + bad.string() + ": mode 0757 lets others", 0) == 0);
  REQUIRE(::chmod(bad.c_str(), 0755) == 0);
  CHECK(check_config_permissions(link).ok());
}

TEST_CASE("a link owned by another user is refused even in a sticky directory", "[privileges]") {
  if (::geteuid() != 0) {
    WARN("not root: cannot give a link to another user; skipped");
    return;
  }
  TempDir dir;
  const std::string target = dir.file("actions.json", 0644);
  const std::filesystem::path tmp = dir.path() / "tmp";
  REQUIRE(std::filesystem::create_directory(tmp));
  REQUIRE(::chmod(tmp.c_str(), 01777) == 0);
  const std::string link = (tmp / "link.json").string();
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  REQUIRE(::lchown(link.c_str(), 12345, static_cast<gid_t>(-1)) == 0);
  const auto st = check_config_permissions(link);
  REQUIRE_FALSE(st.ok());
  CHECK(st.errors().front() ==
        "symbolic link " + link +
            ": owned by uid 12345, neither root nor the user ctlabeld runs as (uid 0); refusing "
            "the config. Fix: chown -h root " +
            link);
}

TEST_CASE("drop_capabilities as root keeps exactly CAP_NET_ADMIN and CAP_NET_RAW", "[privileges]") {
  if (!full_root()) {
    WARN("not running as root with full capabilities: skipped");
    return;
  }
  const ChildResult r = run_in_child([] { return true; });
  INFO(r.error);
  REQUIRE(r.ok);
  CHECK(r.status.at("CapEff") == 0x3000);
  CHECK(r.status.at("CapPrm") == 0x3000);
  CHECK(r.status.at("CapInh") == 0);
  CHECK(r.status.at("CapBnd") == 0x3000);
  CHECK(r.status.at("CapAmb") == 0);
  CHECK(r.status.at("NoNewPrivs") == 1);
}

TEST_CASE("drop_capabilities leaves a process that holds nothing extra alone", "[privileges]") {
  if (!full_root()) {
    WARN("not running as root with full capabilities: skipped");
    return;
  }
  // Like a run under the systemd unit (or a user with only CAP_NET_RAW): nothing to drop.
  const ChildResult r = run_in_child([] {
    cap_t only_raw = cap_init();
    const cap_value_t raw[] = {CAP_NET_RAW};
    const bool done =
        only_raw != nullptr && cap_set_flag(only_raw, CAP_PERMITTED, 1, raw, CAP_SET) == 0 &&
        cap_set_flag(only_raw, CAP_EFFECTIVE, 1, raw, CAP_SET) == 0 && cap_set_proc(only_raw) == 0;
    cap_free(only_raw);
    return done;
  });
  REQUIRE(r.ok);
  CHECK(r.status.at("CapEff") == kNetRaw);
  CHECK(r.status.at("CapPrm") == kNetRaw);
  CHECK(r.status.at("CapBnd") != kKept);  // untouched: without CAP_SETPCAP it could not be shrunk
  CHECK(r.status.at("NoNewPrivs") == 1);
}

TEST_CASE("drop_capabilities refuses once a second thread exists, and changes nothing",
          "[privileges]") {
  const auto before = status_fields(read_self_status());
  const ChildResult r = run_in_child([] {
    // A second thread that lives until the child exits.
    static std::mutex m;
    static std::condition_variable cv;
    std::thread([] {
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [] { return false; });
    }).detach();
    // Wait until /proc shows it, so the check cannot race the thread's start.
    for (int i = 0; i < 1000; ++i) {
      if (std::distance(std::filesystem::directory_iterator("/proc/self/task"), {}) > 1)
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  });
  REQUIRE_FALSE(r.ok);
  CHECK(r.error ==
        "dropping capabilities: the process already runs 2 threads, which would keep theirs; "
        "drop_capabilities() must "
        "run before any thread starts");
  CHECK(r.status.at("CapEff") == before.at("CapEff"));
  CHECK(r.status.at("NoNewPrivs") == before.at("NoNewPrivs"));
}
