// SPDX-License-Identifier: GPL-3.0-or-later
// The ipset writer against the real kernel, each case in a private network namespace: the four
// types, -exist, timeouts, skbinfo, a failing element inside a message, a full set, the
// self-checks, managed creation and flushes; and the libipset per-command path alike.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <string>
#include <vector>

#include "ctlabeld/ipset/set_writer.hpp"
#include "test/unit/set_test_support.hpp"

using namespace ctlabeld;
using namespace ctlabeld::ipset;
using namespace ctlabeld::test;

namespace {

std::string listing(const std::string& set) {
  const auto r = run("ipset list " + set);
  INFO(r.output);
  REQUIRE(r.status == 0);
  return r.output;
}

SetWriter open_writer(const Options& options = {}) {
  return ctlabeld::test::open_writer_with<SetWriter>(options);
}

SetSpec managed(const std::string& name, Type type, Family family = Family::kIpv4) {
  SetSpec spec;
  spec.name = name;
  spec.type = type;
  spec.family = family;
  spec.managed = true;
  return spec;
}

Request add(SetHandle set, const MemberFields& m, int ttl = 900) {
  return Request{SetOp::kAdd, set, m, std::chrono::seconds(ttl)};
}

}  // namespace

TEST_CASE("ipset: type names, family suffix and skb_prio", "[ipset]") {
  CHECK(type_from_name("hash:ip") == Type::kHashIp);
  CHECK(type_from_name("ip") == Type::kHashIp);
  CHECK(type_from_name("ip,port") == Type::kHashIpPort);
  CHECK(type_from_name("hash:ip,port,ip") == Type::kHashIpPortIp);
  CHECK(type_from_name("mac") == Type::kHashMac);
  CHECK_FALSE(type_from_name("hash:net").has_value());
  CHECK(type_name(Type::kHashIpPortIp) == "hash:ip,port,ip");
  CHECK(set_name_for("nfa.blocks", Family::kIpv6) == "nfa.blocks.v6");
  CHECK(parse_skb_prio("1:10") == 0x00010010u);
  CHECK(parse_skb_prio("ffff:ffff") == 0xffffffffu);
  CHECK_FALSE(parse_skb_prio("1").has_value());
  CHECK_FALSE(parse_skb_prio(":1").has_value());
  CHECK_FALSE(parse_skb_prio("1:").has_value());
  CHECK_FALSE(parse_skb_prio("1:g").has_value());
  CHECK_FALSE(parse_skb_prio("10000:1").has_value());
}

TEST_CASE("ipset: the three IP types store Netify's fields, with timeouts, IPv4 and IPv6",
          "[ipset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  for (const AddPath path : {AddPath::kNetlink, AddPath::kLibipset}) {
    INFO("path " << (path == AddPath::kNetlink ? "netlink" : "libipset"));
    (void)run("ipset destroy");
    Options options;
    options.path = path;
    auto writer = open_writer(options);
    const SetHandle ip = attach(writer, managed("nfa.ip.v4", Type::kHashIp));
    const SetHandle ipport = attach(writer, managed("nfa.ipport.v4", Type::kHashIpPort));
    const SetHandle ipportip = attach(writer, managed("nfa.ipportip.v4", Type::kHashIpPortIp));
    const SetHandle six =
        attach(writer, managed("nfa.ipportip.v6", Type::kHashIpPortIp, Family::kIpv6));
    const auto m = member("10.1.0.2", 6, 443, "192.0.2.10");
    const auto m6 = member("fd00::2", 17, 8801, "2001:db8::10");
    auto results = apply_all(writer, {add(ip, m, 900), add(ipport, m, 60), add(ipportip, m, 0),
                                      add(six, m6, 120), add(ip, m6)});
    for (std::size_t i = 0; i < 4; ++i) CHECK(results[i].outcome == MemberOutcome::kApplied);
    CHECK(results[4].outcome == MemberOutcome::kRejected);  // IPv6 member, IPv4 set
    CHECK(count_of(listing("nfa.ip.v4"),
                   {"\n192.0.2.10 timeout 900\n", "\n192.0.2.10 timeout 899\n"}) == 1);
    CHECK(count_of(listing("nfa.ipport.v4"), {"\n192.0.2.10,tcp:443 timeout 60\n",
                                              "\n192.0.2.10,tcp:443 timeout 59\n"}) == 1);
    CHECK(count_of(listing("nfa.ipportip.v4"), {"\n10.1.0.2,tcp:443,192.0.2.10 timeout 0\n"}) == 1);
    CHECK(count_of(listing("nfa.ipportip.v6"), {"\nfd00::2,udp:8801,2001:db8::10 timeout 120\n",
                                                "\nfd00::2,udp:8801,2001:db8::10 timeout 119\n"}) ==
          1);

    // -exist: adding a present member again is no error and restarts its timeout.
    results = apply_all(writer, {add(ipport, m, 3600)});
    CHECK(results[0].outcome == MemberOutcome::kApplied);
    CHECK(count_of(listing("nfa.ipport.v4"), {"\n192.0.2.10,tcp:443 timeout 3600\n",
                                              "\n192.0.2.10,tcp:443 timeout 3599\n"}) == 1);

    results =
        apply_all(writer, {Request{SetOp::kDelete, ip, m, {}}, Request{SetOp::kDelete, ip, m, {}},
                           Request{SetOp::kDelete, six, m6, {}}});
    CHECK(results[0].outcome == MemberOutcome::kApplied);
    CHECK(results[1].outcome == MemberOutcome::kApplied);  // -exist: absent is not an error
    CHECK(results[2].outcome == MemberOutcome::kApplied);
    CHECK(listing("nfa.ip.v4").find("192.0.2.10") == std::string::npos);
    CHECK(listing("nfa.ipportip.v6").find("fd00::2") == std::string::npos);
  }
}

TEST_CASE("ipset: one failing element does not lose the others of its message", "[ipset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  Options options;
  options.elements_per_message = 16;    // several messages, some failing, per sendmsg
  options.first_seq = 0xffffffffu - 2;  // and sequence numbers wrapping among them
  auto writer = open_writer(options);
  const SetHandle ip = attach(writer, managed("nfa.ip.v4", Type::kHashIp));
  const SetHandle ipport = attach(writer, managed("nfa.ipport.v4", Type::kHashIpPort));
  const SetHandle gone = attach(writer, managed("nfa.gone.v4", Type::kHashIp));
  sh("ipset destroy nfa.gone.v4");  // removed behind the writer's back

  std::vector<Request> requests;
  for (int i = 0; i < 60; ++i) {
    const std::string other = "192.0.2." + std::to_string(i + 1);
    requests.push_back(add(ip, member("10.2.0.1", 6, 443, other.c_str())));
  }
  requests[10].member.other_addr = Address{};  // 0.0.0.0: the kernel refuses it
  requests[40].member.other_addr = Address{};
  for (int i = 0; i < 5; ++i) {
    const std::string other = "198.51.100." + std::to_string(i + 1);
    requests.push_back(add(ipport, member("10.2.0.1", i == 2 ? 0 : 6, 443, other.c_str())));
  }
  requests.push_back(add(gone, member("10.2.0.1", 6, 443, "192.0.2.99")));
  const auto results = apply_all(writer, requests);
  for (std::size_t i = 0; i < 60; ++i) {
    INFO("element " << i << " error " << results[i].error);
    CHECK(results[i].outcome ==
          (i == 10 || i == 40 ? MemberOutcome::kRejected : MemberOutcome::kApplied));
  }
  for (std::size_t i = 60; i < 65; ++i) {
    INFO("element " << i << " error " << results[i].error);
    CHECK(results[i].outcome == (i == 62 ? MemberOutcome::kRejected : MemberOutcome::kApplied));
  }
  CHECK(results[65].outcome == MemberOutcome::kNoSet);
  CHECK(count_of(listing("nfa.ip.v4"), {"\n192.0.2.# timeout"}) == 58);
  CHECK(count_of(listing("nfa.ipport.v4"), {"\n198.51.100.#,tcp:443 timeout"}) == 4);
  CHECK(writer.counters().rejected == 3);
  CHECK(writer.counters().no_set == 1);
  CHECK(writer.counters().resends >= 2);
}

TEST_CASE("ipset: a full set refuses the excess, counted, and keeps the rest; a destroyed set",
          "[ipset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  const auto log = capture_log("ipset");
  for (const AddPath path : {AddPath::kNetlink, AddPath::kLibipset}) {
    const bool netlink = path == AddPath::kNetlink;
    INFO("path " << (netlink ? "netlink" : "libipset"));
    Options options;
    options.path = path;
    auto writer = open_writer(options);
    const std::string name = netlink ? "nfa.small.v4" : "nfa.small2.v4";
    SetSpec spec = managed(name, Type::kHashIp);
    spec.max_elements = 10;
    const SetHandle set = attach(writer, spec);
    std::vector<Request> requests;
    for (int i = 0; i < 15; ++i) {
      const std::string other = "192.0.2." + std::to_string(i + 1);
      requests.push_back(add(set, member("10.3.0.1", 17, 53, other.c_str())));
    }
    const auto results = apply_all(writer, requests);
    std::size_t applied = 0;
    std::size_t full = 0;
    for (const auto& r : results) {
      applied += r.outcome == MemberOutcome::kApplied ? 1 : 0;
      full += r.outcome == MemberOutcome::kSetFull ? 1 : 0;
    }
    CHECK(applied == 10);
    CHECK(full == 5);
    CHECK(writer.counters().set_full == 5);
    CHECK(count_of(listing(name), {"\n192.0.2.# timeout"}) == 10);
    const auto more = apply_all(writer, {add(set, member("10.3.0.1", 17, 53, "192.0.2.200"))});
    CHECK(more[0].outcome == MemberOutcome::kSetFull);
    CHECK(logged(*log, "ipset " + name + " is full (maxelem 10)") == 1);

    sh("ipset destroy " + name);
    const auto gone = apply_all(writer, {add(set, member("10.3.0.1", 17, 53, "192.0.2.201"))});
    CHECK(gone[0].outcome == MemberOutcome::kNoSet);
  }
}

TEST_CASE("ipset: self-checks name a missing set, another type or family, missing support",
          "[ipset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  auto writer = open_writer();
  SetSpec spec;
  spec.name = "nfa.blocks.v4";
  spec.type = Type::kHashIpPort;
  spec.skb.mark = 0x10;
  auto missing = writer.attach(spec);
  REQUIRE_FALSE(missing.ok());
  const std::string text = missing.error_text();
  INFO(text);
  CHECK(text.find("ipset: ipset nfa.blocks.v4 does not exist: create it with `ipset create "
                  "nfa.blocks.v4 hash:ip,port family inet maxelem 65536 timeout 0 skbinfo`, or "
                  "set \"managed\": true in the target") != std::string::npos);
  // The fix works as given.
  const auto begin = text.find('`') + 1;
  sh(text.substr(begin, text.find('`', begin) - begin));
  CHECK(writer.attach(spec).ok());

  sh("ipset create other.v4 hash:ip timeout 0");
  SetSpec other = spec;
  other.name = "other.v4";
  other.skb = {};
  auto wrong_type = writer.attach(other);
  REQUIRE_FALSE(wrong_type.ok());
  CHECK(wrong_type.error_text().find("has type hash:ip but the target needs hash:ip,port: destroy "
                                     "it (`ipset destroy other.v4`)") != std::string::npos);

  sh("ipset create six.v4 hash:ip family inet6 timeout 0");
  SetSpec six;
  six.name = "six.v4";
  auto wrong_family = writer.attach(six);
  REQUIRE_FALSE(wrong_family.ok());
  CHECK(wrong_family.error_text().find("has family inet6 but the target's set_family needs inet") !=
        std::string::npos);

  sh("ipset create plain.v4 hash:ip");
  SetSpec plain;
  plain.name = "plain.v4";
  auto no_timeout = writer.attach(plain);
  REQUIRE_FALSE(no_timeout.ok());
  CHECK(no_timeout.error_text().find("has no timeout support") != std::string::npos);
  plain.skb.queue = 2;
  plain.timeout = false;
  auto no_skb = writer.attach(plain);
  REQUIRE_FALSE(no_skb.ok());
  CHECK(no_skb.error_text().find("has no skbinfo support") != std::string::npos);
  plain.skb = {};
  CHECK(writer.attach(plain).ok());
}

TEST_CASE("ipset: skbinfo values travel with every member", "[ipset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  auto writer = open_writer();
  SetSpec spec = managed("nfa.qos.v4", Type::kHashIp);
  spec.skb.mark = 0x10;
  spec.skb.mask = 0xff;
  spec.skb.prio = parse_skb_prio("1:10");
  spec.skb.queue = 3;
  const SetHandle set = attach(writer, spec);
  CHECK(listing("nfa.qos.v4").find("skbinfo") != std::string::npos);
  REQUIRE(apply_all(writer, {add(set, member("10.6.0.1", 6, 443, "192.0.2.6"), 300)})[0].outcome ==
          MemberOutcome::kApplied);
  const std::string text = listing("nfa.qos.v4");
  INFO(text);
  CHECK(count_of(text, {"\n192.0.2.6 timeout 300 skbmark 0x10/0xff skbprio 1:10 skbqueue 3\n",
                        "\n192.0.2.6 timeout 299 skbmark 0x10/0xff skbprio 1:10 skbqueue 3\n"}) ==
        1);
}

TEST_CASE("ipset: managed creation, flush_on_create, flush_on_destroy, hash:mac",
          "[ipset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  auto writer = open_writer();
  SetSpec spec = managed("nfa.m.v4", Type::kHashIpPortIp);
  spec.max_elements = 5000;
  spec.flush_on_destroy = true;
  const SetHandle set = attach(writer, spec);
  const std::string header = listing("nfa.m.v4");
  CHECK(header.find("Type: hash:ip,port,ip") != std::string::npos);
  CHECK(header.find("family inet ") != std::string::npos);
  CHECK(header.find("maxelem 5000 timeout 0") != std::string::npos);
  REQUIRE(apply_all(writer, {add(set, member("10.7.0.1", 6, 443, "192.0.2.7"))})[0].outcome ==
          MemberOutcome::kApplied);

  // Attaching again (a restart) keeps the members unless flush_on_create says otherwise.
  auto second = open_writer();
  attach(second, spec);
  CHECK(listing("nfa.m.v4").find("10.7.0.1") != std::string::npos);
  SetSpec flushing = spec;
  flushing.flush_on_create = true;
  attach(second, flushing);
  CHECK(listing("nfa.m.v4").find("10.7.0.1") == std::string::npos);

  REQUIRE(apply_all(writer, {add(set, member("10.7.0.2", 6, 443, "192.0.2.7"))})[0].outcome ==
          MemberOutcome::kApplied);
  REQUIRE(writer.shutdown().ok());
  CHECK(listing("nfa.m.v4").find("10.7.0.2") == std::string::npos);

  // hash:mac stores the local MAC; some kernels are built without it, and the message says so.
  SetSpec macs = managed("nfa.macs.v4", Type::kHashMac);
  auto mac_set = writer.attach(macs);
  if (run("ipset create probe-mac hash:mac").status != 0) {
    REQUIRE_FALSE(mac_set.ok());
    INFO(mac_set.error_text());
    CHECK(mac_set.error_text().find("this kernel lacks the hash:mac set type "
                                    "(CONFIG_IP_SET_HASH_MAC)") != std::string::npos);
    WARN("this kernel has no hash:mac (CONFIG_IP_SET_HASH_MAC unset): only its message is tested");
  } else {
    REQUIRE(mac_set.ok());
    MemberFields m;
    m.ip_version = 4;
    m.local_mac = {0x02, 0, 0, 0, 0, 0x07};
    REQUIRE(apply_all(writer, {add(mac_set.value(), m, 60)})[0].outcome == MemberOutcome::kApplied);
    CHECK(listing("nfa.macs.v4").find("02:00:00:00:00:07") != std::string::npos);
  }
}
