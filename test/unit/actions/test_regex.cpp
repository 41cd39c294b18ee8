// SPDX-License-Identifier: GPL-3.0-or-later
// The 'rx:' regex engine: matching semantics and compile errors.
#include <catch2/catch.hpp>

#include "ctlabeld/actions/regex.hpp"

namespace ctlabeld::actions {
namespace {

TEST_CASE("regex: search semantics", "[actions][regex]") {
  struct Row {
    const char* pattern;
    const char* text;
    bool match;
  };
  const Row rows[] = {
      {"zoom", "us04web.zoom.us", true},
      {"ZOOM", "us04web.zoom.us", true},
      {"zoom", "US04WEB.ZOOM.US", true},
      {"^zoom", "us04web.zoom.us", false},
      {"^us04", "us04web.zoom.us", true},
      {"\\.zoom\\.us$", "us04web.zoom.us", true},
      {"\\.zoom\\.us$", "zoom.us.evil.com", false},
      {"\\.zoom\\.us$", "xzoomxus", false},
      {".zoom.us$", "xzoomxus", true},
      {"^(www\\.)?youtube\\.com$", "youtube.com", true},
      {"^(www\\.)?youtube\\.com$", "www.youtube.com", true},
      {"^(www\\.)?youtube\\.com$", "m.youtube.com", false},
      {"^[a-z]+[0-9]+web", "us04web", true},
      {"^[^.]+\\.zoom", "a.b.zoom", false},
      {"^[^.]+\\.zoom", "ab.zoom", true},
      {"a|b|c", "xxc", true},
      {"^(a|b)+$", "abba", true},
      {"^(a|b)+$", "abca", false},
      {"^a{3}$", "aaa", true},
      {"^a{3}$", "aaaa", false},
      {"^a{2,}$", "a", false},
      {"^a{2,}$", "aaaaa", true},
      {"^a{1,2}b$", "aab", true},
      {"^a{1,2}b$", "aaab", false},
      {"^colou?r$", "color", true},
      {"^colou?r$", "colour", true},
      {"\\d+", "abc123", true},
      {"^\\d+$", "12a", false},
      {"^\\w+$", "a_b9", true},
      {"\\s", "nospace", false},
      {"[[:digit:]]", "a1", true},
      {"^[[:alpha:]]+$", "abC", true},
      {"", "anything", true},
      {"^$", "", true},
      {"^$", "x", false},
      {"(a*)*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", false},  // no blow-up
      {"x*", "", true},
      {"^.*$", "", true},
      {"[A-C]", "b", true},
      {"[^A-C]", "B", false},
  };
  for (const auto& row : rows) {
    CAPTURE(row.pattern, row.text);
    Regex rx;
    std::string error;
    REQUIRE(rx.compile(row.pattern, error));
    CHECK(rx.search(row.text) == row.match);
  }
}

TEST_CASE("regex: compile errors", "[actions][regex]") {
  struct Row {
    const char* pattern;
    const char* error;
  };
  const Row rows[] = {
      {"(zoom", "missing ')' at offset 5"},
      {"zoom)", "unmatched ')' at offset 4"},
      {"[abc", "missing ']' at offset 4"},
      {"*a", "nothing to repeat at offset 0"},
      {"a{2", "expected '}' at offset 3"},
      {"a{x}", "expected a number after '{' at offset 2"},
      {"a{3,1}", "'{m,n}' with n below m at offset 6"},
      {"a\\", "trailing backslash at offset 2"},
      {"\\q", "unsupported escape '\\q' at offset 1"},
      {"[z-a]", "invalid range in '[...]' at offset 4"},
      {"[[:nope:]]", "unknown character class '[:nope:]' at offset 1"},
      {"a{300}", "repetition count above 255 at offset 4"},
      {"(a{255}){255}",
       "pattern too large (more than 1024 instructions after expanding repetitions)"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.pattern);
    Regex rx;
    std::string error;
    CHECK_FALSE(rx.compile(row.pattern, error));
    CHECK(error == row.error);
  }
}

// Issue 15 item 7: a pattern such as (a?){250}a{250}z costs hundreds of microseconds per flow on
// hostile host names. The VM's steps are bounded per search (no flow budget open) and per flow.
TEST_CASE("regex: the step budget bounds a costly pattern and counts the cut", "[actions][regex]") {
  Regex rx;
  std::string error;
  REQUIRE(rx.compile("(a?){250}a{250}z", error));
  CHECK(rx.instructions() == 752);
  CHECK(rx.worst_case_steps(Regex::kMaxTextBytes) == 752u * 81u);
  const std::string hostile(79, 'a');
  const std::uint64_t before = Regex::budget_exceeded();
  CHECK_FALSE(rx.search(hostile));  // over budget: no match, counted
  CHECK(Regex::budget_exceeded() == before + 1);

  // A cheap pattern matches as before, even many times over without a flow budget open.
  Regex cheap;
  REQUIRE(cheap.compile("zoom\\.us$", error));
  for (int i = 0; i < 10000; ++i) REQUIRE(cheap.search("www.zoom.us"));
  CHECK(Regex::budget_exceeded() == before + 1);

  // Within one flow every search draws on the same budget: cheap searches fit, and once the
  // costly one has spent it, the rest of this flow's searches count as no match.
  {
    const Regex::FlowBudget flow;
    CHECK(cheap.search("www.zoom.us"));
    CHECK_FALSE(rx.search(hostile));
    CHECK_FALSE(cheap.search("www.zoom.us"));
  }
  CHECK(Regex::budget_exceeded() == before + 3);
  CHECK(cheap.search("www.zoom.us"));  // the next flow starts afresh
}

}  // namespace
}  // namespace ctlabeld::actions
