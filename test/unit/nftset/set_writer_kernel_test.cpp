// SPDX-License-Identifier: GPL-3.0-or-later
// The nftset writer against the real kernel, each case in a private network namespace: adds,
// deletes, a failing element inside a batch, a full set, a missing set, a key type mismatch,
// timeouts and their refresh, IPv6, managed creation and flushes, and a rule that drops traffic.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "ctlabeld/nftset/set_writer.hpp"
#include "test/unit/set_test_support.hpp"

using namespace ctlabeld;
using namespace ctlabeld::nftset;
using namespace ctlabeld::test;

namespace {

std::string listing(const std::string& set, const std::string& table = "nfa") {
  const auto r = run("nft list set inet " + table + " " + set);
  INFO(r.output);
  REQUIRE(r.status == 0);
  return r.output;
}

const std::vector<Field> kNetify = {Field::kLocalAddr, Field::kIpProto, Field::kOtherPort,
                                    Field::kOtherAddr};
constexpr const char* kNetifyType = "ipv4_addr . inet_proto . inet_service . ipv4_addr";

SetSpec netify_spec(const std::string& set = "nfa.blocks.v4") {
  SetSpec spec;
  spec.set = set;
  spec.fields = kNetify;
  return spec;
}

void create_netify_set(const std::string& set = "nfa.blocks.v4", int size = 65536) {
  sh("nft add table inet nfa");
  sh("nft add set inet nfa " + set + " '{ type " + kNetifyType + "; flags timeout; size " +
     std::to_string(size) + "; }'");
}

SetWriter open_writer(const Options& options = {}) {
  return ctlabeld::test::open_writer_with<SetWriter>(options);
}

Request add(SetHandle set, const MemberFields& m, int ttl = 900) {
  return Request{SetOp::kAdd, set, m, std::chrono::seconds(ttl)};
}

}  // namespace

TEST_CASE("nftset: adds and deletes elements with timeouts, IPv4 and IPv6", "[nftset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  create_netify_set();
  sh("nft add set inet nfa nfa.blocks.v6 '{ type ipv6_addr . inet_proto . inet_service . "
     "ipv6_addr; flags timeout; }'");
  auto writer = open_writer();
  const SetHandle v4 = attach(writer, netify_spec());
  SetSpec six = netify_spec("nfa.blocks.v6");
  six.family = Family::kIpv6;
  const SetHandle v6 = attach(writer, six);

  const auto a = member("10.1.0.2", 6, 443, "192.0.2.10");
  const auto b = member("10.1.0.3", 17, 8801, "192.0.2.11");
  const auto c = member("fd00::2", 6, 443, "2001:db8::10");
  auto results = apply_all(writer, {add(v4, a, 900), add(v4, b, 0), add(v6, c, 60), add(v4, c)});
  CHECK(results[0].outcome == MemberOutcome::kApplied);
  CHECK(results[1].outcome == MemberOutcome::kApplied);
  CHECK(results[2].outcome == MemberOutcome::kApplied);
  // An IPv6 member has no key in the IPv4 set: refused without a kernel round trip.
  CHECK(results[3].outcome == MemberOutcome::kRejected);

  std::string v4_list = listing("nfa.blocks.v4");
  CHECK(v4_list.find("10.1.0.2 . tcp . 443 . 192.0.2.10 timeout 15m") != std::string::npos);
  CHECK(v4_list.find("10.1.0.3 . udp . 8801 . 192.0.2.11") != std::string::npos);
  CHECK(v4_list.find("10.1.0.3 . udp . 8801 . 192.0.2.11 timeout") ==
        std::string::npos);  // ttl 0: no expiry

  results =
      apply_all(writer, {Request{SetOp::kDelete, v4, a, {}}, Request{SetOp::kDelete, v4, a, {}},
                         Request{SetOp::kDelete, v6, c, {}}});
  CHECK(results[0].outcome == MemberOutcome::kApplied);
  CHECK(results[1].outcome == MemberOutcome::kAbsent);  // already gone: not an error
  CHECK(results[2].outcome == MemberOutcome::kApplied);
  v4_list = listing("nfa.blocks.v4");
  CHECK(v4_list.find("10.1.0.2") == std::string::npos);
  CHECK(v4_list.find("10.1.0.3") != std::string::npos);
  CHECK(listing("nfa.blocks.v6").find("fd00::2") == std::string::npos);
  CHECK(writer.counters().absent == 1);
  CHECK(writer.counters().applied == 5);
}

TEST_CASE("nftset: one failing element does not lose the others of its batch", "[nftset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  create_netify_set();
  create_netify_set("nfa.gone.v4");
  auto writer = open_writer();
  const SetHandle set = attach(writer, netify_spec());
  const SetHandle gone = attach(writer, netify_spec("nfa.gone.v4"));
  // Removed behind the writer's back (an administrator's `nft delete set`).
  sh("nft delete set inet nfa nfa.gone.v4");

  std::vector<Request> requests;
  for (int i = 0; i < 50; ++i) {
    const std::string local = "10.2.0." + std::to_string(i + 1);
    requests.push_back(add(set, member(local.c_str(), 6, 443, "192.0.2.1")));
  }
  // A timeout the kernel cannot represent (ERANGE), in the middle of the batch.
  requests[20].timeout = std::chrono::seconds(std::int64_t{1} << 53);
  requests.push_back(add(gone, member("10.2.1.1", 6, 443, "192.0.2.1")));
  const auto results = apply_all(writer, requests);
  for (std::size_t i = 0; i < 50; ++i) {
    INFO("element " << i << " errno " << results[i].error);
    CHECK(results[i].outcome == (i == 20 ? MemberOutcome::kRejected : MemberOutcome::kApplied));
  }
  CHECK(results[20].error == ERANGE);
  CHECK(results[50].outcome == MemberOutcome::kNoSet);
  const std::string text = listing("nfa.blocks.v4");
  CHECK(count_of(text, {"10.2.0.# . tcp . 443 . 192.0.2.1 timeout"}) == 49);
  CHECK(text.find("10.2.0.21 ") == std::string::npos);
  CHECK(writer.counters().rejected == 1);
  CHECK(writer.counters().no_set == 1);
  CHECK(writer.counters().resends >= 1);

  // Small batches, sequence numbers wrapping mid-batch: the same outcome.
  Options small;
  small.max_batch = 7;
  small.first_seq = 0xffffffffu - 20;
  auto chunked = open_writer(small);
  const SetHandle again = attach(chunked, netify_spec());
  for (auto& r : requests) r.set = again;
  requests.pop_back();
  const auto second = apply_all(chunked, requests);
  for (std::size_t i = 0; i < 50; ++i) {
    CHECK(second[i].outcome == (i == 20 ? MemberOutcome::kRejected : MemberOutcome::kApplied));
  }
}

TEST_CASE("nftset: a full set refuses the excess, counted, and keeps the rest",
          "[nftset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  const auto log = capture_log("nftset");
  create_netify_set("nfa.blocks.v4", 10);
  auto writer = open_writer();
  SetSpec spec = netify_spec();
  spec.size = 10;
  const SetHandle set = attach(writer, spec);
  std::vector<Request> requests;
  for (int i = 0; i < 15; ++i) {
    const std::string local = "10.3.0." + std::to_string(i + 1);
    requests.push_back(add(set, member(local.c_str(), 17, 53, "192.0.2.53")));
  }
  const auto results = apply_all(writer, requests);
  std::size_t applied = 0;
  std::size_t full = 0;
  for (const auto& r : results) {
    if (r.outcome == MemberOutcome::kApplied) ++applied;
    if (r.outcome == MemberOutcome::kSetFull) {
      ++full;
      CHECK(r.error == ENFILE);
    }
  }
  CHECK(applied == 10);
  CHECK(full == 5);
  CHECK(writer.counters().set_full == 5);
  CHECK(count_of(listing("nfa.blocks.v4"), {"10.3.0.# . udp . 53 . 192.0.2.53 timeout"}) == 10);
  // Full stays full: more adds are counted again, the present ones stay.
  const auto more = apply_all(writer, {add(set, member("10.3.1.1", 17, 53, "192.0.2.53"))});
  CHECK(more[0].outcome == MemberOutcome::kSetFull);
  CHECK(writer.counters().set_full == 6);
  // Logged once, not per element or per batch.
  CHECK(logged(*log, "nft set 'inet nfa nfa.blocks.v4' is full (size 10)") == 1);
}

TEST_CASE("nftset: self-checks name a missing set, a key type mismatch, a missing timeout flag",
          "[nftset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  auto writer = open_writer();
  auto missing = writer.attach(netify_spec());
  REQUIRE_FALSE(missing.ok());
  const std::string missing_text = missing.error_text();
  INFO(missing_text);
  CHECK(missing_text.find("nft set 'inet nfa nfa.blocks.v4' does not exist") != std::string::npos);
  CHECK(missing_text.find("nft add set inet nfa nfa.blocks.v4 '{ type " + std::string(kNetifyType) +
                          "; flags timeout; size 65536; }'") != std::string::npos);
  CHECK(missing_text.find("\"managed\": true") != std::string::npos);

  // The fix the message gives works as given.
  const auto begin = missing_text.find('`') + 1;
  const std::string fix = missing_text.substr(begin, missing_text.find('`', begin) - begin);
  sh(fix);
  CHECK(writer.attach(netify_spec()).ok());

  sh("nft add set inet nfa short.v4 '{ type ipv4_addr . inet_service; flags timeout; }'");
  auto mismatch = writer.attach(netify_spec("short.v4"));
  REQUIRE_FALSE(mismatch.ok());
  const std::string mismatch_text = mismatch.error_text();
  INFO(mismatch_text);
  CHECK(mismatch_text.find("has key type 'ipv4_addr . inet_service' (8 bytes) but the target's "
                           "type [local_addr, ip_proto, other_port, other_addr] needs '" +
                           std::string(kNetifyType) + "' (16 bytes)") != std::string::npos);
  CHECK(mismatch_text.find("nft delete set inet nfa short.v4") != std::string::npos);

  sh("nft add set inet nfa notimeout.v4 '{ type " + std::string(kNetifyType) + "; }'");
  auto no_flag = writer.attach(netify_spec("notimeout.v4"));
  REQUIRE_FALSE(no_flag.ok());
  CHECK(no_flag.error_text().find("has no `timeout` flag") != std::string::npos);
  SetSpec no_ttl = netify_spec("notimeout.v4");
  no_ttl.timeout = false;
  CHECK(writer.attach(no_ttl).ok());

  SetSpec long_name = netify_spec(std::string(300, 's'));
  auto too_long = writer.attach(long_name);
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.error_text().find("need 1 to 255 characters") != std::string::npos);

  // A set made with `typeof` from the consuming rule's expressions has the same key.
  sh("nft add set inet nfa typed.v4 '{ typeof ip saddr . ip protocol . th dport . ip daddr; "
     "flags timeout; }'");
  CHECK(writer.attach(netify_spec("typed.v4")).ok());
}

TEST_CASE("nftset: managed sets are created with the key, timeout flag and size; flushes",
          "[nftset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  auto writer = open_writer();
  SetSpec spec = netify_spec();
  spec.managed = true;
  spec.size = 1000;
  spec.flush_on_destroy = true;
  const SetHandle set = attach(writer, spec);
  std::string text = listing("nfa.blocks.v4");
  INFO(text);
  CHECK(text.find(std::string("type ") + kNetifyType) != std::string::npos);
  CHECK(text.find("size 1000") != std::string::npos);
  CHECK(text.find("flags timeout") != std::string::npos);

  SetSpec macs;
  macs.set = "nfa.macs.v6";
  macs.family = Family::kIpv6;
  macs.fields = {Field::kLocalMac, Field::kInterface, Field::kMark};
  macs.managed = true;
  macs.timeout = false;
  const SetHandle mac_set = attach(writer, macs);
  MemberFields m;
  m.ip_version = 6;
  m.local_mac = {0x02, 0, 0, 0, 0, 0x01};
  m.mark = 0x2a;
  const char lan[] = "lan0";
  std::copy(lan, lan + 4, m.interface.begin());
  auto results =
      apply_all(writer, {add(set, member("10.4.0.1", 6, 443, "192.0.2.4")), add(mac_set, m, 0)});
  CHECK(results[0].outcome == MemberOutcome::kApplied);
  CHECK(results[1].outcome == MemberOutcome::kApplied);
  text = listing("nfa.macs.v6");
  INFO(text);
  CHECK(text.find("type ether_addr . ifname . mark") != std::string::npos);
  CHECK(text.find("02:00:00:00:00:01 . \"lan0\" . 0x0000002a") != std::string::npos);

  // Attaching again (a restart) keeps the elements unless flush_on_create says otherwise.
  auto second = open_writer();
  attach(second, spec);
  CHECK(listing("nfa.blocks.v4").find("10.4.0.1") != std::string::npos);
  SetSpec flushing = spec;
  flushing.flush_on_create = true;
  attach(second, flushing);
  CHECK(listing("nfa.blocks.v4").find("10.4.0.1") == std::string::npos);

  // flush_on_destroy empties the set at clean shutdown; other sets keep their elements.
  results = apply_all(writer, {add(set, member("10.4.0.2", 6, 443, "192.0.2.4"))});
  REQUIRE(results[0].outcome == MemberOutcome::kApplied);
  REQUIRE(writer.shutdown().ok());
  CHECK(listing("nfa.blocks.v4").find("10.4.0.2") == std::string::npos);
  CHECK(listing("nfa.macs.v6").find("02:00:00:00:00:01") != std::string::npos);

  // A managed set whose settings changed is reported, not silently reused.
  SetSpec changed = spec;
  changed.fields = {Field::kOtherAddr};
  auto refused = second.attach(changed);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error_text().find("a managed set is created again") != std::string::npos);
}

TEST_CASE("nftset: this kernel refreshes an element's timeout in place; delete+add also works",
          "[nftset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  create_netify_set();
  auto writer = open_writer();
  // Linux 6.12 and later update an existing element's timeout on a plain add (this machine runs
  // a newer kernel); the probe says so and the writer uses it.
  const auto release = run("uname -r").output;
  INFO("kernel " << release);
  CHECK(writer.refreshes_in_place());
  const SetHandle set = attach(writer, netify_spec());
  const auto m = member("10.5.0.1", 6, 443, "192.0.2.5");
  REQUIRE(apply_all(writer, {add(set, m, 60)})[0].outcome == MemberOutcome::kApplied);
  CHECK(listing("nfa.blocks.v4").find("timeout 1m expires") != std::string::npos);
  REQUIRE(apply_all(writer, {Request{SetOp::kRefresh, set, m, std::chrono::seconds(7200)}})[0]
              .outcome == MemberOutcome::kApplied);
  std::string text = listing("nfa.blocks.v4");
  INFO(text);
  // Within one jiffy of the write the remaining time still reads as the whole timeout.
  CHECK(count_of(text, {"10.5.0.1 . tcp . 443 . 192.0.2.5 timeout 2h expires 2h",
                        "10.5.0.1 . tcp . 443 . 192.0.2.5 timeout 2h expires 1h59m"}) == 1);
  CHECK(writer.counters().transactions == 2);
  // A refresh with the same timeout restarts the expiry too (the kernel needs the expiration
  // attribute for that: a plain re-add with an unchanged timeout leaves the expiry running).
  const auto same = member("10.5.0.2", 6, 443, "192.0.2.5");
  REQUIRE(apply_all(writer, {add(set, same, 60)})[0].outcome == MemberOutcome::kApplied);
  ::usleep(1'500'000);
  REQUIRE(apply_all(writer, {Request{SetOp::kRefresh, set, same, std::chrono::seconds(60)}})[0]
              .outcome == MemberOutcome::kApplied);
  text = listing("nfa.blocks.v4");
  CHECK(count_of(text, {"10.5.0.2 . tcp . 443 . 192.0.2.5 timeout 1m expires 1m",
                        "10.5.0.2 . tcp . 443 . 192.0.2.5 timeout 1m expires 59s9#ms"}) == 1);

  // The fallback for older kernels: delete and add in one transaction.
  Options fallback;
  fallback.refresh_in_place = false;
  auto older = open_writer(fallback);
  const SetHandle again = attach(older, netify_spec());
  auto results =
      apply_all(older, {Request{SetOp::kRefresh, again, m, std::chrono::seconds(600)},
                        Request{SetOp::kRefresh, again, member("10.5.0.9", 6, 443, "192.0.2.5"),
                                std::chrono::seconds(600)}});
  CHECK(results[0].outcome == MemberOutcome::kApplied);
  // Refreshing an element that expired meanwhile adds it again.
  CHECK(results[1].outcome == MemberOutcome::kApplied);
  text = listing("nfa.blocks.v4");
  CHECK(count_of(text, {"10.5.0.1 . tcp . 443 . 192.0.2.5 timeout 10m expires 10m",
                        "10.5.0.1 . tcp . 443 . 192.0.2.5 timeout 10m expires 9m"}) == 1);
  CHECK(text.find("10.5.0.9 . tcp . 443 . 192.0.2.5 timeout 10m") != std::string::npos);
}

TEST_CASE("nftset: `ip saddr . ip protocol . th dport . ip daddr @set drop` drops what is in it",
          "[nftset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  // A client namespace (a child process's, so nothing is named in /run/netns) on a veth pair.
  const pid_t peer = ::fork();
  REQUIRE(peer >= 0);
  if (peer == 0) {
    if (::unshare(CLONE_NEWNET) != 0) ::_exit(1);
    ::sleep(60);  // killed by the test long before
    ::_exit(0);
  }
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reaper{peer};
  const std::string in_peer = "nsenter -t " + std::to_string(peer) + " -n ";
  // The child unshares right after fork: wait until its namespace differs from ours.
  for (int i = 0; i < 100; ++i) {
    if (run("readlink /proc/" + std::to_string(peer) + "/ns/net").output !=
        run("readlink /proc/self/ns/net").output) {
      break;
    }
    ::usleep(10000);
  }
  sh("ip link set lo up");
  sh("ip link add nfs0 type veth peer name nfs1");
  sh("ip link set nfs1 netns " + std::to_string(peer));
  sh("ip addr add 10.99.0.1/24 dev nfs0 && ip link set nfs0 up");
  sh(in_peer + "ip addr add 10.99.0.2/24 dev nfs1");
  sh(in_peer + "ip link set nfs1 up");
  sh(in_peer + "ip link set lo up");
  create_netify_set();
  sh("nft add chain inet nfa input '{ type filter hook input priority filter; }'");
  sh("nft add rule inet nfa input ip saddr . ip protocol . th dport . ip daddr @nfa.blocks.v4 "
     "drop");

  // A server here on two ports, bounded in time; the client connects from the peer.
  const auto server =
      run("python3 -c '\n"
          "import socket, threading, time\n"
          "def serve(port):\n"
          "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "    s.bind((\"10.99.0.1\", port)); s.listen(16); s.settimeout(30)\n"
          "    while True:\n"
          "        try: c, _ = s.accept()\n"
          "        except OSError: return\n"
          "        c.close()\n"
          "for p in (8080, 8081): threading.Thread(target=serve, args=(p,), daemon=True).start()\n"
          "time.sleep(30)' >/dev/null 2>&1 & echo $!");
  const std::string server_pid = server.output.substr(0, server.output.find('\n'));
  struct Stop {
    std::string pid;
    ~Stop() { (void)run("kill " + pid); }
  } stop{server_pid};
  auto connects = [&](int port) {
    const std::string probe =
        "python3 -c 'import socket; socket.create_connection((\"10.99.0.1\", " +
        std::to_string(port) + "), timeout=1).close()'";
    for (int i = 0; i < 50; ++i) {  // the server may still be starting: retry refusals only
      const auto r = run(in_peer + probe);
      if (r.status == 0) return true;
      if (r.output.find("refused") == std::string::npos) return false;
      ::usleep(50000);
    }
    return false;
  };
  REQUIRE(connects(8080));
  REQUIRE(connects(8081));

  auto writer = open_writer();
  const SetHandle set = attach(writer, netify_spec());
  // local = the client (LAN side), other = the server it connects to.
  const auto blocked = member("10.99.0.2", 6, 8080, "10.99.0.1");
  REQUIRE(apply_all(writer, {add(set, blocked, 60)})[0].outcome == MemberOutcome::kApplied);
  CHECK_FALSE(connects(8080));
  CHECK(connects(8081));
  REQUIRE(apply_all(writer, {Request{SetOp::kDelete, set, blocked, {}}})[0].outcome ==
          MemberOutcome::kApplied);
  CHECK(connects(8080));
}
