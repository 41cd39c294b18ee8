// SPDX-License-Identifier: GPL-3.0-or-later
// The stable identifier of a flow across stages: the classifier's record slot and the slot's
// generation, so an identifier of a flow that ended never names the flow that reuses the slot.
#pragma once

#include <cstdint>

namespace ctlabeld {

struct FlowId {
  std::uint32_t index = 0;       // the record slot in the classifier's flow table
  std::uint32_t generation = 0;  // bumped each time the slot is reused; 0: no flow
  friend bool operator==(const FlowId&, const FlowId&) = default;
};

}  // namespace ctlabeld
