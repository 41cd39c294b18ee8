// SPDX-License-Identifier: GPL-3.0-or-later
// The worker's path from verdict to enforcement, without root: a real classifier over a shared
// capture, the real rules, and a fake label writer that refuses when told to.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "../enforce/fake_writer.hpp"
#include "../actions/test_support.hpp"
#include "ctlabeld/capture/file_reader.hpp"
#include "rules_holder.hpp"
#include "worker.hpp"

namespace ctlabeld::app {
namespace {

using conntrack::LabelUpdate;

constexpr const char* kZoomPcap = "../shared/pcaps/zoom_v4.2.pcap";
constexpr std::size_t kZoomFlows = 19;  // ndpiReader 4.2's Zoom flows in that capture

using FakeWriter = test::FakeLabelWriter;

// `with_zoom` false: the zoom action and its target are gone from the file.
std::string rules_json(const std::string& zoom_target, bool with_zoom = true) {
  return R"({"version": 1,
    "targets": {)" +
         (with_zoom ? R"("ctlabel.zoom": )" + zoom_target + "," : std::string()) +
         R"("ctlabel.other": {"target_type": "ctlabel", "labels": ["other"]}
    },
    "actions": {)" +
         (with_zoom ? R"("zoom": {"criteria": "app == 'zoom';", "targets": ["ctlabel.zoom"]},)"
                    : "") +
         R"("never": {"criteria": "app == 'no-such-app';", "targets": ["ctlabel.other"]}}})";
}
const std::string kZoomTarget = R"({"target_type": "ctlabel", "labels": ["zoom"]})";

std::shared_ptr<const actions::RuleSet> load(const std::string& json) {
  auto loaded = actions::load_config_text(json, "rules.json",
                                          actions::test::map_factory({{"zoom", 0}, {"other", 1}}),
                                          actions::test::risk_lookup());
  INFO(loaded.error_text());
  REQUIRE(loaded.ok());
  return loaded->rules;
}

// Flows live until finish(): no idle expiry inside the capture's time span.
std::unique_ptr<classify::Classifier> classifier() {
  classify::ClassifierConfig config;
  config.tcp_idle = config.tcp_closed_idle = config.udp_idle = config.other_idle =
      std::chrono::hours(24);
  config.source_names = {"test"};
  auto made = classify::Classifier::create(config);
  REQUIRE(made.ok());
  return std::move(made.value());
}

// Every packet of a capture to `events`; `between` runs after every batch of 64 frames, where
// the pipeline calls Worker::poll().
template <typename Handle, typename Between>
void replay(const char* path, Handle&& handle, Between&& between) {
  auto opened = capture::FileReader::open(path);
  REQUIRE(opened.ok());
  capture::FileReader& reader = opened.value();
  const auto link = static_cast<capture::LinkType>(reader.datalink());
  for (;;) {
    const auto status = reader.read(
        [&](const capture::RawFrame& f) {
          capture::DecodedPacket p;
          if (capture::decode(link, f.data, f.caplen, f.wire_len, f.ts_us, p) ==
              capture::DecodeStatus::kOk) {
            handle(p);
          }
        },
        64);
    between();
    if (status != capture::ReadStatus::kOk) break;
  }
}

void replay(const char* path, Worker& worker) {
  replay(
      path, [&](const capture::DecodedPacket& p) { worker.handle(p, 0); }, [&] { worker.poll(); });
}

LabelBits bit(unsigned b) {
  LabelBits x;
  x.set(b);
  return x;
}

// The last accepted update per flow.
std::map<std::pair<std::uint32_t, std::uint32_t>, LabelUpdate> last_by_flow(
    const std::vector<LabelUpdate>& updates) {
  std::map<std::pair<std::uint32_t, std::uint32_t>, LabelUpdate> out;
  for (const auto& u : updates) out[{u.flow.index, u.flow.generation}] = u;
  return out;
}

std::size_t labelled_with(const std::vector<LabelUpdate>& updates, unsigned b) {
  std::size_t n = 0;
  for (const auto& [flow, u] : last_by_flow(updates)) n += u.bits == bit(b) ? 1 : 0;
  return n;
}

TEST_CASE("worker: a refused label update is kept, retried and lands", "[app][enforce]") {
  RulesHolder rules;
  rules.publish(load(rules_json(kZoomTarget)));
  FakeWriter baseline_writer;
  {
    Worker worker(0, classifier(), rules, &baseline_writer, nullptr);
    replay(kZoomPcap, worker);
    worker.finish();
  }
  REQUIRE(labelled_with(baseline_writer.accepted, 0) == kZoomFlows);

  FakeWriter writer;
  writer.refuse = 5;  // the writer's queue is full for the first five submits
  Worker worker(0, classifier(), rules, &writer, nullptr);
  replay(kZoomPcap, worker);
  worker.finish();
  const WorkerSnapshot s = worker.snapshot();
  CHECK(writer.refused == 5);
  CHECK(value_of(s.counters, WorkerCounter::kLabelQueueFull) == 5);
  CHECK(value_of(s.counters, WorkerCounter::kLabelRetries) >= 1);
  // Every Zoom flow still got its label, exactly as without refusals.
  CHECK(labelled_with(writer.accepted, 0) == kZoomFlows);
  CHECK(value_of(s.counters, WorkerCounter::kLabelUpdates) == writer.accepted.size());
}

TEST_CASE("worker: a reload clears labels on live flows when the rules stop setting them",
          "[app][enforce]") {
  RulesHolder rules;
  rules.publish(load(rules_json(kZoomTarget)));
  FakeWriter writer;
  Worker worker(0, classifier(), rules, &writer, nullptr);
  replay(kZoomPcap, worker);  // every flow is still live: no finish()
  REQUIRE(labelled_with(writer.accepted, 0) == kZoomFlows);
  const std::size_t before = writer.accepted.size();

  LabelBits expected;  // what the Zoom flows must carry after the reload
  SECTION("the target's label changed from zoom to other") {
    rules.publish(load(rules_json(R"({"target_type": "ctlabel", "labels": ["other"]})")));
    expected = bit(1);
  }
  SECTION("the action and its target were removed") {
    rules.publish(load(rules_json(kZoomTarget, false)));
  }
  SECTION("the target was disabled") {
    rules.publish(load(
        rules_json(R"({"target_type": "ctlabel", "labels": ["zoom"], "target_enabled": false})")));
  }
  worker.poll();
  const std::vector<LabelUpdate> after(writer.accepted.begin() + static_cast<long>(before),
                                       writer.accepted.end());
  // One update per labelled flow, each clearing bit 0 (in the mask, not in the bits).
  REQUIRE(after.size() == kZoomFlows);
  for (const auto& u : after) {
    CHECK(u.mask.test(0));
    CHECK(u.bits == expected);
  }
  // Applied now: a second poll sends nothing.
  worker.poll();
  CHECK(writer.accepted.size() == before + kZoomFlows);
}

// Counts what the classifier announces, to compare with the worker's evaluations.
struct VerdictCounter final : classify::FlowEvents {
  std::size_t verdicts = 0;
  void on_verdict(const classify::FlowView&, bool) override { ++verdicts; }
  void on_end(const classify::FlowView&, classify::EndReason) override {}
};

TEST_CASE("worker: exactly one rule evaluation per verdict change, with --flows too",
          "[app][enforce]") {
  VerdictCounter counter;
  auto bare = classifier();
  replay(
      kZoomPcap, [&](const capture::DecodedPacket& p) { bare->process(p, 0, counter); }, [] {});
  bare->flush(counter);
  REQUIRE(counter.verdicts > 0);

  RulesHolder rules;
  rules.publish(load(rules_json(kZoomTarget)));
  auto flows = FlowOutput::open("/dev/null");
  REQUIRE(flows.ok());
  FakeWriter writer;
  Worker worker(0, classifier(), rules, &writer, flows->get());
  replay(kZoomPcap, worker);
  worker.finish();
  CHECK(value_of(worker.snapshot().counters, WorkerCounter::kRuleEvaluations) == counter.verdicts);
}

}  // namespace
}  // namespace ctlabeld::app
