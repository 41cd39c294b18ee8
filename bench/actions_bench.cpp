// SPDX-License-Identifier: GPL-3.0-or-later
// Evaluations per second of the action stage: a simple criteria and a realistic 20-action rule
// set over a stream of pre-made flows. Target: >= 10 M evaluations/s per core (simple criteria).
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ctlabeld/actions/config.hpp"

namespace {

using namespace ctlabeld;
using namespace ctlabeld::actions;

constexpr double kTarget = 10e6;

class BenchResolver final : public LabelResolver {
 public:
  BenchResolver() {
    const char* names[] = {"zoom",      "teams",     "meet",  "webex",  "video",
                           "social",    "gaming",    "voip",  "vpn",    "risky",
                           "dns",       "mail",      "bulk",  "iot",    "a-zoom",
                           "a-youtube", "a-netflix", "p-tls", "p-quic", "p-http"};
    unsigned bit = 0;
    for (const char* n : names) labels_[n] = bit++;
  }
  std::optional<unsigned> bit_of(std::string_view name) const override {
    const auto it = labels_.find(std::string(name));
    if (it == labels_.end()) return std::nullopt;
    return it->second;
  }
  std::string name_of(unsigned bit) const override {
    for (const auto& [n, b] : labels_) {
      if (b == bit) return n;
    }
    return "";
  }
  std::vector<std::pair<std::string, unsigned>> all() const override {
    return {labels_.begin(), labels_.end()};
  }
  const std::string& source_path() const override { return path_; }

 private:
  std::map<std::string, unsigned> labels_;
  std::string path_ = "bench";
};

Expected<std::unique_ptr<LabelResolver>> make_resolver(const std::string&, unsigned) {
  return std::unique_ptr<LabelResolver>(std::make_unique<BenchResolver>());
}

std::optional<unsigned> risk_bit(std::string_view name) {
  if (name == "Self-signed certificate") return 6;
  if (name == "Known protocol on non standard port") return 5;
  return std::nullopt;
}

const char* kTwentyActions = R"({
  "version": 1,
  "targets": {
    "zoom": { "target_type": "ctlabel", "labels": [ "zoom", "video" ] },
    "teams": { "target_type": "ctlabel", "labels": [ "teams", "video" ] },
    "meet": { "target_type": "ctlabel", "labels": [ "meet", "video" ] },
    "webex": { "target_type": "ctlabel", "labels": [ "webex" ] },
    "social": { "target_type": "ctlabel", "labels": [ "social" ] },
    "gaming": { "target_type": "ctlabel", "labels": [ "gaming" ] },
    "voip": { "target_type": "ctlabel", "labels": [ "voip" ] },
    "vpn": { "target_type": "ctlabel", "labels": [ "vpn" ] },
    "risky": { "target_type": "ctlabel", "labels": [ "risky" ], "log_errors": true },
    "dns": { "target_type": "ctlabel", "labels": [ "dns" ] },
    "mail": { "target_type": "ctlabel", "labels": [ "mail" ] },
    "bulk": { "target_type": "ctlabel", "labels": [ "bulk" ] },
    "iot": { "target_type": "ctlabel", "labels": [ "iot" ] },
    "auto": { "target_type": "ctlabel", "auto_label": true }
  },
  "exemptions": [ "192.168.250.0/24" ],
  "actions": {
    "zoom": { "criteria": "app == 'zoom';", "targets": [ "zoom" ] },
    "zoom_host": { "criteria": "detected_hostname == 'rx:(^|\\.)zoom\\.us$';", "targets": [ "zoom" ] },
    "teams": { "criteria": "app == 'netify.teams' || app == 'microsoft365' && dst_port == 3478;", "targets": [ "teams" ] },
    "meet": { "criteria": "ai:googlemeet", "targets": [ "meet" ] },
    "webex": { "criteria": "app == 'webex' && ip_protocol == 17;", "targets": [ "webex" ] },
    "social": { "criteria": "ac:social_network", "targets": [ "social" ] },
    "gaming": { "criteria": "category == 'game' && local_ip == 192.168.0.0/16;", "targets": [ "gaming" ] },
    "voip": { "criteria": "category == 'voip' || app == 'sip' || app == 'rtp';", "targets": [ "voip" ] },
    "vpn": { "criteria": "app == 'openvpn' || app == 'wireguard' || app == 'ipsec' || protocol == 'openvpn';", "targets": [ "vpn" ] },
    "risky": { "criteria": "risks == 'Self-signed certificate' || ndpi_risk_score >= 100;", "targets": [ "risky" ] },
    "dns": { "criteria": "protocol == 'dns' && other_port == 53;", "targets": [ "dns" ] },
    "mail": { "criteria": "any_port == 25 || any_port == 587 || any_port == 993;", "targets": [ "mail" ] },
    "bulk": { "criteria": "bytes > 10000000 && !(app == 'zoom' || app == 'teams');", "targets": [ "bulk" ] },
    "iot": { "criteria": "src_ip == 192.168.50.0/24 && !detection_guessed;", "targets": [ "iot" ] },
    "v6_other": { "criteria": "ip_version == 6 && other_ip != 2001:db8::/32;", "targets": [ "bulk" ] },
    "quic": { "criteria": "pi:quic && dst_port == 443;", "targets": [ "auto" ] },
    "streaming": { "criteria": "app == 'rx:^(youtube|netflix|twitch)$';", "targets": [ "auto" ] },
    "unknown": { "criteria": "!app && packets > 20;", "targets": [ "bulk" ] },
    "guessed": { "criteria": "detection_guessed && detection_complete;", "targets": [ "auto" ] },
    "vlan": { "criteria": "vlan_id == 42 && iface == 'eth1';", "targets": [ "iot" ] }
  }
})";

struct Stream {
  std::vector<classify::Verdict> verdicts;
  std::vector<classify::FlowView> flows;
};

// A mix of the apps a home/office router sees, over v4 and v6, LAN and WAN.
Stream make_stream(std::size_t n) {
  static const char* apps[][4] = {{"zoom", "tls", "video", "us04web.zoom.us"},
                                  {"youtube", "quic", "media", "www.youtube.com"},
                                  {"google", "tls", "web", "www.google.com"},
                                  {"dns", "dns", "network", "example.com"},
                                  {"netflix", "tls", "media", "nflxvideo.net"},
                                  {"teams", "tls", "collaborative", ""},
                                  {"unknown", "unknown", "unspecified", ""},
                                  {"facebook", "tls", "social_network", ""},
                                  {"whatsapp", "tls", "chat", ""},
                                  {"http", "http", "web", "example.org"}};
  Stream s;
  s.verdicts.reserve(n);
  s.flows.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& a = apps[i % 10];
    classify::Verdict v;
    v.app = a[0];
    v.protocol = a[1];
    v.category = a[2];
    v.app_category = a[2];
    v.hostname = a[3];
    v.risks = (i % 17 == 0) ? (1u << 6) : 0;
    v.guessed = i % 7 == 0;
    v.complete = true;
    s.verdicts.push_back(v);
    classify::FlowView f;
    const bool v6 = i % 5 == 0;
    f.tuple.ip_version = v6 ? 6 : 4;
    f.tuple.ip_protocol = (i % 3 == 0) ? 17 : 6;
    Address src, dst;
    if (v6) {
      parse_address("fd00::" + std::to_string(i % 200 + 1), src);
      parse_address("2001:db8:1::" + std::to_string(i % 999 + 1), dst);
    } else {
      parse_address("192.168." + std::to_string(i % 60) + "." + std::to_string(i % 250 + 1), src);
      parse_address("93.184." + std::to_string(i % 200) + "." + std::to_string(i % 250 + 1), dst);
    }
    f.tuple.src = src;
    f.tuple.dst = dst;
    f.tuple.src_port = static_cast<std::uint16_t>(30000 + i % 30000);
    f.tuple.dst_port = static_cast<std::uint16_t>(i % 4 == 0 ? 53 : 443);
    f.packets = i % 100;
    f.bytes = (i % 1000) * 50000;
    f.iface = "eth0";
    s.flows.push_back(f);
  }
  for (std::size_t i = 0; i < n; ++i) s.flows[i].verdict = &s.verdicts[i];
  return s;
}

// Runs fn (one pass over the stream, per_round flows) for 1 s and prints flows/s. A rule set
// evaluates `criteria` criteria per flow; the target is per criteria evaluation, so that is
// the figure compared with it. Returns flows/s.
template <typename Fn>
double rate(const char* what, std::size_t per_round, std::size_t criteria, Fn&& fn) {
  using Clock = std::chrono::steady_clock;
  std::size_t rounds = 0;
  const auto start = Clock::now();
  auto now = start;
  do {
    for (int k = 0; k < 16; ++k) fn();
    rounds += 16;
    now = Clock::now();
  } while (now - start < std::chrono::seconds(1));
  const double secs = std::chrono::duration<double>(now - start).count();
  const double per_sec = static_cast<double>(rounds * per_round) / secs;
  const double evals = per_sec * static_cast<double>(criteria);
  if (criteria == 1) {
    std::printf("%-44s %8.2f M evaluations/s  (%.2fx the 10 M/s target)\n", what, evals / 1e6,
                evals / kTarget);
  } else {
    std::printf(
        "%-44s %8.2f M flows/s x %zu criteria = %.2f M evaluations/s  (%.2fx the 10 M/s target)\n",
        what, per_sec / 1e6, criteria, evals / 1e6, evals / kTarget);
  }
  return per_sec;
}

int load_or_die(const char* json, LoadedConfig& out) {
  auto loaded = load_config_text(json, "bench", &make_resolver, &risk_bit);
  if (!loaded.ok()) {
    std::fputs(loaded.error_text().c_str(), stderr);
    return 1;
  }
  out = std::move(loaded.value());
  return 0;
}

// Nanoseconds per call of fn, over at least 0.5 s.
template <typename Fn>
double ns_per_call(Fn&& fn) {
  using Clock = std::chrono::steady_clock;
  std::size_t calls = 0;
  const auto start = Clock::now();
  auto now = start;
  do {
    for (int k = 0; k < 64; ++k) fn();
    calls += 64;
    now = Clock::now();
  } while (now - start < std::chrono::milliseconds(500));
  return std::chrono::duration<double, std::nano>(now - start).count() / static_cast<double>(calls);
}

// Issue 15 item 7: 20 actions with the costliest regex an attacker's host name can meet. The
// flow's regexes share one step budget, so the evaluation of one flow has a bounded worst case;
// without it each of the 20 regexes would run its full (len + 1) x instructions steps.
void worst_case_per_flow(const Stream& stream, std::size_t& sink) {
  std::string json = R"({ "targets": { "t": { "target_type": "ctlabel", "labels": [ "zoom" ] } },
    "actions": {)";
  for (int i = 0; i < 20; ++i) {
    if (i != 0) json += ',';
    json += "\"rx";
    json += std::to_string(i);
    json += "\": { \"criteria\": \"detected_hostname == 'rx:(a?){250}a{250}z";
    json.append(static_cast<std::size_t>(i % 3), 'z');
    json += "';\", \"targets\": [ \"t\" ] }";
  }
  json += "} }";
  LoadedConfig hostile;
  if (load_or_die(json.c_str(), hostile) != 0) return;
  classify::Verdict v = *stream.flows[0].verdict;
  const std::string name(Regex::kMaxTextBytes - 1, 'a');  // the longest host name nDPI keeps
  v.hostname = name;
  classify::FlowView f = stream.flows[0];
  f.verdict = &v;
  Evaluation e = hostile.rules->make_evaluation();
  const std::uint64_t cut_before = Regex::budget_exceeded();
  const double bounded = ns_per_call([&] {
    hostile.rules->evaluate(f, e);
    sink += e.matched_actions.size();
  });
  const std::uint64_t cuts = Regex::budget_exceeded() - cut_before;
  // The unbounded cost, from a pattern that fits the budget whole: ns per VM step on this name.
  Regex fits;
  std::string error;
  if (!fits.compile("(a?){60}a{60}z", error)) return;
  const double fit_ns = ns_per_call([&] { sink += fits.search(name); });
  const double ns_per_step = fit_ns / static_cast<double>(fits.worst_case_steps(name.size()));
  Regex full;
  if (!full.compile("(a?){250}a{250}z", error)) return;
  const double unbounded_ns =
      20.0 * ns_per_step * static_cast<double>(full.worst_case_steps(name.size()));
  std::printf(
      "worst case per flow, 20 x rx:(a?){250}a{250}z on a %zu-byte host name: %.1f us per flow "
      "with the %llu-step flow budget (%llu searches cut); without it %.0f us (20 x %llu steps at "
      "%.2f ns/step)\n",
      name.size(), bounded / 1e3, static_cast<unsigned long long>(Regex::kStepsPerFlow),
      static_cast<unsigned long long>(cuts), unbounded_ns / 1e3,
      static_cast<unsigned long long>(full.worst_case_steps(name.size())), ns_per_step);
}

}  // namespace

int main() {
  constexpr std::size_t kFlows = 4096;
  const Stream stream = make_stream(kFlows);
  std::size_t sink = 0;

  auto simple = compile_criteria("app == 'zoom';", "bench", CompileContext{&risk_bit});
  if (!simple.ok()) return 1;
  const LocalNetworks local = default_local_networks();
  const Criteria& crit = simple.value();

  LoadedConfig seed;
  LoadedConfig twenty;
  if (load_or_die(R"({
    "targets": { "ctlabel.zoom": { "target_type": "ctlabel", "labels": [ "zoom" ] } },
    "actions": { "zoom": { "criteria": "app == 'zoom';", "targets": [ "ctlabel.zoom" ] } } })",
                  seed) != 0 ||
      load_or_die(kTwentyActions, twenty) != 0) {
    return 1;
  }
  std::printf("flows in the stream: %zu; one core; each figure is a 1 s run\n", kFlows);
  const double simple_rate = rate("criteria app == 'zoom'; (Criteria::matches)", kFlows, 1, [&] {
    for (const auto& f : stream.flows) sink += crit.matches(f, local);
  });
  Evaluation e1 = seed.rules->make_evaluation();
  rate("1-action rule set (RuleSet::evaluate)", kFlows, 1, [&] {
    for (const auto& f : stream.flows) {
      seed.rules->evaluate(f, e1);
      sink += e1.labels.count();
    }
  });
  Evaluation e20 = twenty.rules->make_evaluation();
  const double twenty_rate =
      rate("20-action rule set (RuleSet::evaluate)", kFlows, twenty.rules->action_count(), [&] {
        for (const auto& f : stream.flows) {
          twenty.rules->evaluate(f, e20);
          sink += e20.labels.count() + e20.matched_actions.size();
        }
      });
  std::printf("20-action rule set: %.1f ns per flow; labels set per pass: %zu\n", 1e9 / twenty_rate,
              sink % 1000003);
  worst_case_per_flow(stream, sink);
  return simple_rate >= kTarget ? 0 : 2;
}
