// SPDX-License-Identifier: GPL-3.0-or-later
// The fuzz_packet input format, shared by the target and its seed extractor so they agree.
//   byte 0: bits 0-3 pick the link type (kFuzzLinks[i % size]; the last entry is unsupported);
//           bit 6: jump the clock past every idle timeout before expire() (flush() always follows)
//   then frames, each [u16 big-endian length][bytes]; a length past the end takes what is left.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "ctlabeld/capture/packet.hpp"

namespace ctlabeld::fuzz {

inline constexpr std::array kFuzzLinks = {
    capture::LinkType::kEthernet,
    capture::LinkType::kNull,
    capture::LinkType::kPpp,
    capture::LinkType::kRaw,
    capture::LinkType::kRawAlt,
    capture::LinkType::kPppSerial,
    capture::LinkType::kCHdlc,
    capture::LinkType::kLoop,
    capture::LinkType::kLinuxSll,
    capture::LinkType::kIpv4,
    capture::LinkType::kIpv6,
    capture::LinkType::kNflog,
    capture::LinkType::kLinuxSll2,
    static_cast<capture::LinkType>(147),  // DLT_USER0: the kUnsupportedLink path
};
inline constexpr std::uint8_t kJumpClockBit = 0x40;

// The selector byte for a link type, or nothing if kFuzzLinks lacks it.
inline std::optional<std::uint8_t> link_selector(capture::LinkType link) {
  for (std::size_t i = 0; i < kFuzzLinks.size(); ++i) {
    if (kFuzzLinks[i] == link) return static_cast<std::uint8_t>(i);
  }
  return std::nullopt;
}

}  // namespace ctlabeld::fuzz
