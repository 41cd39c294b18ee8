// SPDX-License-Identifier: GPL-3.0-or-later
// What a log target asks of the log writer: where its files go and how often a new one starts.
// Header-only so the actions stage builds it without linking the writer.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace ctlabeld::flowlog {

struct LogSpec {
  std::string path = "/tmp";  // an absolute directory
  std::string prefix = "netify-flow-actions";
  std::string suffix = ".json";
  std::chrono::seconds interval{60};
  friend bool operator==(const LogSpec&, const LogSpec&) = default;
};

// Netify's bounds and ours: a day at most; a file name of at most NAME_MAX (255) bytes.
inline constexpr std::chrono::seconds kMaxInterval{86400};
inline constexpr std::size_t kTimestampChars = 16;  // YYYYmmddTHHMMSSZ
inline constexpr std::size_t kMaxNameBytes = 255;

// The resolved file pattern, e.g. "/tmp/netify-flow-actions-<YYYYmmddTHHMMSSZ>.json".
inline std::string file_pattern(const LogSpec& spec) {
  std::string dir = spec.path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir != "/") dir += '/';
  return dir + spec.prefix + "-<YYYYmmddTHHMMSSZ>" + spec.suffix;
}

// The same with a shell glob for the timestamp, for consumers ("/tmp/netify-flow-actions-*.json").
inline std::string file_glob(const LogSpec& spec) {
  std::string dir = spec.path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir != "/") dir += '/';
  return dir + spec.prefix + "-*" + spec.suffix;
}

}  // namespace ctlabeld::flowlog
