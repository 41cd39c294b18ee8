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

}  // namespace
}  // namespace ctlabeld::actions
