// SPDX-License-Identifier: GPL-3.0-or-later
// files::open_read / read_all / write_atomic on real files, FIFOs, devices, links and races.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "ctlabeld/common/file_policy.hpp"

namespace fs = std::filesystem;
using namespace ctlabeld;

namespace {

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/ctlabeld-files-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    path_ = name;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }
  [[nodiscard]] std::string write(const std::string& name, const std::string& text,
                                  mode_t mode = 0644) const {
    const std::string p = (path_ / name).string();
    std::ofstream(p) << text;
    REQUIRE(::chmod(p.c_str(), mode) == 0);
    return p;
  }

 private:
  fs::path path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

files::ReadPolicy config_policy(std::uint64_t cap = 1 << 20) {
  files::ReadPolicy p;
  p.what = "actions file";
  p.max_bytes = cap;
  p.privileged = true;
  return p;
}

}  // namespace

TEST_CASE("a regular file is read whole", "[files]") {
  TempDir dir;
  const auto file = dir.write("a.json", "{\"x\": 1}\n");
  auto text = files::read_all(file, config_policy());
  REQUIRE(text.ok());
  CHECK(text.value() == "{\"x\": 1}\n");
}

TEST_CASE("a FIFO is refused at once instead of blocking", "[files]") {
  TempDir dir;
  const std::string fifo = (dir.path() / "actions.json").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto start = std::chrono::steady_clock::now();
  auto text = files::read_all(fifo, config_policy());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  REQUIRE_FALSE(text.ok());
  CHECK(text.errors().front() ==
        fifo +
            ": is a named pipe (FIFO), not a regular file; ctlabeld reads an actions file only "
            "from a regular file (so no writer can stall it and no device can feed it endless "
            "bytes): save the content to a file and give that path");
}

TEST_CASE("devices, directories and pipes behind links are named for what they are", "[files]") {
  TempDir dir;
  files::ReadPolicy data;
  data.what = "capture file";
  auto zero = files::read_all("/dev/zero", data);
  REQUIRE_FALSE(zero.ok());
  CHECK(zero.errors().front().rfind("/dev/zero: is a character device, not a regular file", 0) ==
        0);
  auto directory = files::read_all(dir.path().string(), data);
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.errors().front() ==
        dir.path().string() +
            ": is a directory, not a file; give the path of the capture file "
            "itself");
  // /dev/stdin is a link to /proc/self/fd/0, itself a link to "pipe:[N]" when stdin is a pipe.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const std::string via_proc = "/proc/self/fd/" + std::to_string(fds[0]);
  auto piped = files::read_all(via_proc, data);
  ::close(fds[0]);
  ::close(fds[1]);
  REQUIRE_FALSE(piped.ok());
  CHECK(piped.errors().front().rfind(via_proc + ": is a named pipe (FIFO), not a regular file",
                                     0) == 0);
}

TEST_CASE("a file above the size cap is refused before it is read", "[files]") {
  TempDir dir;
  const auto file = dir.write("big.json", std::string(5000, ' '));
  auto text = files::read_all(file, config_policy(4096));
  REQUIRE_FALSE(text.ok());
  CHECK(text.errors().front() ==
        file +
            ": 5000 bytes, above the 4096-byte limit for an actions file; is this the right "
            "file?");
  CHECK(files::read_all(file, config_policy(5000)).ok());
}

TEST_CASE("a missing file says so and reports not_found", "[files]") {
  TempDir dir;
  bool missing = false;
  const std::string path = (dir.path() / "nope" / "x.json").string();
  auto text = files::read_all(path, config_policy(), &missing);
  REQUIRE_FALSE(text.ok());
  CHECK(missing);
  CHECK(text.errors().front().rfind(path + ": cannot open the actions file: No such file", 0) == 0);
}

TEST_CASE("symbolic links are followed by the walk, relative, absolute and chained", "[files]") {
  TempDir dir;
  const auto real = dir.write("real.json", "ok");
  fs::create_directory(dir.path() / "sub");
  REQUIRE(::symlink("../real.json", (dir.path() / "sub" / "rel").c_str()) == 0);
  REQUIRE(::symlink((dir.path() / "sub" / "rel").c_str(), (dir.path() / "abs").c_str()) == 0);
  REQUIRE(::symlink("abs", (dir.path() / "chain").c_str()) == 0);
  REQUIRE(::symlink("loop", (dir.path() / "loop").c_str()) == 0);
  for (const char* name : {"sub/rel", "abs", "chain"}) {
    INFO(name);
    auto text = files::read_all((dir.path() / name).string(), config_policy());
    REQUIRE(text.ok());
    CHECK(text.value() == "ok");
  }
  auto loop = files::read_all((dir.path() / "loop").string(), config_policy());
  REQUIRE_FALSE(loop.ok());
  CHECK(loop.errors().front().find("more than 40 symbolic links") != std::string::npos);
}

// The old check stat()ed the path and opened it again later: a link repointed in between got an
// unchecked file loaded. Here a thread flips a link between a good file and a group-writable one
// while the policy reads through it: every read that succeeds must be the good file.
TEST_CASE("a link flipped during the read never yields the refused file", "[files]") {
  TempDir dir;
  const auto good = dir.write("good.json", "good");
  const auto bad = dir.write("bad.json", "bad", 0666);
  const std::string link = (dir.path() / "actions.json").string();
  const std::string tmp_link = (dir.path() / "actions.json.new").string();
  REQUIRE(::symlink(good.c_str(), link.c_str()) == 0);
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    for (int i = 0; !stop.load() && i < 200000; ++i) {
      ::unlink(tmp_link.c_str());
      if (::symlink(i % 2 == 0 ? bad.c_str() : good.c_str(), tmp_link.c_str()) == 0)
        ::rename(tmp_link.c_str(), link.c_str());
    }
  });
  int good_reads = 0;
  int refused = 0;
  for (int i = 0; i < 400; ++i) {
    auto text = files::read_all(link, config_policy());
    if (text.ok()) {
      CHECK(text.value() == "good");
      ++good_reads;
    } else {
      ++refused;
    }
  }
  stop.store(true);
  flipper.join();
  CHECK(good_reads + refused == 400);
}

TEST_CASE("write_atomic replaces the file and never follows a planted link", "[files]") {
  TempDir dir;
  const auto victim = dir.write("victim", "precious");
  const std::string target = (dir.path() / "stats.json").string();
  // The old code wrote "<path>.tmp" with fopen(): a link planted there overwrote its target.
  REQUIRE(::symlink(victim.c_str(), (target + ".tmp").c_str()) == 0);
  REQUIRE(files::write_atomic(target, "{\"a\":1}\n", "--stats-file").ok());
  CHECK(slurp(target) == "{\"a\":1}\n");
  CHECK(slurp(victim) == "precious");
  // The target itself a link: rename replaces the link, not what it points to.
  fs::remove(target);
  REQUIRE(::symlink(victim.c_str(), target.c_str()) == 0);
  REQUIRE(files::write_atomic(target, "two", "--stats-file").ok());
  CHECK(slurp(victim) == "precious");
  CHECK(slurp(target) == "two");
  CHECK_FALSE(fs::is_symlink(target));
  // Only the planted link and the victim remain beside it: no temporary file left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 3);
}

TEST_CASE("write_atomic reports a missing directory and leaves nothing", "[files]") {
  TempDir dir;
  const std::string target = (dir.path() / "absent" / "stats.json").string();
  const auto st = files::write_atomic(target, "x", "--stats-file");
  REQUIRE_FALSE(st.ok());
  CHECK(st.errors().front().rfind("--stats-file " + target + ": its directory: ", 0) == 0);
}

TEST_CASE("open_write: files, devices, and links only when nobody else could have planted them",
          "[files]") {
  TempDir dir;
  const auto victim = dir.write("victim", "precious");
  const auto out = dir.write("flows.json", "old content that must go");
  {
    auto fd = files::open_write(out, "--flows");
    REQUIRE(fd.ok());
    REQUIRE(::write(fd->get(), "new", 3) == 3);
  }
  CHECK(slurp(out) == "new");
  CHECK(files::open_write("/dev/full", "--flows").ok());  // a device: its writes fail later
  auto directory = files::open_write(dir.path().string() + "/", "--flows");
  CHECK_FALSE(directory.ok());

  // A link of our own in our own directory is followed, as an admin would expect.
  const std::string own = (dir.path() / "own-link").string();
  REQUIRE(::symlink(out.c_str(), own.c_str()) == 0);
  CHECK(files::open_write(own, "--flows").ok());

  if (::geteuid() != 0) {
    WARN("not root: cannot plant a link as another user; skipped");
    return;
  }
  // Another user's link in a sticky world-writable directory (/tmp): never followed.
  const fs::path tmp = dir.path() / "tmp";
  fs::create_directory(tmp);
  REQUIRE(::chmod(tmp.c_str(), 01777) == 0);
  const std::string planted = (tmp / "flows.json").string();
  REQUIRE(::symlink(victim.c_str(), planted.c_str()) == 0);
  REQUIRE(::lchown(planted.c_str(), 12345, static_cast<gid_t>(-1)) == 0);
  auto refused = files::open_write(planted, "--flows");
  REQUIRE_FALSE(refused.ok());
  INFO(refused.errors().front());
  CHECK(refused.errors().front().rfind(
            "--flows " + planted + ": is a symbolic link owned by uid 12345 in " + tmp.string(),
            0) == 0);
  CHECK(slurp(victim) == "precious");
}
