// SPDX-License-Identifier: GPL-3.0-or-later
// What a set writer (nftset, ipset) is handed per element, and what it answers per element.
#pragma once

#include <array>
#include <cstdint>

#include "ctlabeld/common/net.hpp"

namespace ctlabeld {

// The flow values a set member is built from; each set type picks the fields it stores.
// "local" is the LAN side of the flow, "other" the remote side, as in Netify's criteria.
struct MemberFields {
  std::uint8_t ip_version = 0;  // 4 or 6
  std::uint8_t ip_protocol = 0;
  std::uint16_t local_port = 0;
  std::uint16_t other_port = 0;
  Address local_addr{};
  Address other_addr{};
  std::uint32_t mark = 0;             // the connection's conntrack mark
  std::array<char, 16> interface {};  // NUL-padded, IFNAMSIZ
  std::array<std::uint8_t, 6> local_mac{};
  std::array<std::uint8_t, 6> other_mac{};
};

enum class SetOp : std::uint8_t {
  kAdd,      // add the member (an existing one keeps its place: -exist / no NLM_F_EXCL)
  kRefresh,  // the member is present: restart its timeout
  kDelete,   // remove the member
};

enum class MemberOutcome : std::uint8_t {
  kApplied,   // the kernel accepted it
  kAbsent,    // delete of a member that was not there (expired, removed by someone else; nftset
              // answers ENOENT alike when the set itself is gone; ipset's -exist never tells)
  kSetFull,   // the set holds its maximum number of elements (ENFILE / IPSET_ERR_HASH_FULL)
  kNoSet,     // the set (or its table) does not exist
  kRejected,  // the kernel refused this element (wrong family, bad value): not retried
  kFailed,    // any other error (see `error`); the caller may retry
};

struct MemberResult {
  MemberOutcome outcome = MemberOutcome::kFailed;
  int error = 0;  // the errno the kernel answered, 0 when applied
};

}  // namespace ctlabeld
