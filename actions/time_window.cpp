// SPDX-License-Identifier: GPL-3.0-or-later
// time_of_day windows on the date library's IANA zones: local wall time from a UTC instant,
// and the instants at which a window boundary falls, including DST gaps and repeated hours.
#include "ctlabeld/actions/time_window.hpp"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

namespace ctlabeld::actions {
namespace {

constexpr std::array<std::string_view, 7> kDays = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
constexpr int kHorizonDays = 8;

struct LocalClock {
  unsigned weekday;  // 0 = Monday
  unsigned minute;   // of the day
};

LocalClock local_clock(const date::time_zone* zone, SysSeconds t) {
  const date::local_seconds local = zone->to_local(t);
  const date::local_days day = date::floor<date::days>(local);
  const unsigned c_weekday = date::weekday(day).c_encoding();  // 0 = Sunday
  const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(local - day).count();
  return {(c_weekday + 6) % 7, static_cast<unsigned>(minutes)};
}

}  // namespace

Expected<TimeZone> TimeZone::locate(std::string_view name) {
  TimeZone z;
  try {
    if (name.empty()) {
      try {
        z.zone_ = date::current_zone();
      } catch (const std::exception&) {
        z.zone_ = date::locate_zone("UTC");
      }
    } else {
      z.zone_ = date::locate_zone(name);
    }
  } catch (const std::exception&) {
    return Expected<TimeZone>::failure("'" + std::string(name) +
                                       "' is not an IANA time zone name known to the system "
                                       "tzdata; write e.g. \"Europe/Berlin\" or \"UTC\"");
  }
  z.name_ = std::string(z.zone_->name());
  return z;
}

TimeZone TimeZone::utc() {
  auto z = locate("UTC");
  return z ? z.value() : TimeZone{};
}

std::optional<std::uint8_t> parse_weekday(std::string_view text) {
  if (text.size() != 3) return std::nullopt;
  std::string lower(text);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto it = std::find(kDays.begin(), kDays.end(), lower);
  if (it == kDays.end()) return std::nullopt;
  return static_cast<std::uint8_t>(it - kDays.begin());
}

std::optional<std::uint16_t> parse_clock(std::string_view text, bool allow_24) {
  // H:MM or HH:MM, two-digit minutes.
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 2 || text.size() != colon + 3) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i != colon && !std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
  }
  unsigned hours = 0;
  for (std::size_t i = 0; i < colon; ++i) hours = hours * 10 + unsigned(text[i] - '0');
  const unsigned minutes = unsigned(text[colon + 1] - '0') * 10 + unsigned(text[colon + 2] - '0');
  if (minutes > 59) return std::nullopt;
  if (hours == 24 && minutes == 0 && allow_24) return std::uint16_t{1440};
  if (hours > 23) return std::nullopt;
  return static_cast<std::uint16_t>(hours * 60 + minutes);
}

std::string format_window(const TimeWindow& w) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s %02u:%02u-%02u:%02u %s", std::string(kDays[w.day % 7]).c_str(),
                unsigned(w.start_minute / 60), unsigned(w.start_minute % 60),
                unsigned(w.end_minute / 60), unsigned(w.end_minute % 60),
                w.policy == WindowPolicy::kInclusive ? "inclusive" : "exclusive");
  return buf;
}

Schedule::Schedule(std::vector<TimeWindow> windows, TimeZone zone)
    : windows_(std::move(windows)), zone_(std::move(zone)) {}

bool Schedule::holds(const TimeWindow& w, unsigned weekday, unsigned minute) const noexcept {
  if (w.start_minute < w.end_minute) {
    return weekday == w.day && minute >= w.start_minute && minute < w.end_minute;
  }
  // Past midnight: the start day's evening and the next day's morning.
  return (weekday == w.day && minute >= w.start_minute) ||
         (weekday == (w.day + 1u) % 7 && minute < w.end_minute);
}

bool Schedule::open(SysSeconds t) const {
  if (windows_.empty() || zone_.zone() == nullptr) return true;
  const LocalClock now = local_clock(zone_.zone(), t);
  bool any_inclusive = false, inclusive_holds = false;
  for (const auto& w : windows_) {
    const bool h = holds(w, now.weekday, now.minute);
    if (w.policy == WindowPolicy::kExclusive) {
      if (h) return false;
    } else {
      any_inclusive = true;
      inclusive_holds = inclusive_holds || h;
    }
  }
  return !any_inclusive || inclusive_holds;
}

std::optional<SysSeconds> Schedule::next_edge(SysSeconds t) const {
  if (windows_.empty() || zone_.zone() == nullptr) return std::nullopt;
  const date::time_zone* zone = zone_.zone();
  std::set<unsigned> boundaries;  // minutes of the day at which some window opens or closes
  for (const auto& w : windows_) {
    boundaries.insert(w.start_minute);
    boundaries.insert(w.end_minute % 1440u);
  }
  // Between two consecutive candidates local time moves on without crossing a boundary minute,
  // so open() is constant there: the candidates are every instant that local time reaches a
  // boundary (twice in a repeated hour; at the jump when a DST gap swallows it) and every zone
  // transition.
  std::set<SysSeconds> candidates;
  const date::local_days today = date::floor<date::days>(zone->to_local(t));
  for (int d = -1; d <= kHorizonDays; ++d) {
    for (const unsigned b : boundaries) {
      const date::local_seconds local = today + date::days{d} + std::chrono::minutes{b};
      const date::local_info info = zone->get_info(local);
      switch (info.result) {
        case date::local_info::unique:
          candidates.insert(SysSeconds{local.time_since_epoch() - info.first.offset});
          break;
        case date::local_info::nonexistent: candidates.insert(info.first.end); break;
        case date::local_info::ambiguous:
          candidates.insert(SysSeconds{local.time_since_epoch() - info.first.offset});
          candidates.insert(SysSeconds{local.time_since_epoch() - info.second.offset});
          break;
      }
    }
  }
  const SysSeconds horizon = t + date::days{kHorizonDays};
  for (SysSeconds s = t; s < horizon;) {
    const date::sys_info info = zone->get_info(s);
    if (info.end <= s || info.end > horizon) break;
    candidates.insert(info.end);
    s = info.end;
  }
  const bool now_open = open(t);
  for (auto it = candidates.upper_bound(t); it != candidates.end() && *it <= horizon; ++it) {
    if (open(*it) != now_open) return *it;
  }
  return std::nullopt;
}

}  // namespace ctlabeld::actions
