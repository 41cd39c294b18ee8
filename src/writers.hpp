// SPDX-License-Identifier: GPL-3.0-or-later
// The writer table of the sink target types (nftset, ipset, log): one row per type names the
// writer that serves it. The daemon binds the actions file's sinks through it (SinkBinder): a
// type's writer starts on the first sink of that type, so a file without nftset targets opens
// no nftables socket. The enforcement stage submits to the writers by row (SinkRef::writer).
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/sink_writer.hpp"

namespace ctlabeld::app {

struct SinkWriterRow {
  std::string_view type;  // the target type the writer serves
  // The writer takes records (adds carry a FlowRecord) and has nothing to remove (log).
  bool records = false;
  Expected<std::unique_ptr<SinkWriter>> (*start)();
};

// The table (writers.cpp). A new sink type: one row.
[[nodiscard]] const std::vector<SinkWriterRow>& sink_writer_rows();

class SinkWriters final : public SinkBinder, public SinkTable {
 public:
  SinkWriters() = default;
  SinkWriters(const SinkWriters&) = delete;
  SinkWriters& operator=(const SinkWriters&) = delete;
  ~SinkWriters() override;

  // Main thread (load, reload): starts the type's writer when needed, then binds the sink.
  Expected<SinkRef> bind(std::string_view type, const std::any& spec) override;
  // Any thread: the row's writer once started (a reload may start one), else null.
  [[nodiscard]] SinkWriter* writer(std::uint8_t row) const noexcept override;
  [[nodiscard]] bool records(std::uint8_t row) const noexcept override;
  // Stops every started writer (after the workers finished): drains, flushes, joins.
  void stop();
  [[nodiscard]] std::vector<SinkCounters> counters() const;

 private:
  static constexpr std::size_t kMaxRows = 8;
  mutable std::mutex mutex_;  // starting and stopping writers
  std::array<std::unique_ptr<SinkWriter>, kMaxRows> owned_;
  std::array<std::atomic<SinkWriter*>, kMaxRows> writers_{};  // by row; null until started
};

}  // namespace ctlabeld::app
