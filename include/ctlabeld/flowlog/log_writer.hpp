// SPDX-License-Identifier: GPL-3.0-or-later
// The log target's writer: records of matched flows collected per sink (a file pattern) for an
// interval, then written as one JSON document per sink and interval, atomically, off the packet
// path. Nothing is written for an interval without records; the last one is written at stop().
#pragma once

#include "ctlabeld/common/json_text.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/sink_writer.hpp"
#include "ctlabeld/flowlog/log_spec.hpp"

namespace ctlabeld::flowlog {

using WallClock = std::function<std::chrono::system_clock::time_point()>;

struct LogWriterOptions {
  WallClock clock;  // null: the system clock (tests inject one to cross intervals at will)
  std::size_t max_records = defaults::kLogMaxRecordsPerFile;  // per file
  std::size_t max_bytes = defaults::kLogMaxFileBytes;         // per file
  std::size_t queue_capacity = defaults::kLogQueueCapacity;
  std::chrono::milliseconds tick = defaults::kLogTick;
};

class LogWriter final : public SinkWriter {
 public:
  // Starts the writer thread.
  [[nodiscard]] static std::unique_ptr<LogWriter> start(LogWriterOptions options = {});
  ~LogWriter() override;
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Any thread: queues an add that carries a record; anything else is ignored (a log has
  // nothing to remove). False: the queue is full or the writer stopped.
  [[nodiscard]] bool submit(const MemberChange& change) noexcept override;
  // `spec` holds a LogSpec. A sink is its file pattern (path, prefix, suffix): binding the same
  // pattern again gives the same handle and takes the new interval from the next interval on.
  [[nodiscard]] Expected<std::uint16_t> bind(const std::any& spec) override;
  void stop() override;
  // Per sink: writes = files written, present = records in them, dropped = records over the
  // per-file cap or in a file that could not be written, errors = failed files by errno.
  [[nodiscard]] std::vector<SinkCounters> counters() const override;

  // Waits until everything queued so far is collected and every interval that has ended by the
  // clock is written (tests: advance an injected clock, then sync()).
  void sync();

 private:
  struct Impl;
  explicit LogWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The daemon's writer table row (src/writers.cpp): a LogWriter with the defaults.
[[nodiscard]] Expected<std::unique_ptr<SinkWriter>> start_log_writer();

// One record as the file holds it (a JSON object, no newline), appended to `out`.
void append_record_json(const FlowRecord& record, const MemberFields& fields, std::string& out);
using ctlabeld::append_json_string;  // common/json_text.hpp
using ctlabeld::append_tuple_json;
// "20261202T154000Z" (UTC, whole seconds).
[[nodiscard]] std::string file_timestamp(std::chrono::system_clock::time_point t);
// "<path>/<prefix>-<timestamp><suffix>".
[[nodiscard]] std::string file_name(const LogSpec& spec, std::chrono::system_clock::time_point t);
// What is wrong with a spec ("" when fine): messages name the key and the fix.
[[nodiscard]] std::string check_spec(const LogSpec& spec);

}  // namespace ctlabeld::flowlog
