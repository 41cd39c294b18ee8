// SPDX-License-Identifier: GPL-3.0-or-later
// `ctlabeld ctl`'s human output: rendered from any reply by one set of rules.
#include <catch2/catch.hpp>

#include <string>

#include "ctlabeld/control/table.hpp"

using namespace ctlabeld::control;

namespace {
std::string rendered(std::string_view json) {
  auto text = render_reply(json);
  REQUIRE(text);
  return text.value();
}
}  // namespace

TEST_CASE("an object: aligned scalars, nested sections, tables") {
  auto text = render_reply(
      R"({"ok":true,"command":"status","result":{"version":"0.1.0","uptime_s":12.5,)"
      R"("config":{"file":"/etc/ctlabeld/actions.json","loaded":"2026-12-02T12:00:00Z"},)"
      R"("sources":[{"name":"eth0","packets":100,"drops":0},{"name":"nflog:5","packets":7}],)"
      R"("warnings":[],"labels":["zoom","video"],"dry_run":false,"reason":null}})");
  REQUIRE(text);
  CHECK(*text ==
        "version   0.1.0\n"
        "uptime_s  12.5\n"
        "config:\n"
        "  file    /etc/ctlabeld/actions.json\n"
        "  loaded  2026-12-02T12:00:00Z\n"
        "sources:\n"
        "  NAME     PACKETS  DROPS\n"
        "  eth0     100      0\n"
        "  nflog:5  7        -\n"
        "warnings  -\n"
        "labels    zoom,video\n"
        "dry_run   false\n"
        "reason    -\n");
}

TEST_CASE("an array of objects is a table; columns are the union of the keys") {
  auto text = render_reply(R"({"ok":true,"command":"flows","result":[{"app":"zoom","bytes":10},)"
                           R"({"app":"tls","host":"example.org","bytes":2048}]})");
  REQUIRE(text);
  CHECK(*text ==
        "APP   BYTES  HOST\n"
        "zoom  10     -\n"
        "tls   2048   example.org\n");
  CHECK(rendered(R"({"ok":true,"command":"flows","result":[]})") == "(none)\n");
}

TEST_CASE("wide cells are cut except in the last column; control characters are masked") {
  const std::string wide(60, 'w');
  auto text = render_reply(R"({"ok":true,"result":[{"a":")" + wide + R"(","b":")" + wide +
                           R"("},{"a":"x\u001b[2J","b":"y"}]})");
  REQUIRE(text);
  CHECK(*text == "A" + std::string(47, ' ') + "  B\n" + std::string(45, 'w') + "...  " + wide +
                     "\n" + "x?[2J" + std::string(43, ' ') + "  y\n");
}

TEST_CASE("nested values in a cell are compact JSON") {
  auto text =
      render_reply(R"({"ok":true,"result":[{"flow":1,"applied":{"labels":["zoom"],"mark":3}}]})");
  REQUIRE(text);
  CHECK(*text == "FLOW  APPLIED\n1     {\"labels\":[\"zoom\"],\"mark\":3}\n");
}

TEST_CASE("error replies become the errors; broken replies say so") {
  auto r = render_reply(R"({"ok":false,"command":"reload","errors":["a.json:3:5: bad","two"]})");
  REQUIRE_FALSE(r);
  CHECK(r.errors() == ctlabeld::Errors{"a.json:3:5: bad", "two"});
  r = render_reply(R"({"ok":false})");
  REQUIRE_FALSE(r);
  CHECK(r.errors().front() == "the daemon refused the request without a reason");
  r = render_reply("{oops");
  REQUIRE_FALSE(r);
  CHECK(r.errors().front() ==
        "the daemon's reply is not JSON (offset 1: Missing a name for object member.); run with "
        "--json to see it");
  r = render_reply("[1]");
  REQUIRE_FALSE(r);
  CHECK(r.errors().front() == "the daemon's reply has no \"ok\" member; run with --json to see it");
}

TEST_CASE("scalar results and numbers") {
  CHECK(rendered(R"({"ok":true,"result":"reloaded"})") == "reloaded\n");
  CHECK(rendered(R"({"ok":true,"result":{"a":0.1234,"b":-3,"c":1e3,"d":18446744073709551615}})") ==
        "a  0.123\nb  -3\nc  1000\nd  18446744073709551615\n");
  CHECK(rendered(R"({"ok":true})").empty());
}

TEST_CASE("watch events are one key=value line") {
  CHECK(render_event(R"({"event":"verdict","app":"zoom","host":"a b","labels":["zoom","x"]})") ==
        R"(event=verdict app=zoom host="a b" labels=zoom,x)");
  CHECK(render_event(R"({"event":"dropped","events":3})") == "event=dropped events=3");
  CHECK(render_event("garbage\x07") == "garbage?");
}
