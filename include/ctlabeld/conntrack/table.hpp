// SPDX-License-Identifier: GPL-3.0-or-later
// Direct conntrack-table operations for tests, benchmarks and the self-check: batched creates,
// deletes and a dump with labels. The daemon itself only writes labels (label_writer.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/labels.hpp"
#include "ctlabeld/common/net.hpp"

namespace ctlabeld::conntrack {

struct EntrySpec {
  FlowTuple original{};
  std::optional<FlowTuple> reply;  // default: `original` reversed (no NAT)
  std::uint32_t timeout_s = 600;
  std::optional<LabelBits> labels;  // set at creation (needs label storage)
};

struct BatchResult {
  std::size_t ok = 0;
  std::size_t failed = 0;
  std::map<int, std::size_t> errors_by_errno;
};

// Creates entries in the current network namespace, `batch` per sendmsg.
[[nodiscard]] Expected<BatchResult> create_entries(const std::vector<EntrySpec>& entries,
                                                   std::size_t batch = 256);
// Deletes entries by original tuple.
[[nodiscard]] Expected<BatchResult> delete_entries(const std::vector<FlowTuple>& originals,
                                                   std::size_t batch = 256);

struct EntryLabels {
  FlowTuple original{};
  FlowTuple reply{};
  LabelBits labels;
  bool has_labels = false;  // the kernel reported a label attribute
  std::uint32_t mark = 0;   // the conntrack mark (0 when the kernel reported none)
};
// Every entry of the current network namespace, with its labels and mark.
[[nodiscard]] Expected<std::vector<EntryLabels>> dump_entries();

// The tuple a reply packet carries: addresses and ports swapped, ICMP request types turned into
// their reply types. Nothing for ICMP types that have no reply.
[[nodiscard]] std::optional<FlowTuple> reversed(const FlowTuple& tuple) noexcept;

}  // namespace ctlabeld::conntrack
