// SPDX-License-Identifier: GPL-3.0-or-later
// time_of_day: the pure window model (open at t in a named zone, next edge after t) across
// midnight and both DST changes, and a rule set driven by a fake clock through its edges.
#include <catch2/catch.hpp>
#include <date/tz.h>

#include "ctlabeld/actions/config.hpp"
#include "ctlabeld/actions/time_window.hpp"
#include "test_support.hpp"

using namespace ctlabeld;
using namespace ctlabeld::actions;
using namespace std::chrono_literals;

namespace {

// A wall-clock time in Berlin, as the instant it names (the earlier one when it occurs twice).
SysSeconds berlin(int y, unsigned m, unsigned d, int hh, int mm, int ss = 0) {
  const auto* zone = date::locate_zone("Europe/Berlin");
  const date::local_seconds local = date::local_days{date::year{y} / m / d} +
                                    std::chrono::hours{hh} + std::chrono::minutes{mm} +
                                    std::chrono::seconds{ss};
  return zone->to_sys(local, date::choose::earliest);
}
SysSeconds utc(int y, unsigned m, unsigned d, int hh, int mm) {
  return date::sys_days{date::year{y} / m / d} + std::chrono::hours{hh} + std::chrono::minutes{mm};
}

TimeZone zone(const char* name) {
  auto z = TimeZone::locate(name);
  REQUIRE(z.ok());
  return z.value();
}

TimeWindow window(const char* day, const char* start, const char* end,
                  WindowPolicy policy = WindowPolicy::kInclusive) {
  return TimeWindow{*parse_weekday(day), *parse_clock(start, false), *parse_clock(end, true),
                    policy};
}

}  // namespace

TEST_CASE("time windows: parsing days and clock times", "[actions][time]") {
  CHECK(parse_weekday("mon") == 0);
  CHECK(parse_weekday("SUN") == 6);
  CHECK_FALSE(parse_weekday("monday"));
  CHECK_FALSE(parse_weekday("xyz"));
  CHECK(parse_clock("00:00", false) == 0);
  CHECK(parse_clock("9:05", false) == 545);
  CHECK(parse_clock("23:59", false) == 1439);
  CHECK(parse_clock("24:00", true) == 1440);
  CHECK_FALSE(parse_clock("24:00", false));
  CHECK_FALSE(parse_clock("24:01", true));
  CHECK_FALSE(parse_clock("12:60", false));
  CHECK_FALSE(parse_clock("1200", false));
  CHECK_FALSE(parse_clock("12:5", false));
  CHECK_FALSE(parse_clock("ab:cd", false));
  CHECK(format_window(window("fri", "22:00", "02:00")) == "fri 22:00-02:00 inclusive");
  CHECK_FALSE(TimeZone::locate("Europe/Nowhere").ok());
  CHECK(TimeZone::locate("Europe/Nowhere").errors()[0] ==
        "'Europe/Nowhere' is not an IANA time zone name known to the system tzdata; write e.g. "
        "\"Europe/Berlin\" or \"UTC\"");
}

TEST_CASE("time windows: a weekday window, start inside and end outside", "[actions][time]") {
  const Schedule s({window("mon", "09:00", "17:00")}, zone("Europe/Berlin"));
  struct Row {
    SysSeconds t;
    bool open;
  };
  const Row rows[] = {
      {berlin(2026, 3, 2, 8, 59, 59), false}, {berlin(2026, 3, 2, 9, 0), true},
      {berlin(2026, 3, 2, 16, 59, 59), true}, {berlin(2026, 3, 2, 17, 0), false},
      {berlin(2026, 3, 3, 10, 0), false},  // Tuesday
      {utc(2026, 3, 2, 8, 30), true},      // 09:30 in Berlin (UTC+1)
      {utc(2026, 3, 2, 16, 30), false},    // 17:30 in Berlin
  };
  for (const auto& row : rows) CHECK(s.open(row.t) == row.open);
  CHECK(s.next_edge(berlin(2026, 3, 2, 8, 0)) == berlin(2026, 3, 2, 9, 0));
  CHECK(s.next_edge(berlin(2026, 3, 2, 9, 0)) == berlin(2026, 3, 2, 17, 0));
  CHECK(s.next_edge(berlin(2026, 3, 2, 17, 0)) == berlin(2026, 3, 9, 9, 0));  // next Monday
  // The same window in another zone opens at another instant.
  const Schedule tokyo({window("mon", "09:00", "17:00")}, zone("Asia/Tokyo"));
  CHECK(tokyo.next_edge(utc(2026, 3, 1, 12, 0)) == utc(2026, 3, 2, 0, 0));
}

TEST_CASE("time windows: past midnight", "[actions][time]") {
  const Schedule s({window("fri", "22:00", "02:00")}, zone("Europe/Berlin"));
  CHECK_FALSE(s.open(berlin(2026, 3, 6, 21, 59)));
  CHECK(s.open(berlin(2026, 3, 6, 22, 0)));
  CHECK(s.open(berlin(2026, 3, 6, 23, 59, 59)));
  CHECK(s.open(berlin(2026, 3, 7, 0, 0)));
  CHECK(s.open(berlin(2026, 3, 7, 1, 59)));
  CHECK_FALSE(s.open(berlin(2026, 3, 7, 2, 0)));
  CHECK_FALSE(s.open(berlin(2026, 3, 8, 1, 0)));  // Sunday morning: not Saturday's
  CHECK(s.next_edge(berlin(2026, 3, 6, 23, 0)) == berlin(2026, 3, 7, 2, 0));
  // 24:00 is the end of the day.
  const Schedule evening({window("sat", "20:00", "24:00")}, zone("UTC"));
  CHECK(evening.open(utc(2026, 3, 7, 23, 59)));
  CHECK_FALSE(evening.open(utc(2026, 3, 8, 0, 0)));
  CHECK(evening.next_edge(utc(2026, 3, 7, 21, 0)) == utc(2026, 3, 8, 0, 0));
}

TEST_CASE("time windows: DST spring forward skips local times", "[actions][time]") {
  // Berlin 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC; 02:30 never happens.
  const Schedule s({window("sun", "02:30", "04:00")}, zone("Europe/Berlin"));
  CHECK_FALSE(s.open(utc(2026, 3, 29, 0, 59)));  // 01:59 CET
  CHECK(s.open(utc(2026, 3, 29, 1, 0)));         // 03:00 CEST: past 02:30
  CHECK(s.next_edge(utc(2026, 3, 29, 0, 30)) == utc(2026, 3, 29, 1, 0));
  CHECK(s.next_edge(utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 29, 2, 0));  // 04:00 CEST
  // A window wholly inside the skipped hour never opens that day.
  const Schedule gap({window("sun", "02:10", "02:50")}, zone("Europe/Berlin"));
  for (auto t = utc(2026, 3, 28, 23, 0); t < utc(2026, 3, 29, 4, 0); t += 5min) {
    CHECK_FALSE(gap.open(t));
  }
}

TEST_CASE("time windows: DST fall back repeats local times", "[actions][time]") {
  // Berlin 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:15 happens twice.
  const Schedule s({window("sun", "02:15", "02:45")}, zone("Europe/Berlin"));
  std::vector<SysSeconds> edges;
  SysSeconds t = utc(2026, 10, 24, 22, 0);
  for (int i = 0; i < 4; ++i) {
    const auto e = s.next_edge(t);
    REQUIRE(e);
    edges.push_back(*e);
    t = *e;
  }
  const std::vector<SysSeconds> expected = {utc(2026, 10, 25, 0, 15), utc(2026, 10, 25, 0, 45),
                                            utc(2026, 10, 25, 1, 15), utc(2026, 10, 25, 1, 45)};
  CHECK(edges == expected);
  CHECK(s.open(utc(2026, 10, 25, 0, 30)));
  CHECK_FALSE(s.open(utc(2026, 10, 25, 1, 0)));
  CHECK(s.open(utc(2026, 10, 25, 1, 30)));
}

TEST_CASE("time windows: exclusive windows and whole-week schedules", "[actions][time]") {
  std::vector<TimeWindow> w;
  for (const char* d : {"mon", "tue", "wed", "thu", "fri"})
    w.push_back(window(d, "08:00", "18:00"));
  w.push_back(window("mon", "12:00", "13:00", WindowPolicy::kExclusive));
  const Schedule s(w, zone("UTC"));
  CHECK(s.open(utc(2026, 3, 2, 11, 59)));
  CHECK_FALSE(s.open(utc(2026, 3, 2, 12, 30)));
  CHECK(s.open(utc(2026, 3, 3, 12, 30)));  // Tuesday: no lunch break
  CHECK(s.next_edge(utc(2026, 3, 2, 11, 0)) == utc(2026, 3, 2, 12, 0));
  CHECK(s.next_edge(utc(2026, 3, 2, 12, 0)) == utc(2026, 3, 2, 13, 0));
  // Only exclusive windows: open outside them.
  const Schedule night({window("sat", "00:00", "06:00", WindowPolicy::kExclusive)}, zone("UTC"));
  CHECK(night.open(utc(2026, 3, 6, 12, 0)));
  CHECK_FALSE(night.open(utc(2026, 3, 7, 3, 0)));
  // Every minute of the week: never an edge.
  std::vector<TimeWindow> all;
  for (const char* d : {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}) {
    all.push_back(window(d, "00:00", "24:00"));
  }
  CHECK_FALSE(Schedule(all, zone("UTC")).next_edge(utc(2026, 3, 2, 0, 0)));
  CHECK_FALSE(Schedule().next_edge(utc(2026, 3, 2, 0, 0)));
  CHECK(Schedule().open(utc(2026, 3, 2, 0, 0)));
}

TEST_CASE("time windows: a fake clock walks a rule set through its edges", "[actions][time]") {
  // Labels appear and disappear on time: across midnight, and across the spring DST change.
  const char* json = R"({
    "reprocess_flows": true,
    "timezone": "Europe/Berlin",
    "targets": { "games": { "target_type": "ctlabel", "labels": ["streaming"] } },
    "actions": {
      "late-games": {
        "criteria": "app == 'zoom';",
        "targets": ["games"],
        "time_of_day": [ { "day": ["sat"], "time_start": "22:00", "time_end": "01:30",
                           "policy": "inclusive" } ]
      }
    }
  })";
  auto loaded = load_config_text(json, "tod.json", test::file_factory(), test::risk_lookup());
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  const auto& rules = *loaded->rules;
  REQUIRE(rules.has_windows());
  test::TestFlow f("192.168.1.10", 50000, "170.114.10.5", 443, 6);
  f.verdict.app = "zoom";
  Evaluation e = rules.make_evaluation();
  auto labels_at = [&](SysSeconds t) {
    rules.evaluate(f.view, e, t);
    return rules.label_names(e.labels);
  };
  const std::vector<std::string> on = {"streaming"};
  const std::vector<std::string> off = {};
  // Saturday 2026-03-28 is the night before the spring change.
  SysSeconds clock = berlin(2026, 3, 28, 21, 0);
  CHECK(labels_at(clock) == off);
  auto edge = rules.next_window_edge(clock);
  REQUIRE(edge);
  CHECK(*edge == berlin(2026, 3, 28, 22, 0));
  CHECK(labels_at(*edge - 1s) == off);
  clock = *edge;
  CHECK(labels_at(clock) == on);
  CHECK(labels_at(berlin(2026, 3, 29, 0, 0)) == on);  // past midnight
  edge = rules.next_window_edge(clock);
  REQUIRE(edge);
  CHECK(*edge == berlin(2026, 3, 29, 1, 30));  // 01:30 CET, before the 02:00 jump
  CHECK(labels_at(*edge - 1s) == on);
  CHECK(labels_at(*edge) == off);
  // The next opening is a week later, after the change: 22:00 CEST is 20:00 UTC.
  edge = rules.next_window_edge(*edge);
  REQUIRE(edge);
  CHECK(*edge == utc(2026, 4, 4, 20, 0));
  CHECK(labels_at(*edge) == on);
  CHECK(rules.windows_open(0, *edge));
  CHECK_FALSE(rules.windows_open(0, *edge - 1s));
}
