// SPDX-License-Identifier: GPL-3.0-or-later
// The worker's path from verdict to enforcement, without root: a real classifier over a shared
// capture, the real rules, and a fake label writer that refuses when told to.
#include <catch2/catch.hpp>

#include <date/date.h>

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

// time_of_day through the worker: a fake wall clock crosses window edges between polls, with no
// packet at all, and the Zoom flows' labels are set when a window opens and cleared when it
// closes; polls between edges evaluate nothing.
actions::SysSeconds utc(int y, unsigned mo, unsigned d, int h, int mi, int s = 0) {
  return actions::SysSeconds{date::sys_days{date::year{y} / date::month{mo} / date::day{d}}} +
         std::chrono::hours(h) + std::chrono::minutes(mi) + std::chrono::seconds(s);
}

std::string windowed_rules(const std::string& zone, const std::string& day,
                           const std::string& start, const std::string& end) {
  return R"({"version": 1, "timezone": ")" + zone + R"(",
    "targets": {"ctlabel.zoom": {"target_type": "ctlabel", "labels": ["zoom"]}},
    "actions": {"zoom": {"criteria": "app == 'zoom';", "targets": ["ctlabel.zoom"],
      "time_of_day": [{"day": [")" +
         day + R"("], "time_start": ")" + start + R"(", "time_end": ")" + end +
         R"(", "policy": "inclusive"}]}}})";
}

TEST_CASE("worker: time_of_day edges set and clear labels on live flows without a packet",
          "[app][enforce][time]") {
  struct Case {
    const char* what;
    std::string rules;
    actions::SysSeconds opens;   // the window's opening edge, in UTC
    actions::SysSeconds closes;  // its closing edge
  };
  // 2026-12-02 is a Wednesday; 2026-03-29 (a Sunday) is Berlin's spring change, 02:00 CET ->
  // 03:00 CEST, so its 01:30-03:30 window lasts one hour: 00:30 to 01:30 UTC.
  const Case c =
      GENERATE(Case{"a window within one day", windowed_rules("UTC", "wed", "10:00", "10:05"),
                    utc(2026, 12, 2, 10, 0), utc(2026, 12, 2, 10, 5)},
               Case{"a window across midnight", windowed_rules("UTC", "wed", "23:58", "00:02"),
                    utc(2026, 12, 2, 23, 58), utc(2026, 12, 3, 0, 2)},
               Case{"a window across the spring DST change",
                    windowed_rules("Europe/Berlin", "sun", "01:30", "03:30"),
                    utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 30)});
  INFO(c.what);
  RulesHolder rules;
  rules.publish(load(c.rules));
  REQUIRE(rules.get()->has_windows());
  actions::SysSeconds now = c.opens - std::chrono::seconds(90);
  FakeWriter writer;
  Worker worker(0, classifier(), rules, &writer, nullptr, [&now] { return now; });
  replay(kZoomPcap, worker);  // every flow classified while the window is closed
  CHECK(labelled_with(writer.accepted, 0) == 0);
  const auto evaluations = [&] {
    return value_of(worker.snapshot().counters, WorkerCounter::kRuleEvaluations);
  };
  const auto edges = [&] {
    return value_of(worker.snapshot().counters, WorkerCounter::kWindowEdges);
  };
  const std::uint64_t before = evaluations();

  now = c.opens - std::chrono::seconds(1);
  worker.poll();
  CHECK(writer.accepted.empty());
  CHECK(evaluations() == before);  // not at the edge yet: nothing evaluated
  now = c.opens;
  worker.poll();
  CHECK(edges() == 1);
  CHECK(labelled_with(writer.accepted, 0) == kZoomFlows);
  const std::uint64_t flows_with_verdicts = evaluations() - before;
  CHECK(flows_with_verdicts >= kZoomFlows);
  const std::size_t set = writer.accepted.size();
  CHECK(set == kZoomFlows);

  now = c.closes - std::chrono::seconds(1);
  worker.poll();
  CHECK(writer.accepted.size() == set);  // still open: nothing re-sent
  CHECK(edges() == 1);
  now = c.closes;
  worker.poll();
  CHECK(edges() == 2);
  CHECK(evaluations() == before + 2 * flows_with_verdicts);
  REQUIRE(writer.accepted.size() == set + kZoomFlows);
  for (std::size_t i = set; i < writer.accepted.size(); ++i) {
    CHECK(writer.accepted[i].mask.test(0));
    CHECK(writer.accepted[i].bits.none());
  }
}

// Netify v5 reprocess_flows false: a reload reaches new flows only. The rules are reloaded
// (zoom -> other) as soon as the first Zoom flow is labelled, half-way through the capture.
TEST_CASE("worker: reprocess_flows false leaves classified flows as they are on a reload",
          "[app][enforce]") {
  const bool reprocess = GENERATE(false, true);
  INFO("reprocess_flows " << reprocess);
  const std::string flag = std::string(R"({"reprocess_flows": )") + (reprocess ? "true" : "false");
  auto with_flag = [&](const std::string& json) { return flag + "," + json.substr(1); };
  RulesHolder rules;
  rules.publish(load(with_flag(rules_json(kZoomTarget))));
  REQUIRE(rules.get()->parts().reprocess_flows == reprocess);
  FakeWriter writer;
  Worker worker(0, classifier(), rules, &writer, nullptr);
  bool reloaded = false;
  std::uint64_t evaluations_at_reload = 0;
  std::size_t labelled_before = 0;
  std::size_t updates_at_reload = 0;
  std::size_t updates_by_reload = 0;  // what the poll that picked up the reload sent
  replay(
      kZoomPcap, [&](const capture::DecodedPacket& p) { worker.handle(p, 0); },
      [&] {
        worker.poll();
        if (reloaded || labelled_with(writer.accepted, 0) == 0) return;
        reloaded = true;
        labelled_before = labelled_with(writer.accepted, 0);
        updates_at_reload = writer.accepted.size();
        const auto evaluations_before =
            value_of(worker.snapshot().counters, WorkerCounter::kRuleEvaluations);
        rules.publish(
            load(with_flag(rules_json(R"({"target_type": "ctlabel", "labels": ["other"]})"))));
        worker.poll();
        evaluations_at_reload =
            value_of(worker.snapshot().counters, WorkerCounter::kRuleEvaluations) -
            evaluations_before;
        updates_by_reload = writer.accepted.size() - updates_at_reload;
      });
  REQUIRE(reloaded);
  REQUIRE(labelled_before > 0);
  REQUIRE(labelled_before < kZoomFlows);  // later flows exist: they see the new rules
  if (reprocess) {
    CHECK(evaluations_at_reload >= labelled_before);
    CHECK(updates_by_reload == labelled_before);    // each labelled flow: zoom -> other
    CHECK(labelled_with(writer.accepted, 0) == 0);  // every flow relabelled at the reload
    CHECK(labelled_with(writer.accepted, 1) == kZoomFlows);
  } else {
    CHECK(evaluations_at_reload == 0);
    CHECK(updates_by_reload == 0);
    // Flows labelled before the reload keep zoom unless their own verdict changed later;
    // flows classified after it are labelled other.
    CHECK(labelled_with(writer.accepted, 0) > 0);
    CHECK(labelled_with(writer.accepted, 1) > 0);
    CHECK(labelled_with(writer.accepted, 0) + labelled_with(writer.accepted, 1) == kZoomFlows);
  }
}

// Issue 14: the per-action figures, the control socket's questions answered in poll(), and the
// watch events, on the same real pipeline.
TEST_CASE("worker: per-action figures, tasks answered in poll(), watch events", "[app][control]") {
  RulesHolder rules;
  rules.publish(load(rules_json(kZoomTarget)));
  FakeWriter writer;
  control::WatchHub hub(1 << 14);
  WatchFeed feed(hub);
  hub.set_subscribed(0b11);  // two watchers: slot 0 everything, slot 1 only Zoom flows
  auto zoom_only = actions::compile_criteria("app == 'zoom';", "w", actions::test::context());
  REQUIRE(zoom_only);
  feed.set(1, std::move(zoom_only.value()));
  Worker worker(0, classifier(), rules, &writer, nullptr);
  worker.set_watch(&feed);
  replay(kZoomPcap, worker);  // every flow is still live

  WorkerSnapshot s = worker.snapshot();
  REQUIRE(s.actions.size() == 2);
  CHECK(s.actions[0].first == "zoom");
  CHECK(figure(s.actions[0].second, ActionFigure::kMatches) == kZoomFlows);
  CHECK(figure(s.actions[0].second, ActionFigure::kMatchingNow) == kZoomFlows);
  CHECK(figure(s.actions[0].second, ActionFigure::kLastMatch) > 1700000000);
  CHECK(figure(s.actions[1].second, ActionFigure::kMatches) == 0);

  // A task: counted flows and their labels, answered by the next poll().
  auto task = std::make_shared<WorkerTask>();
  std::size_t flows = 0, labelled = 0, matching = 0;
  const actions::RuleSet* seen_rules = nullptr;
  task->begin = [&](const actions::RuleSet* r, actions::SysSeconds) { seen_rules = r; };
  task->flow = [&](const classify::FlowView&, const WorkerTask::FlowState& st) {
    ++flows;
    labelled += st.applied.labels == bit(0) ? 1 : 0;
    matching += st.actions != nullptr ? 1 : 0;
  };
  worker.post(task);
  CHECK_FALSE(task->wait_until(std::chrono::steady_clock::now()));
  worker.poll();
  REQUIRE(task->wait_until(std::chrono::steady_clock::now()));
  CHECK(seen_rules == rules.get().get());
  CHECK(flows > kZoomFlows);  // every live flow, classified or not (checked by the ends below)
  CHECK(labelled == kZoomFlows);
  CHECK(matching == kZoomFlows);

  // Watch events: a verdict and an effect per Zoom flow for both watchers; other flows' events
  // for watcher 0 only.
  std::size_t applied[2] = {0, 0}, verdicts[2] = {0, 0};
  control::WatchEvent ev;
  while (hub.pop(ev)) {
    for (unsigned w = 0; w < 2; ++w) {
      if ((ev.audience >> w & 1U) == 0) continue;
      if (ev.line.find(R"("event":"effect_applied")") != std::string::npos) {
        CHECK(ev.line.find(R"("effect":{"labels":["zoom"]})") != std::string::npos);
        ++applied[w];
      }
      if (ev.line.find(R"("event":"verdict")") != std::string::npos) ++verdicts[w];
      if (w == 1) CHECK(ev.line.find(R"("app":"zoom")") != std::string::npos);
    }
  }
  CHECK(hub.dropped() == 0);
  CHECK(applied[0] == kZoomFlows);
  CHECK(applied[1] == kZoomFlows);
  CHECK(verdicts[0] > verdicts[1]);
  CHECK(verdicts[1] >= kZoomFlows);

  // The flows end: nothing matches any more, and each end is an event.
  worker.finish();
  s = worker.snapshot();
  CHECK(figure(s.actions[0].second, ActionFigure::kMatchingNow) == 0);
  CHECK(figure(s.actions[0].second, ActionFigure::kMatches) == kZoomFlows);
  std::size_t ends = 0;
  while (hub.pop(ev)) ends += ev.line.find(R"("event":"flow_end")") != std::string::npos ? 1 : 0;
  CHECK(ends == flows);
}

}  // namespace
}  // namespace ctlabeld::app
