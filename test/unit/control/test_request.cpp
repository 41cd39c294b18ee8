// SPDX-License-Identifier: GPL-3.0-or-later
// The control request line: every command's accepted forms, and errors that say what is wrong.
#include <catch2/catch.hpp>

#include <string>

#include "ctlabeld/control/request.hpp"

using namespace ctlabeld;
using namespace ctlabeld::control;

namespace {
std::string first_error(std::string_view line) {
  auto r = parse_request(line);
  REQUIRE_FALSE(r);
  return r.errors().front();
}
}  // namespace

TEST_CASE("commands without arguments") {
  for (const char* line : {"status", "status\n", "  status \r\n", "\tstatus"}) {
    auto r = parse_request(line);
    REQUIRE(r);
    CHECK(r->command == Command::kStatus);
  }
  auto r = parse_request("reload");
  REQUIRE(r);
  CHECK(r->command == Command::kReload);
  CHECK(first_error("status now") == "status takes no arguments, got 'now'");
  CHECK(first_error("reload x") == "reload takes no arguments, got 'x'");
}

TEST_CASE("flows and watch take one criteria word; flows takes --limit") {
  auto r = parse_request(R"(flows "app == 'zoom';" --limit 20)");
  REQUIRE(r);
  CHECK(r->command == Command::kFlows);
  CHECK(*r->criteria == "app == 'zoom';");
  CHECK(*r->limit == 20);
  r = parse_request("flows --limit 5 \"proto == 'tls';\"");
  REQUIRE(r);
  CHECK(*r->criteria == "proto == 'tls';");
  CHECK(*r->limit == 5);
  r = parse_request("flows");
  REQUIRE(r);
  CHECK_FALSE(r->criteria);
  CHECK_FALSE(r->limit);
  r = parse_request(R"(watch "app == \"zoom\";")");
  REQUIRE(r);
  CHECK(r->command == Command::kWatch);
  CHECK(*r->criteria == "app == \"zoom\";");

  CHECK(first_error("flows --limit") == "flows: --limit needs a number");
  CHECK(first_error("flows --limit 0") == "flows: --limit '0' is not a number from 1 to 100000");
  CHECK(first_error("flows --limit x") == "flows: --limit 'x' is not a number from 1 to 100000");
  CHECK(first_error("flows a b").find("more than one criteria argument ('b')") !=
        std::string::npos);
  CHECK(first_error("watch --limit 3") == "watch: unknown option '--limit' (none exist)");
  CHECK(first_error("flows --max 3") == "flows: unknown option '--max' (flows takes --limit N)");
}

TEST_CASE("every error of a request is reported at once") {
  auto r = parse_request("flows --limit 0 --bogus");
  REQUIRE_FALSE(r);
  CHECK(r.errors().size() == 2);
}

TEST_CASE("explain: an address, an address and port, or a full tuple") {
  auto r = parse_request("explain 192.0.2.10");
  REQUIRE(r);
  CHECK(r->command == Command::kExplain);
  CHECK(r->target.first.ip_version == 4);
  CHECK_FALSE(r->target.first.port);
  CHECK_FALSE(r->target.second);
  r = parse_request("explain 2001:db8::1 443");
  REQUIRE(r);
  CHECK(r->target.first.ip_version == 6);
  CHECK(*r->target.first.port == 443);
  r = parse_request("explain tcp 10.0.0.2 51000 10.1.0.5 443");
  REQUIRE(r);
  CHECK(*r->target.protocol == 6);
  CHECK(*r->target.first.port == 51000);
  REQUIRE(r->target.second);
  CHECK(*r->target.second->port == 443);
  r = parse_request("explain 132 10.0.0.2 1 10.1.0.5 2");
  REQUIRE(r);
  CHECK(*r->target.protocol == 132);

  CHECK(first_error("explain") ==
        "explain takes ADDRESS [PORT] or PROTO SRC SPORT DST DPORT, got 0 argument(s)");
  CHECK(first_error("explain zoom.us") ==
        "explain: 'zoom.us' is not an IPv4 or IPv6 address (e.g. 192.0.2.10 or 2001:db8::10)");
  CHECK(first_error("explain 10.0.0.1 70000") == "explain: '70000' is not a port (0 to 65535)");
  CHECK(first_error("explain sctp 10.0.0.1 1 10.0.0.2 2") ==
        "explain: 'sctp' is not a protocol (tcp, udp, icmp, icmpv6 or a number up to 255)");
  CHECK(first_error("explain tcp 10.0.0.1 1 ::1 2") ==
        "explain: '10.0.0.1' and '::1' are of different IP versions; a connection has one");
}

TEST_CASE("explain_matches: either end, either direction") {
  auto t = parse_request("explain 10.0.0.2 443");
  REQUIRE(t);
  Address a, b, c;
  REQUIRE(parse_address("10.0.0.2", a) == 4);
  REQUIRE(parse_address("10.1.0.5", b) == 4);
  REQUIRE(parse_address("10.9.9.9", c) == 4);
  CHECK(explain_matches(t->target, 6, a, 443, b, 5000));
  CHECK(explain_matches(t->target, 17, b, 5000, a, 443));
  CHECK_FALSE(explain_matches(t->target, 6, a, 444, b, 443));
  auto full = parse_request("explain tcp 10.1.0.5 5000 10.0.0.2 443");
  REQUIRE(full);
  CHECK(explain_matches(full->target, 6, a, 443, b, 5000));
  CHECK(explain_matches(full->target, 6, b, 5000, a, 443));
  CHECK_FALSE(explain_matches(full->target, 17, b, 5000, a, 443));
  CHECK_FALSE(explain_matches(full->target, 6, c, 5000, a, 443));
  auto any_port = parse_request("explain 10.9.9.9");
  REQUIRE(any_port);
  CHECK(explain_matches(any_port->target, 1, a, 0, c, 0));
}

TEST_CASE("quoting: what quote_word writes, split_words reads back") {
  for (std::string w : {"plain", "", "two words", "say \"hi\"", "back\\slash", "app == 'zoom';",
                        "tab\there", "\xc3\xa9t\xc3\xa9"}) {
    auto words = split_words("cmd " + quote_word(w) + " end");
    REQUIRE(words);
    REQUIRE(words->size() == 3);
    CHECK((*words)[1] == w);
  }
}

TEST_CASE("malformed lines name the column and the fix") {
  CHECK(first_error("") == first_error("   "));
  CHECK(first_error("").rfind("empty request; commands: status", 0) == 0);
  CHECK(first_error("flows \"open") == "column 7: quote opened here is never closed");
  CHECK(first_error("flows \"a\"b") == "column 10: a closing quote must end the word");
  CHECK(first_error("flows \"a\\x\"") ==
        "column 9: inside quotes a backslash must be followed by \" or \\");
  CHECK(first_error("flows a\"b").find("column 8: quotes, backslashes") == 0);
  CHECK(first_error(std::string("flows \x01")).find("column 7") == 0);
  CHECK(first_error("stats").rfind("unknown command 'stats'; commands:", 0) == 0);
  CHECK(first_error(std::string(5000, 'x')) == "request longer than 4096 bytes");
}
