// SPDX-License-Identifier: GPL-3.0-or-later
// A label writer for tests without root: accepts or refuses as told and keeps what it accepted.
#pragma once

#include <cstddef>
#include <vector>

#include "ctlabeld/common/effect_writer.hpp"
#include "ctlabeld/common/sink_writer.hpp"
#include "ctlabeld/conntrack/label_writer.hpp"

namespace ctlabeld::test {

struct FakeLabelWriter final : EffectWriter<conntrack::LabelUpdate> {
  std::size_t refuse = 0;  // refuse this many submits, then accept
  std::size_t refused = 0;
  std::vector<conntrack::LabelUpdate> accepted;
  bool submit(const conntrack::LabelUpdate& update) noexcept override {
    if (refuse > 0) {
      --refuse;
      ++refused;
      return false;
    }
    accepted.push_back(update);
    return true;
  }
};

}  // namespace ctlabeld::test

namespace ctlabeld::test {

// A sink writer for tests without root: refuses as told, keeps what it accepted.
struct FakeSinkWriter final : SinkWriter {
  std::size_t refuse = 0;
  std::vector<MemberChange> accepted;
  bool submit(const MemberChange& change) noexcept override {
    if (refuse > 0) {
      --refuse;
      return false;
    }
    accepted.push_back(change);
    return true;
  }
  Expected<std::uint16_t> bind(const std::any&) override { return std::uint16_t{0}; }
  void stop() override {}
  std::vector<SinkCounters> counters() const override { return {}; }
};

// Row 0: a set writer; row 1: a records writer (log).
struct FakeSinkTable final : SinkTable {
  FakeSinkWriter sets;
  FakeSinkWriter log;
  SinkWriter* writer(std::uint8_t row) const noexcept override {
    return row == 0   ? const_cast<FakeSinkWriter*>(&sets)
           : row == 1 ? const_cast<FakeSinkWriter*>(&log)
                      : nullptr;
  }
  bool records(std::uint8_t row) const noexcept override { return row == 1; }
};

}  // namespace ctlabeld::test
