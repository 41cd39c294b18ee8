// SPDX-License-Identifier: GPL-3.0-or-later
// Lexer: token kinds for each construct, and where lexical errors point.
#include <catch2/catch.hpp>

#include "ctlabeld/actions/lexer.hpp"

namespace ctlabeld::actions {
namespace {

std::string kinds(const LexResult& r) {
  static const char* kNames[] = {
      "end", "ident", "num", "str", "addr", "compact", "star", "(", ")",    "!",    "and",
      "or",  "==",    "!=",  "<",   "<=",   ">",       ">=",   ";", "true", "false"};
  std::string s;
  for (const auto& t : r.tokens) {
    if (!s.empty()) s += ' ';
    s += kNames[static_cast<int>(t.kind)];
  }
  return s;
}

TEST_CASE("lexer: token kinds", "[actions][lexer]") {
  struct Row {
    const char* text;
    const char* kinds;
  };
  const Row rows[] = {
      {"app == 'zoom';", "ident == str ; end"},
      {"APP=='Zoom'", "ident == str end"},
      {"a != b", "ident != ident end"},
      {"x<1 x<=2 x>3 x>=4", "ident < num ident <= num ident > num ident >= num end"},
      {"a && b || c", "ident and ident or ident end"},
      {"a AND b Or c", "ident and ident or ident end"},
      {"!(a)", "! ( ident ) end"},
      {"*", "star end"},
      {"*;", "star ; end"},
      {"true false TRUE", "true false true end"},
      {"0x1F 42 0", "num num num end"},
      {"local_ip == 192.168.1.0/24", "ident == addr end"},
      {"other_ip != 2001:db8::/32", "ident != addr end"},
      {"any_ip == ::1", "ident == addr end"},
      {"src_ip == fe80::1/64;", "ident == addr ; end"},
      {"dst_ip == 10.1.2.3", "ident == addr end"},
      {"ai:zoom", "compact end"},
      {"!ai:zoom && pi:tls", "! compact and compact end"},
      {"ac:video_conferencing pc:web", "compact compact end"},
      {"ai:google-meet ai:netify.zoom ai:goo*", "compact compact compact end"},
      {"AI:'Microsoft 365'", "compact end"},
      {"app == \"zoom\"", "ident == str end"},
      {"detected_hostname == 'rx:\\.zoom\\.us$'", "ident == str end"},
      {"  \n\t app\n==\n'x'  ", "ident == str end"},
      {"", "end"},
      {"dead == beef", "ident == ident end"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    const LexResult r = tokenize(row.text);
    REQUIRE(r.error.empty());
    CHECK(kinds(r) == row.kinds);
  }
}

TEST_CASE("lexer: token values", "[actions][lexer]") {
  const LexResult r = tokenize("0x1f 'It''s' ai:Zoom 10.1.2.3/8 App");
  REQUIRE(r.error.empty());
  CHECK(r.tokens[0].number == 31);
  CHECK(r.tokens[1].value == "It");
  CHECK(r.tokens[3].value == "ai:Zoom");
  CHECK(to_string(r.tokens[4].cidr) == "10.0.0.0/8");
  CHECK(r.tokens[5].value == "app");
  CHECK(r.tokens[5].col == 33);
  const LexResult esc = tokenize(R"('a\'b' 'rx:\d+')");
  REQUIRE(esc.error.empty());
  CHECK(esc.tokens[0].value == "a'b");
  CHECK(esc.tokens[1].value == R"(rx:\d+)");
  const LexResult lines = tokenize("a\n  b");
  CHECK(lines.tokens[1].line == 2);
  CHECK(lines.tokens[1].col == 3);
}

TEST_CASE("lexer: errors point at the offending character", "[actions][lexer]") {
  struct Row {
    const char* text;
    const char* error;
  };
  const Row rows[] = {
      {"app = 'x'", "1:5: unexpected '='; comparisons use '=='"},
      {"a & b", "1:3: unexpected '&'; logical and is '&&' or 'and'"},
      {"a | b", "1:3: unexpected '|'; logical or is '||' or 'or'"},
      {"app == 'zoom", "1:8: unterminated string: add the closing quote"},
      {"a # b", "1:3: unexpected character '#'"},
      {"a\n  @", "2:3: expected an address group name after '@', e.g. @iot-devices"},
      {"a\n  $", "2:3: unexpected character '$'"},
      {"x == 0xZZ", "1:6: invalid number '0xZZ'"},
      {"x == 12ab", "1:6: invalid number '12ab'"},
      {"x == 99999999999999999999999", "1:6: number '99999999999999999999999' is too large"},
      {"x == 10.0.0.0/33", "1:6: invalid prefix length in '10.0.0.0/33' (IPv4 allows 0-32)"},
      {"x == 2001:db8::/129", "1:6: invalid prefix length in '2001:db8::/129' (IPv6 allows 0-128)"},
      {"x == 1.2.3.4.5", "1:6: invalid IP address '1.2.3.4.5'"},
      {"x == 300.1.1.1", "1:6: invalid IP address '300.1.1.1'"},
      {"ai:", "1:1: expected a name after 'ai:', e.g. ai:zoom"},
      {"x == \x01", "1:6: unexpected byte 0x01"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    CHECK(tokenize(row.text).error == row.error);
  }
}

}  // namespace
}  // namespace ctlabeld::actions
