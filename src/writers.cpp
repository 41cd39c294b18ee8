// SPDX-License-Identifier: GPL-3.0-or-later
// The writer table and the binder that starts writers on demand.
#include "writers.hpp"

#include <string>

#include "ctlabeld/flowlog/log_writer.hpp"
#include "ctlabeld/ipset/sink_writer.hpp"

namespace ctlabeld::app {

const std::vector<SinkWriterRow>& sink_writer_rows() {
  static const std::vector<SinkWriterRow> rows = {
      {"log", true, &flowlog::start_log_writer},
      {"ipset", false, &ipset::start_sink_writer},
  };
  return rows;
}

SinkWriters::~SinkWriters() { stop(); }

Expected<SinkRef> SinkWriters::bind(std::string_view type, const std::any& spec) {
  const auto& rows = sink_writer_rows();
  std::size_t row = 0;
  while (row < rows.size() && rows[row].type != type) ++row;
  if (row == rows.size() || row >= kMaxRows) {
    std::string message = "target type '";
    message.append(type).append("' has no writer in this build");
    return Expected<SinkRef>::failure(message);
  }
  SinkWriter* writer = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (!owned_[row]) {
      auto started = rows[row].start();
      if (!started) return Expected<SinkRef>::failure(started.errors());
      owned_[row] = std::move(started.value());
      writers_[row].store(owned_[row].get(), std::memory_order_release);
    }
    writer = owned_[row].get();
  }
  auto handle = writer->bind(spec);
  if (!handle) return Expected<SinkRef>::failure(handle.errors());
  return SinkRef{static_cast<std::uint8_t>(row), handle.value()};
}

SinkWriter* SinkWriters::writer(std::uint8_t row) const noexcept {
  return row < kMaxRows ? writers_[row].load(std::memory_order_acquire) : nullptr;
}

bool SinkWriters::records(std::uint8_t row) const noexcept {
  const auto& rows = sink_writer_rows();
  return row < rows.size() && rows[row].records;
}

void SinkWriters::stop() {
  std::lock_guard lock(mutex_);
  for (auto& w : owned_) {
    if (w) w->stop();
  }
}

std::vector<SinkCounters> SinkWriters::counters() const {
  std::lock_guard lock(mutex_);
  std::vector<SinkCounters> out;
  for (const auto& w : owned_) {
    if (!w) continue;
    auto c = w->counters();
    out.insert(out.end(), std::make_move_iterator(c.begin()), std::make_move_iterator(c.end()));
  }
  return out;
}

}  // namespace ctlabeld::app
