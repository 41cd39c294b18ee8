// SPDX-License-Identifier: GPL-3.0-or-later
// The label writer against the real kernel, each case in a private network namespace: exactly the
// intended entries get the label, foreign bits survive, NAT'd entries are found by their reply
// tuple, and ENOENT / ENOSPC / EPERM / ENOBUFS are counted as the kernel answers them.
#include <catch2/catch.hpp>

#include <sys/capability.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ctlabeld/conntrack/label_writer.hpp"
#include "ctlabeld/conntrack/table.hpp"
#include "test/unit/conntrack/kernel_sandbox.hpp"

using namespace ctlabeld;
using namespace ctlabeld::conntrack;
using ctlabeld::test::KernelSandbox;
using ctlabeld::test::run;

namespace {

constexpr const char* kConnlabel = "0 zoom\n5 foreign\n";
constexpr unsigned kZoom = 0;
constexpr unsigned kForeign = 5;

std::unique_ptr<KernelSandbox> sandbox() {
  std::string error;
  auto box = KernelSandbox::enter(kConnlabel, &error);
  INFO(error);
  REQUIRE(box != nullptr);
  return box;
}

void sh(const std::string& command) {
  const auto r = run(command);
  INFO(command << "\n" << r.output);
  REQUIRE(r.status == 0);
}

FlowTuple tuple(std::uint8_t proto, const char* src, std::uint16_t sport, const char* dst,
                std::uint16_t dport) {
  FlowTuple t;
  t.ip_version = parse_address(src, t.src);
  REQUIRE(parse_address(dst, t.dst) == t.ip_version);
  t.ip_protocol = proto;
  t.src_port = sport;
  t.dst_port = dport;
  return t;
}

FlowTuple icmp(std::uint8_t proto, const char* src, const char* dst, std::uint8_t type,
               std::uint16_t id) {
  FlowTuple t = tuple(proto, src, 0, dst, 0);
  t.icmp_type = type;
  t.icmp_id = id;
  return t;
}

LabelUpdate zoom_update(const FlowTuple& t, bool on = true) {
  LabelUpdate u;
  u.tuple = t;
  u.mask.set(kZoom);
  if (on) u.bits.set(kZoom);
  u.log_errors = true;
  return u;
}

// The labels= field of the `conntrack -L -o extended,labels` line whose original tuple starts
// with `key` ("src=.. dst=.. sport=.. dport=.." or the ICMP form); "<absent>" when no such line.
std::string labels_of(const std::string& listing, const std::string& key) {
  std::istringstream lines(listing);
  std::string line;
  while (std::getline(lines, line)) {
    const auto first_src = line.find("src=");
    if (first_src == std::string::npos || line.compare(first_src, key.size(), key) != 0) continue;
    const auto at = line.find("labels=");
    if (at == std::string::npos) return "";
    const auto end = line.find(' ', at);
    return line.substr(at + 7, end == std::string::npos ? std::string::npos : end - at - 7);
  }
  return "<absent>";
}

std::string listing() {
  const auto r = run("conntrack -L -o extended,labels");
  REQUIRE(r.status == 0);
  return r.output;
}

bool is_root() { return ::geteuid() == 0; }

}  // namespace

TEST_CASE("writer labels exactly the intended entries and keeps foreign bits",
          "[conntrack][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  sh("nft -f etc/ctlabeld/ctlabeld.nft");
  // Zoom flows of zoom_v4.2.pcap (FLOWS_ndpi42.tsv flows 1 and 2), a DNS flow that stays
  // unlabelled, IPv6, ICMP, ICMPv6, and a masqueraded flow seen on the WAN side.
  sh("conntrack -I -p tcp -s 192.168.1.117 -d 109.94.160.99 --sport 54871 --dport 443 --state "
     "ESTABLISHED -t 600");
  sh("conntrack -I -p udp -s 192.168.1.117 -d 109.94.160.99 --sport 58327 --dport 8801 -t 600");
  sh("conntrack -I -p udp -s 192.168.1.117 -d 192.168.1.1 --sport 65394 --dport 53 -t 600");
  sh("conntrack -I -p tcp -s 2001:db8::1 -d 2001:db8:ffff::2 --sport 40000 --dport 443 --state "
     "ESTABLISHED -t 600");
  sh("conntrack -I -p icmp -s 192.168.1.117 -d 162.255.38.14 --icmp-type 8 --icmp-code 0 --icmp-id "
     "77 -t 60");
  sh("conntrack -I -p icmpv6 -s 2001:db8::1 -d 2001:db8:ffff::2 --icmpv6-type 128 --icmpv6-code 0 "
     "--icmpv6-id 5 -t 60");
  sh("conntrack -I -p tcp -s 10.0.0.5 -d 198.51.100.7 --sport 5555 --dport 443 --reply-src "
     "198.51.100.7 "
     "--reply-dst 203.0.113.1 --reply-port-src 443 --reply-port-dst 60001 --state ESTABLISHED -t "
     "600");
  // Someone else's label on two entries, one of which we label too.
  sh("conntrack -U -p tcp -s 192.168.1.117 -d 109.94.160.99 --sport 54871 --dport 443 --label-add "
     "foreign");
  sh("conntrack -U -p udp -s 192.168.1.117 -d 192.168.1.1 --sport 65394 --dport 53 --label-add "
     "foreign");

  auto writer = LabelWriter::start(WriterOptions{});
  INFO(writer.error_text());
  REQUIRE(writer.ok());
  const std::vector<FlowTuple> zoom_flows = {
      tuple(kProtoTcp, "192.168.1.117", 54871, "109.94.160.99", 443),
      tuple(kProtoUdp, "192.168.1.117", 58327, "109.94.160.99", 8801),
      tuple(kProtoTcp, "2001:db8::1", 40000, "2001:db8:ffff::2", 443),
      icmp(kProtoIcmp, "192.168.1.117", "162.255.38.14", 8, 77),
      icmp(kProtoIcmpV6, "2001:db8::1", "2001:db8:ffff::2", 128, 5),
      tuple(kProtoTcp, "203.0.113.1", 60001, "198.51.100.7", 443),  // as captured on the WAN side
  };
  for (const auto& t : zoom_flows) REQUIRE((*writer)->submit(zoom_update(t)));
  // A flow that has no entry: ENOENT in both directions.
  REQUIRE((*writer)->submit(zoom_update(tuple(kProtoUdp, "192.0.2.77", 1, "192.0.2.78", 2))));
  // An ICMP error (port unreachable) is never its own entry: counted, not sent.
  REQUIRE((*writer)->submit(zoom_update(icmp(kProtoIcmp, "192.168.1.117", "162.255.38.14", 3, 0))));
  (*writer)->flush();

  auto stats = (*writer)->stats();
  CHECK(stats.submitted == 8);
  CHECK(stats.untrackable == 1);
  CHECK(stats.written == 6);
  CHECK(stats.nat_reply_hits == 1);
  CHECK(stats.enoent == 1);
  CHECK(stats.enospc == 0);
  CHECK(stats.other_errors == 0);
  CHECK(stats.batches >= 2);  // the misses went out again as reply lookups

  const auto list = listing();
  INFO(list);
  CHECK(labels_of(list, "src=192.168.1.117 dst=109.94.160.99 sport=54871 dport=443") ==
        "zoom,foreign");
  CHECK(labels_of(list, "src=192.168.1.117 dst=109.94.160.99 sport=58327 dport=8801") == "zoom");
  CHECK(labels_of(list, "src=192.168.1.117 dst=192.168.1.1 sport=65394 dport=53") == "foreign");
  CHECK(labels_of(list, "src=2001:db8::1 dst=2001:db8:ffff::2 sport=40000 dport=443") == "zoom");
  CHECK(labels_of(list, "src=192.168.1.117 dst=162.255.38.14 type=8 code=0 id=77") == "zoom");
  CHECK(labels_of(list, "src=2001:db8::1 dst=2001:db8:ffff::2 type=128 code=0 id=5") == "zoom");
  CHECK(labels_of(list, "src=10.0.0.5 dst=198.51.100.7 sport=5555 dport=443") == "zoom");

  // The same answer through our own dump: exactly six entries carry bit 0.
  auto dump = dump_entries();
  REQUIRE(dump.ok());
  CHECK(dump->size() == 7);
  int zoomed = 0;
  for (const auto& e : dump.value()) zoomed += e.labels.test(kZoom) ? 1 : 0;
  CHECK(zoomed == 6);

  // A verdict that no longer matches clears our bit and only our bit.
  REQUIRE((*writer)->submit(zoom_update(zoom_flows[0], false)));
  (*writer)->flush();
  CHECK(labels_of(listing(), "src=192.168.1.117 dst=109.94.160.99 sport=54871 dport=443") ==
        "foreign");
  (*writer)->stop();
  (*writer)->stop();  // idempotent
  CHECK_FALSE((*writer)->submit(zoom_update(zoom_flows[0])));
}

TEST_CASE("self-check predicts ENOSPC, and the shipped ruleset cures it", "[conntrack][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  const FlowTuple first = tuple(kProtoUdp, "10.1.0.1", 1000, "10.1.0.2", 2000);
  const FlowTuple second = tuple(kProtoUdp, "10.1.0.3", 1000, "10.1.0.2", 2000);
  const FlowTuple third = tuple(kProtoUdp, "10.1.0.4", 1000, "10.1.0.2", 2000);

  // No ruleset: no label storage.
  auto check = self_check();
  INFO(check.message);
  CHECK(check.can_write);
  CHECK(check.labels_usable_known);
  CHECK_FALSE(check.labels_usable);
  CHECK(check.message.find("ctlabeld.nft") != std::string::npos);
  sh("conntrack -I -p udp -s 10.1.0.1 -d 10.1.0.2 --sport 1000 --dport 2000 -t 600");
  {
    auto writer = LabelWriter::start(WriterOptions{});
    REQUIRE(writer.ok());
    REQUIRE((*writer)->submit(zoom_update(first)));
    REQUIRE((*writer)->submit(zoom_update(first)));
    (*writer)->flush();
    const auto stats = (*writer)->stats();
    CHECK(stats.enospc == 2);
    CHECK(stats.written == 0);
    CHECK(stats.errors_by_errno.at(ENOSPC) == 2);
  }

  // A ruleset with only a label match: kernels differ. Whatever this one does, the self-check
  // must predict it.
  sh("printf 'table inet matchonly {\\n chain c {\\n type filter hook forward priority 0;\\n "
     "ct label zoom counter\\n }\\n}\\n' | nft -f -");
  const auto match_only = self_check();
  REQUIRE(match_only.labels_usable_known);
  sh("conntrack -I -p udp -s 10.1.0.3 -d 10.1.0.2 --sport 1000 --dport 2000 -t 600");
  {
    auto writer = LabelWriter::start(WriterOptions{});
    REQUIRE(writer.ok());
    REQUIRE((*writer)->submit(zoom_update(second)));
    (*writer)->flush();
    const auto stats = (*writer)->stats();
    if (match_only.labels_usable) {
      std::printf(
          "NOTE: this kernel gives label storage with a match-only rule ('ct label zoom'); "
          "the ENOSPC variant cannot occur here (older kernels, e.g. Debian 12's, need "
          "'ct label set')\n");
      CHECK(stats.written == 1);
    } else {
      std::printf("NOTE: this kernel needs 'ct label set': a match-only rule gives no storage\n");
      CHECK(stats.enospc == 1);
    }
  }
  // The entry created without storage stays without it, whatever is loaded later.
  sh("nft flush ruleset");
  sh("nft -f etc/ctlabeld/ctlabeld.nft");
  const auto shipped = self_check();
  CHECK(shipped.labels_usable_known);
  CHECK(shipped.labels_usable);
  sh("conntrack -I -p udp -s 10.1.0.4 -d 10.1.0.2 --sport 1000 --dport 2000 -t 600");
  auto writer = LabelWriter::start(WriterOptions{});
  REQUIRE(writer.ok());
  REQUIRE((*writer)->submit(zoom_update(first)));
  REQUIRE((*writer)->submit(zoom_update(third)));
  (*writer)->flush();
  const auto stats = (*writer)->stats();
  CHECK(stats.enospc == 1);  // `first` started before any label rule
  CHECK(stats.written == 1);
  CHECK(labels_of(listing(), "src=10.1.0.4 dst=10.1.0.2 sport=1000 dport=2000") == "zoom");
  // The self-check's probe entries are gone.
  CHECK(labels_of(listing(), "src=192.0.2.1 dst=192.0.2.2") == "<absent>");
}

TEST_CASE("without CAP_NET_ADMIN the writer refuses to start and says why", "[conntrack][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  std::fflush(nullptr);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Child: drop every effective capability, then try.
    cap_t none = cap_init();
    if (none == nullptr || cap_set_proc(none) != 0) ::_exit(10);
    cap_free(none);
    auto writer = LabelWriter::start(WriterOptions{});
    if (writer.ok()) ::_exit(11);
    if (writer.error_text().find("CAP_NET_ADMIN") == std::string::npos) ::_exit(12);
    const auto check = self_check();
    if (check.can_write || check.message.find("CAP_NET_ADMIN") == std::string::npos) ::_exit(13);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("lost replies (ENOBUFS) are counted, resent, and labelling resumes",
          "[conntrack][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  sh("nft -f etc/ctlabeld/ctlabeld.nft");
  constexpr int kFlows = 400;
  std::vector<EntrySpec> entries;
  for (int i = 0; i < kFlows; ++i) {
    EntrySpec e;
    e.original =
        tuple(kProtoUdp, "10.2.0.1", static_cast<std::uint16_t>(10000 + i), "10.2.0.2", 53);
    entries.push_back(e);
  }
  WriterOptions options;
  options.batch = 256;
  options.socket_rcvbuf = 4096;  // a few error replies fill it
  auto writer = LabelWriter::start(options);
  REQUIRE(writer.ok());
  // The table is empty (as after `conntrack -F`): every write draws ENOENT twice, a burst of
  // error replies the small buffer cannot hold.
  for (const auto& e : entries) REQUIRE((*writer)->submit(zoom_update(e.original)));
  (*writer)->flush();
  auto stats = (*writer)->stats();
  INFO("enoent " << stats.enoent << " unknown " << stats.unknown_outcome << " enobufs "
                 << stats.enobufs << " batches " << stats.batches << " written " << stats.written
                 << " other " << stats.other_errors);
  CHECK(stats.enobufs >= 1);
  CHECK(stats.written == 0);
  CHECK(stats.enoent + stats.unknown_outcome == kFlows);
  CHECK(stats.enoent > 0);

  // The entries come back; the same writer now labels every one.
  auto created = create_entries(entries);
  REQUIRE(created.ok());
  REQUIRE(created->ok == kFlows);
  for (const auto& e : entries) REQUIRE((*writer)->submit(zoom_update(e.original)));
  (*writer)->flush();
  const auto after = (*writer)->stats();
  CHECK(after.written == kFlows);
  auto dump = dump_entries();
  REQUIRE(dump.ok());
  int zoomed = 0;
  for (const auto& e : dump.value()) zoomed += e.labels.test(kZoom) ? 1 : 0;
  CHECK(zoomed == kFlows);
}

TEST_CASE("a full queue refuses and counts, never blocks; several producers",
          "[conntrack][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  sh("nft -f etc/ctlabeld/ctlabeld.nft");
  std::vector<EntrySpec> entries;
  for (int i = 0; i < 2000; ++i) {
    EntrySpec e;
    e.original =
        tuple(kProtoTcp, "10.3.0.1", static_cast<std::uint16_t>(20000 + i), "10.3.0.2", 443);
    entries.push_back(e);
  }
  auto created = create_entries(entries);
  REQUIRE(created.ok());
  REQUIRE(created->ok == entries.size());
  WriterOptions options;
  options.queue_capacity = 64;
  options.batch = 32;
  auto writer = LabelWriter::start(options);
  REQUIRE(writer.ok());
  std::atomic<std::uint64_t> accepted{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&, p] {
      for (std::size_t i = static_cast<std::size_t>(p); i < entries.size(); i += 4) {
        if ((*writer)->submit(zoom_update(entries[i].original))) accepted.fetch_add(1);
      }
    });
  }
  for (auto& t : producers) t.join();
  (*writer)->stop();
  const auto stats = (*writer)->stats();
  CHECK(stats.submitted == accepted.load());
  CHECK(stats.submitted + stats.queue_full == entries.size());
  CHECK(stats.written == stats.submitted);  // everything accepted was sent before stop returned
  auto dump = dump_entries();
  REQUIRE(dump.ok());
  std::uint64_t zoomed = 0;
  for (const auto& e : dump.value()) zoomed += e.labels.test(kZoom) ? 1 : 0;
  CHECK(zoomed == stats.written);
}

namespace {

// The mark= field of the `conntrack -L -o extended` line whose original tuple starts with `key`;
// -1 when there is no such line.
long long mark_of(const std::string& listing, const std::string& key) {
  std::istringstream lines(listing);
  std::string line;
  while (std::getline(lines, line)) {
    const auto first_src = line.find("src=");
    if (first_src == std::string::npos || line.compare(first_src, key.size(), key) != 0) continue;
    const auto at = line.find(" mark=");
    if (at == std::string::npos) return -2;
    return std::stoll(line.substr(at + 6));
  }
  return -1;
}

LabelUpdate mark_update(const FlowTuple& t, std::uint32_t mark, std::uint32_t mask) {
  LabelUpdate u;
  u.tuple = t;
  u.mark = mark;
  u.mark_mask = mask;
  return u;
}

}  // namespace

TEST_CASE("ctmark: masked mark writes keep the bits outside the mask; NAT, ICMP, IPv6",
          "[conntrack][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  // No label-enabling ruleset: these entries have no label storage, so a write that carried
  // CTA_LABELS would fail with ENOSPC. A mark-only update must not.
  const std::string nat = "src=10.0.0.5 dst=198.51.100.7 sport=5555 dport=443";
  sh("conntrack -I -p tcp -s 192.168.1.117 -d 109.94.160.99 --sport 54871 --dport 443 --state "
     "ESTABLISHED -t 600 --mark 0x12345678");
  sh("conntrack -I -p udp -s 2001:db8::1 -d 2001:db8:ffff::2 --sport 40000 --dport 8801 -t 600 "
     "--mark 0xa5a5a5a5");
  sh("conntrack -I -p icmp -s 192.168.1.117 -d 162.255.38.14 --icmp-type 8 --icmp-code 0 --icmp-id "
     "77 -t 60 --mark 0xffffffff");
  sh("conntrack -I -p icmpv6 -s 2001:db8::1 -d 2001:db8:ffff::2 --icmpv6-type 128 --icmpv6-code 0 "
     "--icmpv6-id 5 -t 60 --mark 0x1");
  sh("conntrack -I -p tcp -s 10.0.0.5 -d 198.51.100.7 --sport 5555 --dport 443 --reply-src "
     "198.51.100.7 --reply-dst 203.0.113.1 --reply-port-src 443 --reply-port-dst 60001 --state "
     "ESTABLISHED -t 600 --mark 0x00ff00ff");
  // Untouched: an entry we never write.
  sh("conntrack -I -p udp -s 192.168.1.117 -d 192.168.1.1 --sport 65394 --dport 53 -t 600 --mark "
     "0x0000ff00");

  auto writer = LabelWriter::start(WriterOptions{});
  INFO(writer.error_text());
  REQUIRE(writer.ok());
  const FlowTuple tcp4 = tuple(kProtoTcp, "192.168.1.117", 54871, "109.94.160.99", 443);
  const FlowTuple udp6 = tuple(kProtoUdp, "2001:db8::1", 40000, "2001:db8:ffff::2", 8801);
  const FlowTuple ping = icmp(kProtoIcmp, "192.168.1.117", "162.255.38.14", 8, 77);
  const FlowTuple ping6 = icmp(kProtoIcmpV6, "2001:db8::1", "2001:db8:ffff::2", 128, 5);
  const FlowTuple wan = tuple(kProtoTcp, "203.0.113.1", 60001, "198.51.100.7", 443);  // NAT'd side
  REQUIRE((*writer)->submit(mark_update(tcp4, 0x0100, 0xff00)));
  REQUIRE((*writer)->submit(mark_update(udp6, 0x00000b00, 0x00000f00)));
  REQUIRE((*writer)->submit(mark_update(ping, 0x0, 0x000000f0)));
  REQUIRE((*writer)->submit(mark_update(ping6, 0x80000000, 0x80000000)));
  REQUIRE((*writer)->submit(mark_update(wan, 0x00001200, 0x0000ff00)));
  (*writer)->flush();
  auto stats = (*writer)->stats();
  CHECK(stats.written == 5);
  CHECK(stats.nat_reply_hits == 1);
  CHECK(stats.enospc == 0);
  CHECK(stats.other_errors == 0);
  auto list = run("conntrack -L -o extended").output;
  INFO(list);
  CHECK(mark_of(list, "src=192.168.1.117 dst=109.94.160.99 sport=54871 dport=443") == 0x12340178);
  CHECK(mark_of(list, "src=2001:db8::1 dst=2001:db8:ffff::2 sport=40000 dport=8801") == 0xa5a5aba5);
  CHECK(mark_of(list, "src=192.168.1.117 dst=162.255.38.14 type=8 code=0 id=77") == 0xffffff0f);
  CHECK(mark_of(list, "src=2001:db8::1 dst=2001:db8:ffff::2 type=128 code=0 id=5") == 0x80000001);
  CHECK(mark_of(list, nat) == 0x00ff12ff);
  CHECK(mark_of(list, "src=192.168.1.117 dst=192.168.1.1 sport=65394 dport=53") == 0x0000ff00);

  // The action stops matching: the managed bits go back to 0, the others stay.
  REQUIRE((*writer)->submit(mark_update(tcp4, 0, 0xff00)));
  REQUIRE((*writer)->submit(mark_update(wan, 0, 0x0000ff00)));
  (*writer)->flush();
  list = run("conntrack -L -o extended").output;
  CHECK(mark_of(list, "src=192.168.1.117 dst=109.94.160.99 sport=54871 dport=443") == 0x12340078);
  CHECK(mark_of(list, nat) == 0x00ff00ff);
  // Labels and a mark in one update: both land where label storage exists.
  sh("nft -f etc/ctlabeld/ctlabeld.nft");
  sh("conntrack -I -p tcp -s 10.4.0.1 -d 10.4.0.2 --sport 1000 --dport 443 --state ESTABLISHED "
     "-t 600 --mark 0x5");
  LabelUpdate both = zoom_update(tuple(kProtoTcp, "10.4.0.1", 1000, "10.4.0.2", 443));
  both.mark = 0x30;
  both.mark_mask = 0xf0;
  REQUIRE((*writer)->submit(both));
  (*writer)->flush();
  stats = (*writer)->stats();
  CHECK(stats.written == 8);
  list = run("conntrack -L -o extended,labels").output;
  CHECK(mark_of(list, "src=10.4.0.1 dst=10.4.0.2 sport=1000 dport=443") == 0x35);
  CHECK(labels_of(list, "src=10.4.0.1 dst=10.4.0.2 sport=1000 dport=443") == "zoom");
  // tcp4 started before the label rule: the label part answers ENOSPC, the kernel has written
  // the mark before it looks at labels.
  LabelUpdate late = zoom_update(tcp4);
  late.mark = 0x0200;
  late.mark_mask = 0xff00;
  REQUIRE((*writer)->submit(late));
  (*writer)->flush();
  CHECK((*writer)->stats().enospc == 1);
  list = run("conntrack -L -o extended").output;
  CHECK(mark_of(list, "src=192.168.1.117 dst=109.94.160.99 sport=54871 dport=443") == 0x12340278);
  // An entry gone: ENOENT in both directions, as for labels.
  REQUIRE((*writer)->submit(mark_update(tuple(kProtoUdp, "192.0.2.77", 1, "192.0.2.78", 2), 1, 1)));
  (*writer)->flush();
  CHECK((*writer)->stats().enoent == 1);
}
