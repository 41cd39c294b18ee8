// SPDX-License-Identifier: GPL-3.0-or-later
// The ipset target's writer thread against the real kernel, each case in a private network
// namespace: binding (same set, same handle; the self-checks), adds and deletes with members
// shared by flows, per-set counters, a full and a destroyed set, the refresh at half the
// timeout, changes handed back when their answer was lost, and bind() racing the writer.
#include <catch2/catch.hpp>

#include <libipset/linux_ip_set.h>
#include <libipset/linux_ip_set_hash.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "ctlabeld/ipset/sink_writer.hpp"
#include "test/unit/set_test_support.hpp"

using namespace ctlabeld;
using namespace ctlabeld::ipset;
using namespace ctlabeld::test;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<IpsetSinkWriter> start_writer(const SinkWriterOptions& options = {}) {
  auto started = IpsetSinkWriter::start(options);
  INFO(started.error_text());
  REQUIRE(started.ok());
  return std::move(started).value();
}

SetSpec spec_of(const std::string& name, Type type, Family family = Family::kIpv4) {
  SetSpec spec;
  spec.name = name;
  spec.type = type;
  spec.family = family;
  spec.managed = true;
  return spec;
}

std::uint16_t bind(IpsetSinkWriter& writer, const SetSpec& spec) {
  auto handle = writer.bind(std::any(spec));
  INFO(handle.error_text());
  REQUIRE(handle.ok());
  return handle.value();
}

MemberChange change(SetOp op, std::uint16_t handle, const MemberFields& m,
                    std::chrono::seconds timeout = 900s,
                    WriteFeedback<MemberChange>* feedback = nullptr) {
  MemberChange c;
  c.op = op;
  c.sink = SinkRef{0, handle};
  c.timeout = timeout;
  c.fields = m;
  c.feedback = feedback;
  return c;
}

void submit(IpsetSinkWriter& writer, const MemberChange& c) { REQUIRE(writer.submit(c)); }

std::string listing_of(const std::string& set) {
  const auto r = run("ipset list " + set);
  INFO(r.output);
  REQUIRE(r.status == 0);
  return r.output;
}

bool in_set(const std::string& set, const std::string& member) {
  return run("ipset test " + set + " " + member).status == 0;
}

// Polls (bounded) until `member` is in or out of `set`.
bool wait_member(const std::string& set, const std::string& member, bool present,
                 std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (in_set(set, member) == present) return true;
    std::this_thread::sleep_for(50ms);
  }
  return in_set(set, member) == present;
}

SinkCounters counters_of(const IpsetSinkWriter& writer, const std::string& set) {
  for (auto& c : writer.counters()) {
    if (c.name == "ipset " + set) return c;
  }
  FAIL("no counters for " << set);
  return {};
}

}  // namespace

TEST_CASE("ipset sink writer: bind gives one handle per set and runs the self-checks",
          "[ipset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  auto writer = start_writer();
  const SetSpec v4 = spec_of("nfa.blocks.v4", Type::kHashIp);
  const SetSpec v6 = spec_of("nfa.blocks.v6", Type::kHashIp, Family::kIpv6);
  const auto h4 = bind(*writer, v4);
  const auto h6 = bind(*writer, v6);
  CHECK(h4 != h6);
  CHECK(bind(*writer, v4) == h4);  // a reload: the same handle
  SetSpec marked = v4;
  marked.skb.mark = 0x20;
  marked.managed = false;
  // Changed settings for the same set keep the handle (the set must support them).
  auto no_skb = writer->bind(std::any(marked));
  REQUIRE_FALSE(no_skb.ok());
  CHECK_THAT(no_skb.error_text(), Catch::Contains("has no skbinfo support"));
  SetSpec longer = v4;
  longer.max_elements = 100;  // an existing managed set keeps its size: same checks pass
  CHECK(bind(*writer, longer) == h4);

  SetSpec missing = spec_of("nfa.missing.v4", Type::kHashIpPort);
  missing.managed = false;
  auto not_there = writer->bind(std::any(missing));
  REQUIRE_FALSE(not_there.ok());
  CHECK(not_there.error_text() ==
        "ipset: ipset nfa.missing.v4 does not exist: create it with `ipset create nfa.missing.v4 "
        "hash:ip,port family inet maxelem 65536 timeout 0`, or set \"managed\": true in the "
        "target\n");
  sh("ipset create nfa.wrong.v4 hash:ip,port,ip timeout 0");
  SetSpec wrong = spec_of("nfa.wrong.v4", Type::kHashIp);
  wrong.managed = false;
  auto wrong_type = writer->bind(std::any(wrong));
  REQUIRE_FALSE(wrong_type.ok());
  CHECK_THAT(wrong_type.error_text(),
             Catch::Contains("has type hash:ip,port,ip but the target needs hash:ip"));
  auto not_a_spec = writer->bind(std::any(42));
  CHECK_FALSE(not_a_spec.ok());

  // The writer still serves the sets that bound.
  submit(*writer, change(SetOp::kAdd, h4, member("10.0.0.2", 6, 443, "203.0.113.5")));
  submit(*writer, change(SetOp::kAdd, h6, member("fd00::2", 6, 443, "2001:db8::5")));
  writer->flush();
  CHECK(in_set("nfa.blocks.v4", "203.0.113.5"));
  CHECK(in_set("nfa.blocks.v6", "2001:db8::5"));
}

TEST_CASE("ipset sink writer: adds and deletes, members shared by flows, counters",
          "[ipset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  auto writer = start_writer();
  const auto ip = bind(*writer, spec_of("nfa.ip.v4", Type::kHashIp));
  const auto ipportip =
      bind(*writer, spec_of("nfa.ipportip.v6", Type::kHashIpPortIp, Family::kIpv6));
  // Two flows to one server: one hash:ip member.
  const MemberFields a = member("10.0.0.2", 6, 443, "203.0.113.5");
  const MemberFields b = member("10.0.0.3", 6, 8443, "203.0.113.5");
  const MemberFields c = member("10.0.0.2", 17, 53, "203.0.113.6");
  const MemberFields six = member("fd00::2", 6, 443, "2001:db8::5");
  submit(*writer, change(SetOp::kAdd, ip, a));
  submit(*writer, change(SetOp::kAdd, ip, b));
  submit(*writer, change(SetOp::kAdd, ip, c));
  submit(*writer, change(SetOp::kAdd, ipportip, six, 0s));
  writer->flush();
  CHECK(in_set("nfa.ip.v4", "203.0.113.5"));
  CHECK(in_set("nfa.ip.v4", "203.0.113.6"));
  CHECK(in_set("nfa.ipportip.v6", "fd00::2,tcp:443,2001:db8::5"));
  CHECK(count_of(listing_of("nfa.ip.v4"), {"\n203.0.113.# timeout"}) == 2);
  auto counters = counters_of(*writer, "nfa.ip.v4");
  CHECK(counters.writes == 3);
  CHECK(counters.present == 2);
  CHECK(counters.errors == 0);

  // The first flow ends: the member stays for the second.
  submit(*writer, change(SetOp::kDelete, ip, a));
  writer->flush();
  CHECK(in_set("nfa.ip.v4", "203.0.113.5"));
  CHECK(writer->stats().shared == 1);
  submit(*writer, change(SetOp::kDelete, ip, b));
  submit(*writer, change(SetOp::kDelete, ip, c));
  submit(*writer, change(SetOp::kDelete, ipportip, six));
  writer->flush();
  CHECK_FALSE(in_set("nfa.ip.v4", "203.0.113.5"));
  CHECK_FALSE(in_set("nfa.ip.v4", "203.0.113.6"));
  CHECK_FALSE(in_set("nfa.ipportip.v6", "fd00::2,tcp:443,2001:db8::5"));
  counters = counters_of(*writer, "nfa.ip.v4");
  CHECK(counters.writes == 5);
  CHECK(counters.present == 0);
  CHECK(counters_of(*writer, "nfa.ipportip.v6").writes == 2);
  const auto stats = writer->stats();
  CHECK(stats.members == 0);
  CHECK(stats.submitted == 8);
  CHECK(log2_total(stats.latency_us) == 7);  // one answer per change sent

  // A retried add (handed back before, attempts > 0) was counted when first sent: one delete
  // still takes the member out.
  submit(*writer, change(SetOp::kAdd, ip, a));
  MemberChange retry = change(SetOp::kAdd, ip, a);
  retry.attempts = 1;
  submit(*writer, retry);
  writer->flush();
  CHECK(writer->stats().members == 1);
  // A retried delete finds the member taken by another flow since: it stays.
  submit(*writer, change(SetOp::kDelete, ip, a));
  submit(*writer, change(SetOp::kAdd, ip, b));
  MemberChange late = change(SetOp::kDelete, ip, a);
  late.attempts = 1;
  submit(*writer, late);
  writer->flush();
  CHECK(in_set("nfa.ip.v4", "203.0.113.5"));
  submit(*writer, change(SetOp::kDelete, ip, b));
  writer->flush();
  CHECK_FALSE(in_set("nfa.ip.v4", "203.0.113.5"));
  CHECK(writer->stats().members == 0);
  CHECK(counters_of(*writer, "nfa.ip.v4").present == 0);
}

TEST_CASE("ipset sink writer: a full set and a destroyed set are counted, dropped, logged once",
          "[ipset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  const auto log = capture_log("ipset");
  auto writer = start_writer();
  SetSpec small = spec_of("nfa.small.v4", Type::kHashIp);
  small.max_elements = 4;
  const auto set = bind(*writer, small);
  WriteFeedback<MemberChange> feedback;
  for (int i = 1; i <= 6; ++i) {
    const std::string other = "192.0.2." + std::to_string(i);
    submit(*writer,
           change(SetOp::kAdd, set, member("10.0.0.2", 6, 443, other.c_str()), 900s, &feedback));
  }
  writer->flush();
  auto counters = counters_of(*writer, "nfa.small.v4");
  CHECK(counters.writes == 4);
  CHECK(counters.present == 4);
  CHECK(counters.dropped == 2);
  CHECK(counters.errors == 2);
  CHECK(counters.errors_by_errno[IPSET_ERR_HASH_FULL] == 2);
  std::vector<MemberChange> back;
  CHECK_FALSE(feedback.take(back));  // a full set is not retried
  CHECK(logged(*log, "ipset nfa.small.v4 is full (maxelem 4)") == 1);

  sh("ipset destroy nfa.small.v4");
  for (int i = 10; i < 13; ++i) {
    const std::string other = "192.0.2." + std::to_string(i);
    submit(*writer,
           change(SetOp::kAdd, set, member("10.0.0.2", 6, 443, other.c_str()), 900s, &feedback));
  }
  writer->flush();
  counters = counters_of(*writer, "nfa.small.v4");
  CHECK(counters.dropped == 5);
  CHECK(counters.errors_by_errno[ENOENT] == 3);
  CHECK_FALSE(feedback.take(back));
  CHECK(logged(*log, "ipset nfa.small.v4: does not exist any more") == 1);
}

TEST_CASE("ipset sink writer: a live member is added again at half its timeout until deleted",
          "[ipset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  SinkWriterOptions refreshing;
  refreshing.refresh_tick = 200ms;
  auto writer = start_writer(refreshing);
  SinkWriterOptions plain;
  plain.refresh_tick = 0ms;
  auto lazy = start_writer(plain);
  const auto set = bind(*writer, spec_of("nfa.live.v4", Type::kHashIp));
  const auto other = bind(*lazy, spec_of("nfa.lazy.v4", Type::kHashIp));
  const MemberFields m = member("10.0.0.2", 6, 443, "198.51.100.7");
  submit(*writer, change(SetOp::kAdd, set, m, 2s));
  submit(*lazy, change(SetOp::kAdd, other, m, 2s));
  writer->flush();
  lazy->flush();
  REQUIRE(in_set("nfa.live.v4", "198.51.100.7"));
  REQUIRE(in_set("nfa.lazy.v4", "198.51.100.7"));
  // Without the refresh the kernel expires the member after its 2 s; with it, it stays.
  CHECK(wait_member("nfa.lazy.v4", "198.51.100.7", false, 5000ms));
  CHECK(in_set("nfa.live.v4", "198.51.100.7"));
  std::this_thread::sleep_for(1000ms);
  CHECK(in_set("nfa.live.v4", "198.51.100.7"));
  CHECK(writer->stats().refreshes >= 2);
  // The flow ends: the member goes and is not refreshed back.
  submit(*writer, change(SetOp::kDelete, set, m));
  writer->flush();
  CHECK_FALSE(in_set("nfa.live.v4", "198.51.100.7"));
  const auto refreshes = writer->stats().refreshes;
  std::this_thread::sleep_for(600ms);
  CHECK_FALSE(in_set("nfa.live.v4", "198.51.100.7"));
  CHECK(writer->stats().refreshes == refreshes);
}

TEST_CASE("ipset sink writer: changes whose answer was lost come back, and their retry lands",
          "[ipset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  // A tiny receive buffer: the kernel applies 16 one-element messages per send but drops most
  // acknowledgements (ENOBUFS), so the writer cannot know those changes landed.
  SinkWriterOptions options;
  options.set_writer.socket_buffer = 4096;
  options.set_writer.elements_per_message = 1;
  options.set_writer.messages_per_send = 16;
  options.refresh_tick = 0ms;
  auto writer = start_writer(options);
  const auto set = bind(*writer, spec_of("nfa.lossy.v4", Type::kHashIp));
  const auto busy = bind(*writer, spec_of("nfa.busy.v4", Type::kHashIp));
  // Keeps the writer thread busy (thousands of one-element messages) while the changes under
  // test queue up behind, so they are taken as one batch of full sends whatever the timing.
  const MemberFields filler = member("10.0.0.2", 6, 443, "100.64.0.0");
  auto keep_busy = [&] {
    for (std::uint32_t i = 0; i < 3000; ++i) {
      MemberFields m = filler;
      m.other_addr.bytes[2] = static_cast<std::uint8_t>(i >> 8);
      m.other_addr.bytes[3] = static_cast<std::uint8_t>(i);
      submit(*writer, change(SetOp::kAdd, busy, m));
    }
  };
  WriteFeedback<MemberChange> feedback;
  constexpr int kMembers = 64;
  keep_busy();
  for (int i = 0; i < kMembers; ++i) {
    const std::string other = "198.18.0." + std::to_string(i + 1);
    submit(*writer,
           change(SetOp::kAdd, set, member("10.0.0.2", 6, 443, other.c_str()), 900s, &feedback));
  }
  writer->flush();
  std::vector<MemberChange> back;
  REQUIRE(feedback.take(back));
  const std::uint64_t first = back.size();
  CHECK(writer->stats().handed_back == first);
  CHECK(counters_of(*writer, "nfa.lossy.v4").writes == kMembers - first);
  // The enforcer's part: submit them again until none comes back.
  for (int round = 0; round < 200 && !back.empty(); ++round) {
    for (auto c : back) {
      ++c.attempts;  // as the enforcer resends a handed-back change
      submit(*writer, c);
    }
    writer->flush();
    (void)feedback.take(back);
  }
  CHECK(back.empty());
  const auto counters = counters_of(*writer, "nfa.lossy.v4");
  CHECK(counters.writes == kMembers);
  CHECK(counters.present == kMembers);
  CHECK(counters_of(*writer, "nfa.lossy.v4").errors == writer->stats().handed_back);
  CHECK(writer->stats().members == kMembers + 3000);  // the busy set's members too
  CHECK(count_of(listing_of("nfa.lossy.v4"), {"\n198.18.0.# timeout"}) == kMembers);

  // Deletes whose answer was lost come back too; retried, they leave nothing behind.
  const auto handed_before = writer->stats().handed_back;
  keep_busy();
  for (int i = 0; i < kMembers; ++i) {
    const std::string other = "198.18.0." + std::to_string(i + 1);
    submit(*writer,
           change(SetOp::kDelete, set, member("10.0.0.2", 6, 443, other.c_str()), 0s, &feedback));
  }
  writer->flush();
  REQUIRE(feedback.take(back));
  CHECK(writer->stats().handed_back - handed_before == back.size());
  for (int round = 0; round < 200 && !back.empty(); ++round) {
    for (auto c : back) {
      ++c.attempts;
      submit(*writer, c);
    }
    writer->flush();
    (void)feedback.take(back);
  }
  CHECK(back.empty());
  CHECK(count_of(listing_of("nfa.lossy.v4"), {"\n198.18.0.# timeout"}) == 0);
  CHECK(counters_of(*writer, "nfa.lossy.v4").present == 0);
  CHECK(writer->stats().members == 3000);
}

TEST_CASE("ipset sink writer: bind from another thread while the writer sends", "[ipset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  auto writer = start_writer();
  const auto set = bind(*writer, spec_of("nfa.busy.v4", Type::kHashIpPort));
  std::atomic<bool> done{false};
  const MemberFields base = member("10.0.0.2", 6, 0, "198.51.100.9");
  std::thread submitter([&] {
    for (int i = 0; i < 20000; ++i) {
      MemberFields m = base;
      m.other_port = static_cast<std::uint16_t>(1000 + i % 5000);
      while (!writer->submit(change(SetOp::kAdd, set, m))) std::this_thread::yield();
    }
    done = true;
  });
  std::vector<std::uint16_t> handles;
  for (int i = 0; i < 20; ++i) {
    handles.push_back(
        bind(*writer, spec_of("nfa.extra" + std::to_string(i) + ".v4", Type::kHashIp)));
    CHECK(bind(*writer, spec_of("nfa.busy.v4", Type::kHashIpPort)) == set);
  }
  submitter.join();
  writer->flush();
  CHECK(done);
  CHECK(handles.size() == 20);
  CHECK(counters_of(*writer, "nfa.busy.v4").present == 5000);
  CHECK(count_of(listing_of("nfa.busy.v4"), {"\n198.51.100.9,tcp:# timeout"}) == 5000);
  writer->stop();
  writer->stop();  // idempotent
  CHECK_FALSE(writer->submit(change(SetOp::kAdd, set, member("10.0.0.2", 6, 1, "1.1.1.1"))));
  CHECK_FALSE(writer->bind(std::any(spec_of("nfa.late.v4", Type::kHashIp))).ok());
}

TEST_CASE("ipset sink writer: stop flushes the flush_on_destroy sets", "[ipset][kernel]") {
  if (!is_root()) {
    WARN("SKIP: not root; kernel tests need CAP_NET_ADMIN");
    return;
  }
  auto box = sandbox();
  auto writer = start_writer();
  SetSpec flushed = spec_of("nfa.flushed.v4", Type::kHashIp);
  flushed.flush_on_destroy = true;
  const auto a = bind(*writer, flushed);
  const auto b = bind(*writer, spec_of("nfa.kept.v4", Type::kHashIp));
  const MemberFields m = member("10.0.0.2", 6, 443, "198.51.100.1");
  submit(*writer, change(SetOp::kAdd, a, m));
  submit(*writer, change(SetOp::kAdd, b, m));
  writer->flush();
  // flush_on_create empties a set at start, not on a reload (the members are still tracked).
  SetSpec emptied = spec_of("nfa.kept.v4", Type::kHashIp);
  emptied.flush_on_create = true;
  CHECK(bind(*writer, emptied) == b);
  CHECK(in_set("nfa.kept.v4", "198.51.100.1"));
  sh("ipset add nfa.flushed.v4 198.51.100.2");
  writer->stop();  // drains what was queued first
  CHECK_FALSE(in_set("nfa.flushed.v4", "198.51.100.1"));
  CHECK_FALSE(in_set("nfa.flushed.v4", "198.51.100.2"));
  CHECK(in_set("nfa.kept.v4", "198.51.100.1"));
  CHECK(counters_of(*writer, "nfa.kept.v4").writes == 1);
}
