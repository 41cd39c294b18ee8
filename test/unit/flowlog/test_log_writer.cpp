// SPDX-License-Identifier: GPL-3.0-or-later
// The log writer with an injected clock: one file per sink and interval holding exactly its
// records, nothing for an empty interval, the cap, the last interval at stop(), atomic files,
// escaping, binding and write failures.
#include <catch2/catch.hpp>
#include <rapidjson/document.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "ctlabeld/flowlog/log_writer.hpp"

namespace ctlabeld::flowlog {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using TimePoint = std::chrono::system_clock::time_point;

// 2027-01-15T08:00:00Z: a multiple of every interval used here.
constexpr std::int64_t kT0 = 1800000000;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ctlabeld-flowlog-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The injected wall clock, in milliseconds since the epoch.
struct FakeClock {
  std::atomic<std::int64_t> ms{kT0 * 1000};
  void set(std::int64_t s) { ms.store(s * 1000); }
  WallClock fn() {
    return [this] { return TimePoint(std::chrono::milliseconds(ms.load())); };
  }
};

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  INFO(text);
  REQUIRE_FALSE(d.HasParseError());
  REQUIRE(d.IsObject());
  return d;
}

LogSpec spec_in(const std::string& dir, std::int64_t interval = 60) {
  LogSpec s;
  s.path = dir;
  s.prefix = "nfa";
  s.suffix = ".json";
  s.interval = seconds(interval);
  return s;
}

MemberChange change(std::uint16_t handle, std::uint32_t flow, const std::string& action,
                    const std::string& hostname = "example.org") {
  auto r = std::make_shared<FlowRecord>();
  r->tuple.ip_version = 4;
  r->tuple.ip_protocol = 6;
  REQUIRE(parse_address("192.168.1.10", r->tuple.src) == 4);
  REQUIRE(parse_address("203.0.113.7", r->tuple.dst) == 4);
  r->tuple.src_port = static_cast<std::uint16_t>(40000 + flow);
  r->tuple.dst_port = 443;
  r->app = "zoom";
  r->protocol = "tls";
  r->category = "video";
  r->hostname = hostname;
  r->detected_by = "dpi";
  r->iface = "eth0";
  r->action = action;
  r->target = "log.all";
  r->first_seen_us = 1800000001'250000;
  r->last_seen_us = 1800000002'500000;
  r->packets = 7;
  r->bytes = 1234;
  MemberChange c;
  c.op = SetOp::kAdd;
  c.sink = SinkRef{0, handle};
  c.fields.ip_version = 4;
  c.fields.local_addr = r->tuple.src;
  c.fields.other_addr = r->tuple.dst;
  c.record = std::move(r);
  c.flow = FlowId{flow, 1};
  return c;
}

struct Fixture {
  TempDir dir;
  FakeClock clock;
  std::unique_ptr<LogWriter> writer;
  std::uint16_t handle = 0;

  explicit Fixture(LogWriterOptions options = {}, std::int64_t interval = 60) {
    clock.set(kT0 + 5);
    options.clock = clock.fn();
    writer = LogWriter::start(std::move(options));
    auto h = writer->bind(spec_in(dir.path(), interval));
    INFO(h.error_text());
    REQUIRE(h.ok());
    handle = h.value();
  }
  // Collects what was submitted, then moves the clock to `s` and writes what ended by then.
  void at(std::int64_t s) {
    writer->sync();
    clock.set(s);
    writer->sync();
  }
  std::string file(std::int64_t start) const {
    return dir.path() + "/nfa-" + file_timestamp(TimePoint(seconds(start))) + ".json";
  }
};

TEST_CASE("log writer: an interval's records make exactly one file, when it ends", "[flowlog]") {
  Fixture f;
  REQUIRE(f.writer->submit(change(f.handle, 1, "zoom")));
  REQUIRE(f.writer->submit(change(f.handle, 2, "video")));
  f.at(kT0 + 59);
  CHECK(files_in(f.dir.path()).empty());  // the interval has not ended

  f.at(kT0 + 60);
  REQUIRE(files_in(f.dir.path()) == std::vector<std::string>{"nfa-20270115T080005Z.json"});
  const auto d = parse(read_file(f.file(kT0 + 5)));
  CHECK(std::string(d["interval_start"].GetString()) == "2027-01-15T08:00:05Z");
  CHECK(std::string(d["interval_end"].GetString()) == "2027-01-15T08:01:00Z");
  CHECK(d["interval_s"].GetInt() == 60);
  CHECK(d["records"].GetInt() == 2);
  CHECK(d["dropped"].GetInt() == 0);
  const auto& flows = d["flows"];
  REQUIRE(flows.Size() == 2);
  CHECK(std::string(flows[0]["action"].GetString()) == "zoom");
  CHECK(flows[0]["src_port"].GetInt() == 40001);
  CHECK(std::string(flows[1]["action"].GetString()) == "video");
  CHECK(flows[1]["src_port"].GetInt() == 40002);
  const auto& r = flows[0];
  CHECK(std::string(r["target"].GetString()) == "log.all");
  CHECK(std::string(r["src_ip"].GetString()) == "192.168.1.10");
  CHECK(std::string(r["dst_ip"].GetString()) == "203.0.113.7");
  CHECK(std::string(r["local_ip"].GetString()) == "192.168.1.10");
  CHECK(std::string(r["other_ip"].GetString()) == "203.0.113.7");
  CHECK(r["dst_port"].GetInt() == 443);
  CHECK(r["ip_protocol"].GetInt() == 6);
  CHECK(std::string(r["app"].GetString()) == "zoom");
  CHECK(std::string(r["protocol"].GetString()) == "tls");
  CHECK(std::string(r["category"].GetString()) == "video");
  CHECK(std::string(r["hostname"].GetString()) == "example.org");
  CHECK(std::string(r["iface"].GetString()) == "eth0");
  CHECK(r["first_seen"].GetDouble() == Approx(1800000001.25));
  CHECK(r["last_seen"].GetDouble() == Approx(1800000002.5));
  CHECK(r["packets"].GetInt() == 7);
  CHECK(r["bytes"].GetInt() == 1234);

  const auto c = f.writer->counters();
  REQUIRE(c.size() == 1);
  CHECK(c[0].name == "log " + f.dir.path() + "/nfa-*.json");
  CHECK(c[0].writes == 1);
  CHECK(c[0].present == 2);
  CHECK(c[0].dropped == 0);
  CHECK(c[0].errors == 0);
}

TEST_CASE("log writer: no file for an empty interval; the next file starts on the boundary",
          "[flowlog]") {
  Fixture f;
  f.at(kT0 + 60);
  f.clock.set(kT0 + 200);  // two more intervals pass without a record
  f.writer->sync();
  CHECK(files_in(f.dir.path()).empty());

  REQUIRE(f.writer->submit(change(f.handle, 1, "zoom")));
  f.writer->sync();
  f.at(kT0 + 240);
  // The record arrived during [180, 240): that interval's file, named by its start.
  REQUIRE(files_in(f.dir.path()) == std::vector<std::string>{"nfa-20270115T080300Z.json"});
  const auto d = parse(read_file(f.file(kT0 + 180)));
  CHECK(std::string(d["interval_end"].GetString()) == "2027-01-15T08:04:00Z");
  CHECK(d["flows"].Size() == 1);
  f.at(kT0 + 400);
  CHECK(files_in(f.dir.path()).size() == 1);
}

TEST_CASE("log writer: records go to the interval running when they arrive", "[flowlog]") {
  Fixture f({}, 10);
  REQUIRE(f.writer->submit(change(f.handle, 1, "a")));
  f.writer->sync();
  f.clock.set(kT0 + 10);
  REQUIRE(f.writer->submit(change(f.handle, 2, "b")));
  f.writer->sync();
  f.at(kT0 + 20);
  REQUIRE(files_in(f.dir.path()) ==
          std::vector<std::string>{"nfa-20270115T080005Z.json", "nfa-20270115T080010Z.json"});
  const auto first = parse(read_file(f.file(kT0 + 5)));
  const auto second = parse(read_file(f.file(kT0 + 10)));
  REQUIRE(first["flows"].Size() == 1);
  REQUIRE(second["flows"].Size() == 1);
  CHECK(std::string(first["flows"][0]["action"].GetString()) == "a");
  CHECK(std::string(second["flows"][0]["action"].GetString()) == "b");
}

TEST_CASE("log writer: a wall clock stepped back ends the interval at once", "[flowlog]") {
  Fixture f;
  REQUIRE(f.writer->submit(change(f.handle, 1, "a")));
  f.at(kT0 + 30);
  f.at(kT0 - 3600);  // stepped back an hour: the interval's file is written, a new one starts
  REQUIRE(files_in(f.dir.path()) == std::vector<std::string>{"nfa-20270115T080005Z.json"});
  REQUIRE(f.writer->submit(change(f.handle, 2, "b")));
  f.at(kT0 - 3600 + 10);
  CHECK(files_in(f.dir.path()).size() == 1);  // the new interval runs to the next minute
  f.at(kT0 - 3600 + 60);
  REQUIRE(files_in(f.dir.path()) ==
          std::vector<std::string>{"nfa-20270115T070000Z.json", "nfa-20270115T080005Z.json"});
  const auto d = parse(read_file(f.file(kT0 - 3600)));
  REQUIRE(d["flows"].Size() == 1);
  CHECK(std::string(d["flows"][0]["action"].GetString()) == "b");
}

TEST_CASE("log writer: a flow re-added in one interval is listed once per action", "[flowlog]") {
  Fixture f;
  REQUIRE(f.writer->submit(change(f.handle, 1, "zoom")));
  REQUIRE(f.writer->submit(change(f.handle, 1, "zoom")));
  REQUIRE(f.writer->submit(change(f.handle, 1, "video")));
  MemberChange del = change(f.handle, 3, "zoom");
  del.op = SetOp::kDelete;
  REQUIRE(f.writer->submit(del));  // a log has nothing to remove: ignored
  f.at(kT0 + 60);
  const auto d = parse(read_file(f.file(kT0 + 5)));
  REQUIRE(d["flows"].Size() == 2);
  CHECK(std::string(d["flows"][0]["action"].GetString()) == "zoom");
  CHECK(std::string(d["flows"][1]["action"].GetString()) == "video");
}

TEST_CASE("log writer: the record cap drops and counts the rest", "[flowlog]") {
  LogWriterOptions o;
  o.max_records = 3;
  Fixture f(o);
  for (std::uint32_t i = 1; i <= 5; ++i) REQUIRE(f.writer->submit(change(f.handle, i, "zoom")));
  f.at(kT0 + 60);
  const auto d = parse(read_file(f.file(kT0 + 5)));
  CHECK(d["records"].GetInt() == 3);
  CHECK(d["dropped"].GetInt() == 2);
  REQUIRE(d["flows"].Size() == 3);
  CHECK(d["flows"][2]["src_port"].GetInt() == 40003);
  auto c = f.writer->counters();
  CHECK(c[0].dropped == 2);
  CHECK(c[0].present == 3);

  // The cap is per file: the next interval takes records again.
  REQUIRE(f.writer->submit(change(f.handle, 9, "zoom")));
  f.at(kT0 + 120);
  const auto next = parse(read_file(f.file(kT0 + 60)));
  CHECK(next["records"].GetInt() == 1);
  CHECK(next["dropped"].GetInt() == 0);
  c = f.writer->counters();
  CHECK(c[0].dropped == 2);
  CHECK(c[0].writes == 2);
}

TEST_CASE("log writer: the byte cap bounds the file", "[flowlog]") {
  LogWriterOptions o;
  o.max_bytes = 2000;
  Fixture f(o);
  for (std::uint32_t i = 1; i <= 40; ++i) REQUIRE(f.writer->submit(change(f.handle, i, "zoom")));
  f.at(kT0 + 60);
  const std::string text = read_file(f.file(kT0 + 5));
  CHECK(text.size() <= 2000);
  const auto d = parse(text);
  const int kept = d["records"].GetInt();
  CHECK(kept > 0);
  CHECK(kept < 40);
  CHECK(static_cast<int>(d["flows"].Size()) == kept);
  CHECK(d["dropped"].GetInt() == 40 - kept);
  CHECK(f.writer->counters()[0].dropped == static_cast<std::uint64_t>(40 - kept));
}

TEST_CASE("log writer: stop() writes the last, partial interval", "[flowlog]") {
  Fixture f;
  REQUIRE(f.writer->submit(change(f.handle, 1, "zoom")));
  f.clock.set(kT0 + 30);
  f.writer->stop();
  REQUIRE(files_in(f.dir.path()) == std::vector<std::string>{"nfa-20270115T080005Z.json"});
  const auto d = parse(read_file(f.file(kT0 + 5)));
  CHECK(std::string(d["interval_end"].GetString()) == "2027-01-15T08:00:30Z");
  CHECK(d["flows"].Size() == 1);
  CHECK_FALSE(f.writer->submit(change(f.handle, 2, "zoom")));  // stopped
  f.writer->stop();                                            // idempotent
  f.writer->sync();                                            // returns at once
  CHECK(files_in(f.dir.path()).size() == 1);
}

TEST_CASE("log writer: stop() with nothing collected writes nothing", "[flowlog]") {
  Fixture f;
  f.writer->stop();
  CHECK(files_in(f.dir.path()).empty());
}

TEST_CASE("log writer: text off the wire is escaped into valid JSON", "[flowlog]") {
  Fixture f;
  const std::string nasty = std::string("a\"b\\c\nd\te\x01\x7f") + "\xff" + "\xc3\xa9";
  REQUIRE(f.writer->submit(change(f.handle, 1, "say \"hi\"", nasty)));
  f.at(kT0 + 60);
  const auto d = parse(read_file(f.file(kT0 + 5)));
  const auto& r = d["flows"][0];
  CHECK(std::string(r["action"].GetString()) == "say \"hi\"");
  // Each byte outside printable ASCII is its own code point (UTF-8 in the parsed value).
  const std::string expected =
      std::string("a\"b\\c\nd\te\x01") + "\x7f" + "\xc3\xbf" + "\xc3\x83" + "\xc2\xa9";
  CHECK(std::string(r["hostname"].GetString(), r["hostname"].GetStringLength()) == expected);

  std::string out;
  append_json_string(std::string_view("\0x", 2), out);
  CHECK(out == "\\u0000x");
}

TEST_CASE("log writer: files appear whole (atomic), never partly written", "[flowlog]") {
  Fixture f({}, 1);
  // A reader lists and parses every visible file while the writer writes 30 files of about
  // 1 MiB each.
  std::atomic<bool> done{false};
  std::atomic<int> seen{0};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    while (!done.load()) {
      for (const auto& name : files_in(f.dir.path())) {
        if (name.rfind("nfa-", 0) != 0) continue;  // the writer's hidden temporary files
        rapidjson::Document d;
        const std::string text = read_file(f.dir.path() + "/" + name);
        d.Parse(text.data(), text.size());
        if (d.HasParseError() || !d.IsObject() || !d.HasMember("flows") ||
            d["flows"].Size() != 2500) {
          ++bad;
        }
        ++seen;
      }
    }
  });
  const std::string host(300, 'h');
  for (int interval = 0; interval < 30; ++interval) {
    for (std::uint32_t i = 0; i < 2500; ++i) {
      while (!f.writer->submit(change(f.handle, i, "zoom", host))) std::this_thread::yield();
    }
    f.writer->sync();
    f.at(kT0 + 6 + interval);
  }
  done = true;
  reader.join();
  CHECK(bad.load() == 0);
  CHECK(seen.load() > 0);
  const auto names = files_in(f.dir.path());
  CHECK(names.size() == 30);  // and no temporary file left behind
  for (const auto& n : names) CHECK(n.rfind("nfa-", 0) == 0);
}

TEST_CASE("log writer: bind checks the directory and names the fix", "[flowlog]") {
  TempDir dir;
  auto writer = LogWriter::start();
  auto a = writer->bind(spec_in(dir.path()));
  REQUIRE(a.ok());
  // The same files (a reload): the same handle, whatever the interval or a trailing slash.
  auto again = writer->bind(spec_in(dir.path() + "/", 300));
  REQUIRE(again.ok());
  CHECK(again.value() == a.value());
  LogSpec other = spec_in(dir.path());
  other.prefix = "other";
  auto b = writer->bind(other);
  REQUIRE(b.ok());
  CHECK(b.value() != a.value());
  CHECK(writer->counters().size() == 2);

  auto missing = writer->bind(spec_in(dir.path() + "/missing"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.errors().front() ==
        "log directory " + dir.path() + "/missing does not exist; create it (mkdir -p " +
            dir.path() + "/missing) or set \"path\" to an existing directory");
  const std::string file = dir.path() + "/plain";
  std::ofstream(file) << "x";
  auto not_dir = writer->bind(spec_in(file));
  REQUIRE_FALSE(not_dir.ok());
  CHECK(not_dir.errors().front() ==
        "log path " + file + " is not a directory; set \"path\" to a directory");
  auto relative = writer->bind(spec_in("tmp"));
  REQUIRE_FALSE(relative.ok());
  CHECK(relative.errors().front() ==
        "\"path\" must be an absolute directory, e.g. \"/tmp\", found 'tmp'");
  LogSpec slash = spec_in(dir.path());
  slash.suffix = "/x.json";
  CHECK_FALSE(writer->bind(slash).ok());
  auto wrong = writer->bind(std::any(42));
  CHECK_FALSE(wrong.ok());
  if (::geteuid() != 0) {
    const std::string ro = dir.path() + "/ro";
    REQUIRE(::mkdir(ro.c_str(), 0555) == 0);
    auto denied = writer->bind(spec_in(ro));
    REQUIRE_FALSE(denied.ok());
    CHECK_THAT(denied.errors().front(), Catch::StartsWith("cannot write in log directory " + ro));
  }
}

TEST_CASE("log writer: a file that cannot be written is counted, its records dropped",
          "[flowlog]") {
  Fixture f;
  const std::string gone = f.dir.path() + "/gone";
  REQUIRE(::mkdir(gone.c_str(), 0755) == 0);
  auto h = f.writer->bind(spec_in(gone));
  REQUIRE(h.ok());
  REQUIRE(f.writer->submit(change(h.value(), 1, "zoom")));
  REQUIRE(f.writer->submit(change(h.value(), 2, "zoom")));
  f.writer->sync();
  REQUIRE(::rmdir(gone.c_str()) == 0);
  f.at(kT0 + 60);
  const auto c = f.writer->counters();
  REQUIRE(c.size() == 2);
  CHECK(c[1].errors == 1);
  CHECK(c[1].errors_by_errno.count(ENOENT) == 1);
  CHECK(c[1].dropped == 2);
  CHECK(c[1].writes == 0);
  CHECK(c[1].present == 0);
  CHECK(c[0].errors == 0);
}

TEST_CASE("log writer: names and specs", "[flowlog]") {
  const TimePoint t(seconds(kT0 + 3723));
  CHECK(file_timestamp(t) == "20270115T090203Z");
  LogSpec s;
  CHECK(file_name(s, t) == "/tmp/netify-flow-actions-20270115T090203Z.json");
  CHECK(file_pattern(s) == "/tmp/netify-flow-actions-<YYYYmmddTHHMMSSZ>.json");
  CHECK(file_glob(s) == "/tmp/netify-flow-actions-*.json");
  s.path = "/";
  CHECK(file_name(s, t) == "/netify-flow-actions-20270115T090203Z.json");
  CHECK(check_spec(LogSpec{}).empty());
  s = LogSpec{};
  s.interval = seconds(0);
  CHECK(check_spec(s) == "\"interval\" must be 1 to 86400 seconds");
  s = LogSpec{};
  s.prefix = std::string(240, 'p');
  CHECK(check_spec(s) ==
        "\"prefix\" and \"suffix\" make file names longer than 255 bytes; "
        "shorten them");
}

}  // namespace
}  // namespace ctlabeld::flowlog
