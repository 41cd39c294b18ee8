// SPDX-License-Identifier: GPL-3.0-or-later
// Netify's per-action time_of_day windows as a pure function of time: is the action's schedule
// open at instant t in a named IANA zone, and when does that next change.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/common/expected.hpp"

namespace date {
class time_zone;
}

namespace ctlabeld::actions {

using SysSeconds = std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds>;

// An IANA zone read from the system's tzdata (/usr/share/zoneinfo) by the date library:
// no process-wide TZ switching, so workers can ask from any thread.
class TimeZone {
 public:
  // "" = the system's local zone (/etc/localtime), UTC when the system names none.
  static Expected<TimeZone> locate(std::string_view name);
  static TimeZone utc();
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const date::time_zone* zone() const noexcept { return zone_; }

 private:
  const date::time_zone* zone_ = nullptr;  // owned by the date library's tz database
  std::string name_;
};

enum class WindowPolicy : std::uint8_t { kInclusive, kExclusive };

// One window of local wall-clock time on one weekday. end < start runs past midnight into the
// next day; start is inside the window, end is not (09:00-17:00 is closed at 17:00:00).
struct TimeWindow {
  std::uint8_t day = 0;            // 0 = Monday ... 6 = Sunday
  std::uint16_t start_minute = 0;  // 0..1439
  std::uint16_t end_minute = 0;    // 0..1440 (24:00)
  WindowPolicy policy = WindowPolicy::kInclusive;
};

// "mon".."sun" (case-insensitive) -> 0..6.
std::optional<std::uint8_t> parse_weekday(std::string_view text);
// "HH:MM" (00:00-23:59; "24:00" when allow_24 is set) -> minute of the day.
std::optional<std::uint16_t> parse_clock(std::string_view text, bool allow_24);
std::string format_window(const TimeWindow& window);

// The windows of one action. Open when no window is given; otherwise open when some inclusive
// window holds (or none is inclusive) and no exclusive window holds.
class Schedule {
 public:
  Schedule() = default;
  Schedule(std::vector<TimeWindow> windows, TimeZone zone);

  [[nodiscard]] bool empty() const noexcept { return windows_.empty(); }
  [[nodiscard]] bool open(SysSeconds t) const;
  // The first instant after t at which open() changes, looking at most 8 days ahead; nullopt
  // when it never changes (no windows, or windows that cover every minute of the week).
  [[nodiscard]] std::optional<SysSeconds> next_edge(SysSeconds t) const;
  [[nodiscard]] const std::vector<TimeWindow>& windows() const noexcept { return windows_; }
  [[nodiscard]] const TimeZone& zone() const noexcept { return zone_; }

 private:
  [[nodiscard]] bool holds(const TimeWindow& w, unsigned weekday, unsigned minute) const noexcept;
  std::vector<TimeWindow> windows_;
  TimeZone zone_;
};

}  // namespace ctlabeld::actions
