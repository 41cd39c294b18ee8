// SPDX-License-Identifier: GPL-3.0-or-later
// The log writer thread: collects matched-flow records per sink for an interval, then writes one
// JSON document per sink and interval through the file policy's atomic write.
#include "ctlabeld/flowlog/log_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>

#include <spdlog/fmt/fmt.h>

#include "ctlabeld/common/batch_queue.hpp"
#include "ctlabeld/common/file_policy.hpp"
#include "ctlabeld/common/logger.hpp"
#include "ctlabeld/common/net.hpp"

namespace ctlabeld::flowlog {

namespace {

using SystemClock = std::chrono::system_clock;
using TimePoint = SystemClock::time_point;

constexpr std::size_t kBatch = 256;
// Room for the document's header and closing bytes, so a file never exceeds max_bytes.
constexpr std::size_t kHeaderReserve = 256;

spdlog::logger& logger() {
  static const auto l = stage_logger("flowlog");
  return *l;
}

std::tm utc(TimePoint t) {
  const std::time_t secs = SystemClock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return tm;
}

// "2026-12-02T15:40:00Z"
std::string iso_time(TimePoint t) {
  const std::tm tm = utc(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The start of the interval holding `t`, intervals counted from the epoch (so 60 s files start
// on the minute, whatever the start time).
TimePoint interval_floor(TimePoint t, std::chrono::seconds interval) {
  const std::int64_t s = std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
  const std::int64_t n = std::max<std::int64_t>(interval.count(), 1);
  const std::int64_t rem = ((s % n) + n) % n;
  return TimePoint(std::chrono::seconds(s - rem));
}

// "key":"value", (the value escaped)
void key_string(std::string& out, std::string_view key, std::string_view value) {
  append_json_member(key, value, out);
}

std::string directory_of(const LogSpec& spec) {
  std::string dir = spec.path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

bool same_files(const LogSpec& a, const LogSpec& b) {
  return directory_of(a) == directory_of(b) && a.prefix == b.prefix && a.suffix == b.suffix;
}

// One file pattern: the records of the current interval, already as JSON.
struct Sink {
  LogSpec spec;
  std::chrono::seconds next_interval{60};  // a rebind's interval, from the next interval on
  TimePoint start{};                       // the first instant this interval covers
  TimePoint end{};                         // when it ends (exclusive)
  std::string body;                        // the records, ",\n" between them
  std::size_t records = 0;
  std::uint64_t interval_dropped = 0;
  std::unordered_set<std::uint64_t> seen;  // flow and action already in this interval
  SinkCounters counters;
  bool failing = false;     // the last file could not be written (logged once until it works)
  bool cap_logged = false;  // the cap was reported once
};

// One interval's file, taken from its sink under the lock and written without it.
struct DueFile {
  std::size_t sink = 0;
  std::string path;
  std::string document;
  std::size_t records = 0;
};

}  // namespace

void append_record_json(const FlowRecord& r, const MemberFields& f, std::string& out) {
  const FlowTuple& t = r.tuple;
  out += '{';
  key_string(out, "action", r.action);
  key_string(out, "target", r.target);
  append_tuple_json(t, out);
  if (f.ip_version == 4 || f.ip_version == 6) {
    key_string(out, "local_ip", to_string(f.local_addr, f.ip_version));
    key_string(out, "other_ip", to_string(f.other_addr, f.ip_version));
  }
  key_string(out, "app", r.app);
  key_string(out, "protocol", r.protocol);
  key_string(out, "category", r.category);
  key_string(out, "hostname", r.hostname);
  key_string(out, "detected_by", r.detected_by);
  key_string(out, "iface", r.iface);
  fmt::format_to(std::back_inserter(out),
                 "\"packets\":{},\"bytes\":{},\"first_seen\":{}.{:06d},\"last_seen\":{}.{:06d}}}",
                 r.packets, r.bytes, r.first_seen_us / 1000000, r.first_seen_us % 1000000,
                 r.last_seen_us / 1000000, r.last_seen_us % 1000000);
}

std::string file_timestamp(TimePoint t) {
  const std::tm tm = utc(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string file_name(const LogSpec& spec, TimePoint t) {
  std::string dir = directory_of(spec);
  if (dir != "/") dir += '/';
  return dir + spec.prefix + "-" + file_timestamp(t) + spec.suffix;
}

std::string check_spec(const LogSpec& spec) {
  if (spec.path.empty() || spec.path.front() != '/') {
    return "\"path\" must be an absolute directory, e.g. \"/tmp\", found '" + spec.path + "'";
  }
  if (spec.path.find('\0') != std::string::npos) return "\"path\" contains a NUL byte; remove it";
  for (const auto& [key, value] :
       {std::pair<const char*, const std::string&>{"prefix", spec.prefix},
        {"suffix", spec.suffix}}) {
    if (value.find('/') != std::string::npos || value.find('\0') != std::string::npos) {
      return std::string("\"") + key + "\" must not contain '/' or a NUL byte (it is part of " +
             "the file name); put directories in \"path\"";
    }
  }
  if (spec.prefix.size() + 1 + kTimestampChars + spec.suffix.size() > kMaxNameBytes) {
    return "\"prefix\" and \"suffix\" make file names longer than " +
           std::to_string(kMaxNameBytes) + " bytes; shorten them";
  }
  if (spec.interval.count() < 1 || spec.interval > kMaxInterval) {
    return "\"interval\" must be 1 to " + std::to_string(kMaxInterval.count()) + " seconds";
  }
  return "";
}

struct LogWriter::Impl {
  explicit Impl(LogWriterOptions o)
      : options(std::move(o)), queue(options.queue_capacity == 0 ? 1 : options.queue_capacity) {}

  LogWriterOptions options;
  BatchQueue<MemberChange> queue;

  mutable std::mutex mutex;  // sinks: bound from the main thread, filled by the writer thread
  std::vector<std::unique_ptr<Sink>> sinks;

  std::mutex sync_mutex;
  std::condition_variable sync_cv;
  std::uint64_t sync_requested = 0;
  std::uint64_t sync_done = 0;
  bool exited = false;

  std::mutex join_mutex;
  std::thread thread;

  [[nodiscard]] TimePoint now() const {
    return options.clock ? options.clock() : SystemClock::now();
  }

  // How long the thread may sleep: until the nearest interval end, at most one tick.
  std::chrono::steady_clock::duration wait_time() {
    std::chrono::steady_clock::duration wait = options.tick;
    const TimePoint t = now();
    std::lock_guard lock(mutex);
    for (const auto& s : sinks) {
      const auto left = s->end - t;
      if (left < wait) wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
    }
    return std::max<std::chrono::steady_clock::duration>(wait, std::chrono::milliseconds(1));
  }

  void run() {
    std::vector<MemberChange> batch;
    batch.reserve(kBatch);
    bool open = true;
    while (open) {
      open = queue.pop_batch_until(batch, kBatch, std::chrono::steady_clock::now() + wait_time());
      std::uint64_t requested = 0;
      {
        std::lock_guard lock(sync_mutex);
        requested = sync_requested;
      }
      // Intervals that ended before this batch arrived are written first: the batch belongs to
      // the interval running now.
      const TimePoint t = now();
      roll(t, false);
      {
        std::lock_guard lock(mutex);
        for (const MemberChange& c : batch) collect(c);
      }
      queue.handled(batch.size());
      {
        std::lock_guard lock(sync_mutex);
        sync_done = requested;
      }
      sync_cv.notify_all();
    }
    roll(now(), true);  // the last, partial intervals
    {
      std::lock_guard lock(sync_mutex);
      exited = true;
    }
    sync_cv.notify_all();
    queue.consumer_exited();
  }

  // With `mutex` held.
  void collect(const MemberChange& c) {
    if (c.sink.handle >= sinks.size() || !c.record) return;
    Sink& s = *sinks[c.sink.handle];
    // A flow re-added in the same interval (a reload, a window reopening) is listed once per
    // action.
    const bool known = c.flow.generation != 0;
    const std::uint64_t key =
        known ? ((static_cast<std::uint64_t>(c.flow.index) << 32) | c.flow.generation) ^
                    (std::hash<std::string>{}(c.record->action) * 0x9e3779b97f4a7c15ULL)
              : 0;
    if (known && s.seen.count(key) != 0) return;
    std::string record;
    append_record_json(*c.record, c.fields, record);
    if (s.records >= options.max_records ||
        kHeaderReserve + s.body.size() + 2 + record.size() > options.max_bytes) {
      ++s.interval_dropped;
      ++s.counters.dropped;
      if (!s.cap_logged) {
        s.cap_logged = true;
        logger().warn(
            "{}: a file holds at most {} records and {} bytes; records beyond are dropped, counted "
            "in the stats (dropped) and in each file's \"dropped\"; shorten \"interval\" or narrow "
            "the actions that name this target",
            s.counters.name, options.max_records, options.max_bytes);
      }
      return;
    }
    if (known) s.seen.insert(key);
    if (s.records != 0) s.body += ",\n";
    s.body += record;
    ++s.records;
  }

  // With `mutex` held: the interval holding `t` becomes the current one.
  static void restart(Sink& s, TimePoint t) {
    s.spec.interval = s.next_interval;
    const TimePoint floor = interval_floor(t, s.spec.interval);
    // After the clock was stepped back, the new interval starts now.
    s.start = t < s.end ? t : std::max(s.end, floor);
    s.end = floor + s.spec.interval;
    s.body.clear();
    s.body.shrink_to_fit();
    s.records = 0;
    s.interval_dropped = 0;
    s.seen.clear();
  }

  // Writes the file of every sink whose interval ended by `t` (every sink when `last`).
  void roll(TimePoint t, bool last) {
    std::vector<DueFile> due;
    {
      std::lock_guard lock(mutex);
      for (std::size_t i = 0; i < sinks.size(); ++i) {
        Sink& s = *sinks[i];
        // Due when its end has passed, or when the wall clock was stepped back before its
        // start (it would otherwise wait for the clock to catch up).
        if (!last && t < s.end && t >= s.start) continue;
        if (s.records != 0) {
          const TimePoint end = last ? std::min(t, s.end) : s.end;
          DueFile f;
          f.sink = i;
          f.path = file_name(s.spec, s.start);
          f.records = s.records;
          f.document = fmt::format(
              "{{\"interval_start\":\"{}\",\"interval_end\":\"{}\",\"interval_s\":{},"
              "\"records\":{},\"dropped\":{},\"flows\":[\n",
              iso_time(s.start), iso_time(end), s.spec.interval.count(), s.records,
              s.interval_dropped);
          f.document += s.body;
          f.document += "\n]}\n";
          due.push_back(std::move(f));
        }
        if (!last) restart(s, t);
      }
    }
    // One file open at a time, and never with the lock held: bind() and counters() do not wait
    // for the disk.
    for (DueFile& f : due) {
      errno = 0;
      const Status st = files::write_atomic(f.path, f.document, "log target file");
      const int err = errno;
      std::lock_guard lock(mutex);
      Sink& s = *sinks[f.sink];
      if (st) {
        ++s.counters.writes;
        s.counters.present += f.records;
        if (s.failing) logger().info("{}: writing works again ({})", s.counters.name, f.path);
        s.failing = false;
        continue;
      }
      ++s.counters.errors;
      ++s.counters.errors_by_errno[err];
      s.counters.dropped += f.records;
      if (!s.failing) {
        logger().error(
            "{}; its {} records are dropped (counted as dropped); check that the directory exists, "
            "is writable by the daemon and its file system has space",
            st.errors().front(), f.records);
      }
      s.failing = true;
    }
  }

  void stop() {
    queue.close();
    std::lock_guard join_lock(join_mutex);
    if (thread.joinable()) thread.join();
  }

  void sync() {
    queue.wait_handled();
    std::unique_lock lock(sync_mutex);
    const std::uint64_t target = ++sync_requested;
    queue.wake();
    sync_cv.wait(lock, [&] { return sync_done >= target || exited; });
  }

  Expected<std::uint16_t> bind(const std::any& any) {
    using Result = Expected<std::uint16_t>;
    const LogSpec* spec = std::any_cast<LogSpec>(&any);
    if (spec == nullptr)
      return Result::failure("log writer: the target's settings are not a LogSpec");
    if (std::string why = check_spec(*spec); !why.empty()) return Result::failure(why);
    const std::string dir = directory_of(*spec);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT) {
        return Result::failure("log directory " + dir + " does not exist; create it (mkdir -p " +
                               dir + ") or set \"path\" to an existing directory");
      }
      return Result::failure("log directory " + dir + ": " + std::strerror(err) +
                             "; set \"path\" to a directory the daemon can write");
    }
    if (!S_ISDIR(st.st_mode)) {
      return Result::failure("log path " + dir +
                             " is not a directory; set \"path\" to a directory");
    }
    if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0) {
      return Result::failure("cannot write in log directory " + dir + ": " + std::strerror(errno) +
                             "; make it writable for the daemon's user or set \"path\" to "
                             "another directory");
    }
    const TimePoint t = now();
    std::lock_guard lock(mutex);
    for (std::size_t i = 0; i < sinks.size(); ++i) {
      if (same_files(sinks[i]->spec, *spec)) {
        sinks[i]->next_interval = spec->interval;
        return static_cast<std::uint16_t>(i);
      }
    }
    if (sinks.size() > 0xffff) return Result::failure("log writer: too many log targets");
    auto s = std::make_unique<Sink>();
    s->spec = *spec;
    s->next_interval = spec->interval;
    s->start = t;
    s->end = interval_floor(t, spec->interval) + spec->interval;
    s->counters.name = "log " + file_glob(*spec);
    sinks.push_back(std::move(s));
    return static_cast<std::uint16_t>(sinks.size() - 1);
  }
};

std::unique_ptr<LogWriter> LogWriter::start(LogWriterOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  Impl* raw = impl.get();
  raw->thread = std::thread([raw] { raw->run(); });
  return std::unique_ptr<LogWriter>(new LogWriter(std::move(impl)));
}

Expected<std::unique_ptr<SinkWriter>> start_log_writer() {
  return std::unique_ptr<SinkWriter>(LogWriter::start());
}

LogWriter::LogWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LogWriter::~LogWriter() { stop(); }

bool LogWriter::submit(const MemberChange& change) noexcept {
  // A log has nothing to remove or refresh: only an add with its record is work.
  if (change.op != SetOp::kAdd || !change.record) return true;
  return impl_->queue.push(change);
}

Expected<std::uint16_t> LogWriter::bind(const std::any& spec) { return impl_->bind(spec); }

void LogWriter::stop() { impl_->stop(); }

void LogWriter::sync() { impl_->sync(); }

std::vector<SinkCounters> LogWriter::counters() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<SinkCounters> out;
  out.reserve(impl_->sinks.size());
  for (const auto& s : impl_->sinks) out.push_back(s->counters);
  return out;
}

}  // namespace ctlabeld::flowlog
