// SPDX-License-Identifier: GPL-3.0-or-later
// A label writer for tests without root: accepts or refuses as told and keeps what it accepted.
#pragma once

#include <cstddef>
#include <vector>

#include "ctlabeld/common/effect_writer.hpp"
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
