// SPDX-License-Identifier: GPL-3.0-or-later
// `ctlabeld ctl`'s command line and its messages when the daemon cannot be reached.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "ctlabeld/control/client.hpp"

using namespace ctlabeld::control;

namespace {
ctlabeld::Expected<ClientOptions> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "ctl");
  return parse_client_options(args);
}

// Runs the client with stderr captured.
std::pair<int, std::string> run(std::vector<std::string> args) {
  args.insert(args.begin(), "ctl");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::FILE* tmp = std::tmpfile();
  REQUIRE(tmp != nullptr);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ::dup2(::fileno(tmp), 2);
  const int rc = run_client(static_cast<int>(argv.size()), argv.data());
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::rewind(tmp);
  std::string err;
  char buf[1024];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0) err.append(buf, n);
  std::fclose(tmp);
  return {rc, err};
}
}  // namespace

TEST_CASE("the request line is built from the words, quoted where needed") {
  auto o = parse({"flows", "app == 'zoom';", "--limit", "5"});
  REQUIRE(o);
  CHECK(o->request == R"(flows "app == 'zoom';" --limit 5)");
  CHECK(o->socket == "/run/ctlabeld/ctlabeld.sock");
  CHECK_FALSE(o->json);
  CHECK_FALSE(o->watch);
  o = parse({"--socket", "/tmp/x.sock", "--json", "watch"});
  REQUIRE(o);
  CHECK(o->socket == "/tmp/x.sock");
  CHECK(o->json);
  CHECK(o->watch);
  CHECK(o->request == "watch");
  o = parse({"status", "--json", "--socket=/s"});
  REQUIRE(o);
  CHECK(o->json);
  CHECK(o->socket == "/s");
  o = parse({"explain", "tcp", "10.0.0.1", "5000", "10.0.0.2", "443"});
  REQUIRE(o);
  CHECK(o->request == "explain tcp 10.0.0.1 5000 10.0.0.2 443");
}

TEST_CASE("mistakes are caught before connecting") {
  auto o = parse({});
  REQUIRE_FALSE(o);
  CHECK(o.errors().front() ==
        "ctl: which command? (status, flows, explain, watch, reload; see ctl --help)");
  o = parse({"--socket"});
  REQUIRE_FALSE(o);
  CHECK(o.errors().front() == "ctl: --socket needs a path");
  o = parse({"explain", "host.example"});
  REQUIRE_FALSE(o);
  CHECK(o.errors().front().rfind("ctl: explain: 'host.example' is not an IPv4 or IPv6", 0) == 0);
  CHECK(parse({"--help"})->help);
  const auto [rc, err] = run({"--socket", "/nonexistent/x.sock", "frobnicate"});
  CHECK(rc == 2);
  CHECK(err.rfind("ctlabeld ctl: unknown command 'frobnicate'", 0) == 0);
}

TEST_CASE("a missing daemon is named with the socket") {
  const auto [rc, err] = run({"--socket", "/nonexistent/ctlabeld.sock", "status"});
  CHECK(rc == 3);
  CHECK(err ==
        "ctlabeld ctl: cannot connect: no such socket: is ctlabeld running? socket "
        "/nonexistent/ctlabeld.sock\n");

  // A stale socket file (nobody listens on it).
  char dir[] = "/tmp/ctlabeld-ctl-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/stale.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::close(fd);
  const auto [rc2, err2] = run({"--socket", path, "status"});
  CHECK(rc2 == 3);
  CHECK(err2 ==
        "ctlabeld ctl: cannot connect: nobody answers: is ctlabeld running? socket " + path + "\n");
  ::unlink(path.c_str());
  ::rmdir(dir);
}
