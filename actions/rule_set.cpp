// SPDX-License-Identifier: GPL-3.0-or-later
// Per-flow evaluation of the compiled actions file, and its human-readable summary.
#include "ctlabeld/actions/rule_set.hpp"

#include "targets/target_type.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sstream>

namespace ctlabeld::actions {
namespace {

char normalize(char c) noexcept {
  if (c == '/' || c == ' ') return '-';
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// Compares a stored normalised name with a raw name normalised on the fly.
int compare_normalized(std::string_view stored, std::string_view raw) noexcept {
  const std::size_t n = std::min(stored.size(), raw.size());
  for (std::size_t i = 0; i < n; ++i) {
    const char r = normalize(raw[i]);
    if (stored[i] != r) return stored[i] < r ? -1 : 1;
  }
  if (stored.size() == raw.size()) return 0;
  return stored.size() < raw.size() ? -1 : 1;
}

// The packet path throws nothing: a zone lookup failure (which the date library reports by
// exception, e.g. tzdata removed under a running daemon) counts as closed.
bool schedule_open(const Schedule& schedule, SysSeconds now) noexcept {
  try {
    return schedule.open(now);
  } catch (...) {
    return false;
  }
}

}  // namespace

bool Exemptions::exempt(const FlowFacts& facts) const noexcept {
  const FlowTuple& t = facts.flow->tuple;
  if (networks.contains(t.src, t.ip_version) || networks.contains(t.dst, t.ip_version)) {
    return true;
  }
  for (const auto& e : expressions) {
    if (e.matches(facts)) return true;
  }
  return false;
}

void AutoLabels::add(std::string normalized_name, unsigned bit) {
  entries_.emplace_back(std::move(normalized_name), bit);
}

void AutoLabels::finish() {
  std::sort(entries_.begin(), entries_.end());
  // connlabel.conf may name one label twice; keep the lowest bit for each name.
  entries_.erase(std::unique(entries_.begin(), entries_.end(),
                             [](const auto& a, const auto& b) { return a.first == b.first; }),
                 entries_.end());
}

const unsigned* AutoLabels::find(std::string_view raw_name) const noexcept {
  std::size_t lo = 0, hi = entries_.size();
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    const int c = compare_normalized(entries_[mid].first, raw_name);
    if (c == 0) return &entries_[mid].second;
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return nullptr;
}

RuleSet::RuleSet(Parts parts) : parts_(std::move(parts)) {
  for (std::size_t i = 0; i < parts_.actions.size(); ++i) {
    if (parts_.actions[i].enabled) enabled_actions_.push_back(static_cast<std::uint16_t>(i));
    if (parts_.actions[i].enabled && !parts_.actions[i].schedule.empty()) has_windows_ = true;
  }
  for (const auto& t : parts_.targets) {
    if (!t.enabled || !t.supported || t.ops == nullptr) continue;
    managed_mark_ |= t.mark_mask;
    if (t.sinks[0] || t.sinks[1]) has_sinks_ = true;
    if (t.ops->add_managed != nullptr) t.ops->add_managed(t, parts_, managed_);
  }
}

Evaluation RuleSet::make_evaluation() const {
  Evaluation e;
  e.matched_actions.reserve(parts_.actions.size());
  e.members.reserve(parts_.targets.size());
  return e;
}

namespace {

// A matching target's sink for this flow's IP version, once per sink (the first action wins).
void add_member(const CtlabelTarget& target, std::uint32_t target_index, std::uint16_t action_index,
                std::uint8_t ip_version, Evaluation& out) noexcept {
  const auto& sink = target.sinks[ip_version == 6 ? 1 : 0];
  if (!sink) return;
  for (const MemberWish& w : out.members) {
    if (w.sink == *sink) return;
  }
  // Capacity was reserved for every target, so this never allocates.
  out.members.push_back(MemberWish{*sink, target.ttl_s, target_index, action_index});
}

// What set elements of this flow are built from: "local" is the LAN side, as in the criteria.
void fill_member_fields(const FlowFacts& facts, std::uint32_t mark, MemberFields& m) noexcept {
  const classify::FlowView& flow = *facts.flow;
  const bool local_is_src = facts.local_ip == &flow.tuple.src;
  m.ip_version = flow.tuple.ip_version;
  m.ip_protocol = flow.tuple.ip_protocol;
  m.local_addr = *facts.local_ip;
  m.other_addr = *facts.other_ip;
  m.local_port = facts.local_port;
  m.other_port = facts.other_port;
  m.mark = mark;
  m.interface = {};
  const std::string_view iface = flow.in_iface.empty() ? flow.iface : flow.in_iface;
  iface.copy(m.interface.data(), std::min(iface.size(), m.interface.size() - 1));
  const Mac& local_mac = local_is_src ? flow.src_mac : flow.dst_mac;
  const Mac& other_mac = local_is_src ? flow.dst_mac : flow.src_mac;
  m.local_mac = local_mac.bytes;
  m.other_mac = other_mac.bytes;
}

}  // namespace

void RuleSet::evaluate(const classify::FlowView& flow, Evaluation& out) const noexcept {
  evaluate(flow, out,
           has_windows_ ? std::chrono::time_point_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now())
                        : SysSeconds{});
}

bool RuleSet::windows_open(std::uint16_t index, SysSeconds t) const {
  if (index >= parts_.actions.size()) return false;
  return parts_.actions[index].schedule.open(t);
}

std::optional<SysSeconds> RuleSet::next_window_edge(SysSeconds t) const {
  std::optional<SysSeconds> next;
  for (const std::uint16_t index : enabled_actions_) {
    const auto edge = parts_.actions[index].schedule.next_edge(t);
    if (edge && (!next || *edge < *next)) next = edge;
  }
  return next;
}

void RuleSet::evaluate(const classify::FlowView& flow, Evaluation& out,
                       SysSeconds now) const noexcept {
  out.matched_actions.clear();
  out.labels.reset();
  out.log_errors = false;
  out.mark = 0;
  out.mark_mask = 0;
  out.members.clear();
  // One regex step budget for the whole flow: its evaluation has a bounded worst case.
  const Regex::FlowBudget regex_budget;
  const FlowFacts facts = FlowFacts::make(flow, parts_.local_networks);
  if (!parts_.exemptions.empty() && parts_.exemptions.exempt(facts)) return;
  for (const std::uint16_t index : enabled_actions_) {
    const Action& action = parts_.actions[index];
    // "interface" names the capture source or the packet's input interface (NFLOG's indev).
    if (!action.interfaces.empty() &&
        std::find(action.interfaces.begin(), action.interfaces.end(), flow.iface) ==
            action.interfaces.end() &&
        (flow.in_iface.empty() || std::find(action.interfaces.begin(), action.interfaces.end(),
                                            flow.in_iface) == action.interfaces.end())) {
      continue;
    }
    if (!action.schedule.empty() && !schedule_open(action.schedule, now)) continue;
    bool matched = false;
    for (const auto& c : action.criteria) {
      if (c.matches(facts)) {
        matched = true;
        break;
      }
    }
    if (!matched || (!action.exemptions.empty() && action.exemptions.exempt(facts))) continue;
    // Capacity was reserved for every action, so this never allocates.
    out.matched_actions.push_back(index);
    for (const std::uint32_t ti : action.targets) {
      const CtlabelTarget& target = parts_.targets[ti];
      if (!target.enabled || !target.supported) continue;
      if (target.ops->effect != nullptr) target.ops->effect(target, parts_, facts, out);
      add_member(target, ti, index, flow.tuple.ip_version, out);
    }
    if (action.halt_on_match) break;
  }
  if (!out.members.empty()) fill_member_fields(facts, out.mark, out.member_fields);
}

std::string_view RuleSet::action_name(std::uint16_t index) const {
  if (index >= parts_.actions.size()) return {};
  return parts_.actions[index].name;
}

std::vector<std::string> RuleSet::action_names(const Evaluation& evaluation) const {
  std::vector<std::string> names;
  for (const auto i : evaluation.matched_actions) names.emplace_back(action_name(i));
  return names;
}

std::vector<std::string> RuleSet::label_names(const LabelBits& bits) const {
  std::vector<std::string> names;
  for (unsigned bit = 0; bit < bits.size(); ++bit) {
    if (!bits.test(bit)) continue;
    std::string name = parts_.resolver ? parts_.resolver->name_of(bit) : std::string();
    names.push_back(name.empty() ? "bit" + std::to_string(bit) : std::move(name));
  }
  return names;
}

std::string RuleSet::summary() const {
  std::ostringstream out;
  auto bits_text = [&](const LabelBits& bits) {
    std::string s;
    for (const auto& name_bit : label_names(bits)) {
      if (!s.empty()) s += ", ";
      s += name_bit;
    }
    return s;
  };
  out << "actions file: " << parts_.source << "\n";
  out << "connlabel.conf: "
      << (parts_.resolver ? parts_.resolver->source_path() : std::string("(none)")) << " (max_bits "
      << parts_.max_bits << ")\n";
  out << "local networks:";
  for (const auto& c : parts_.local_networks.cidrs()) out << " " << to_string(c);
  out << "\n";
  if (!parts_.exemptions.empty()) {
    out << "exemptions:";
    for (const auto& c : parts_.exemptions.networks.cidrs()) out << " " << to_string(c);
    for (const auto& e : parts_.exemptions.expressions) out << " [" << e.text() << "]";
    out << "\n";
  }
  out << "actions (" << parts_.actions.size() << "):\n";
  for (const auto& a : parts_.actions) {
    out << "  " << a.name << (a.enabled ? "" : " (disabled)") << "\n";
    if (a.interface_text != "*") {
      out << "    interface: " << a.interface_text;
      if (!a.interface_note.empty()) out << " (" << a.interface_note << ")";
      out << "\n";
    }
    for (const auto& c : a.criteria) out << "    criteria: " << c.text() << "\n";
    if (!a.exemptions.empty()) {
      out << "    exemptions:";
      for (const auto& c : a.exemptions.networks.cidrs()) out << " " << to_string(c);
      for (const auto& e : a.exemptions.expressions) out << " [" << e.text() << "]";
      out << "\n";
    }
    out << "    targets:";
    for (const auto& t : a.target_names) out << " " << t;
    out << "\n";
    if (a.halt_on_match)
      out << "    halt_on_match: yes (later actions are skipped when it matches)\n";
    if (!a.schedule.empty()) {
      out << "    time_of_day (" << a.schedule.zone().name() << "):";
      for (const auto& w : a.schedule.windows()) out << " [" << format_window(w) << "]";
      out << "\n";
    }
  }
  out << "targets (" << parts_.targets.size() << "):\n";
  for (const auto& t : parts_.targets) {
    out << "  " << t.name << " (" << t.type;
    if (!t.supported) out << ", not implemented by ctlabeld: ignored";
    if (!t.enabled) out << ", disabled";
    out << ")\n";
    if (t.supported && t.ops != nullptr && t.ops->describe != nullptr) {
      t.ops->describe(t, parts_, out);
    }
  }
  out << "managed bits: " << (managed_.none() ? std::string("(none)") : bits_text(managed_));
  out << " [";
  bool first = true;
  for (unsigned bit = 0; bit < managed_.size(); ++bit) {
    if (!managed_.test(bit)) continue;
    out << (first ? "" : " ") << bit;
    first = false;
  }
  out << "]\n";
  if (managed_mark_ != 0) {
    char mark[16];
    std::snprintf(mark, sizeof mark, "0x%08x", managed_mark_);
    out << "managed mark bits: " << mark
        << " (ctmark targets set these; the other bits of the connection's mark are kept)\n";
  }
  return out.str();
}

namespace {

// Which exemption holds for the flow, as the file wrote it; "" when none.
std::string exemption_hit(const Exemptions& ex, const FlowFacts& facts) {
  const FlowTuple& t = facts.flow->tuple;
  for (const auto& c : ex.networks.cidrs()) {
    AddressSet one;
    one.add(c);
    if (one.contains(t.src, t.ip_version) || one.contains(t.dst, t.ip_version)) {
      return "network " + to_string(c);
    }
  }
  for (const auto& e : ex.expressions) {
    if (e.matches(facts)) return "expression [" + e.text() + "]";
  }
  return {};
}

}  // namespace

RuleTrace RuleSet::explain(const classify::FlowView& flow, SysSeconds now) const {
  RuleTrace out;
  const Regex::FlowBudget regex_budget;
  const FlowFacts facts = FlowFacts::make(flow, parts_.local_networks);
  out.exemption = exemption_hit(parts_.exemptions, facts);
  bool halted = false;
  Evaluation scratch = make_evaluation();  // each target's own effect, one target at a time
  for (std::size_t index = 0; index < parts_.actions.size(); ++index) {
    const Action& action = parts_.actions[index];
    ActionTrace a;
    a.name = action.name;
    if (!action.enabled) {
      a.outcome = "disabled";
    } else if (!out.exemption.empty()) {
      a.outcome = "skipped (the flow is exempt: " + out.exemption + ")";
    } else if (halted) {
      a.outcome = "skipped (an earlier action halted)";
    } else if (!action.interfaces.empty() &&
               std::find(action.interfaces.begin(), action.interfaces.end(), flow.iface) ==
                   action.interfaces.end() &&
               (flow.in_iface.empty() ||
                std::find(action.interfaces.begin(), action.interfaces.end(), flow.in_iface) ==
                    action.interfaces.end())) {
      a.outcome = "other interface (the action wants " + action.interface_text +
                  ", the flow is on " +
                  std::string(flow.in_iface.empty() ? flow.iface : flow.in_iface) + ")";
    } else {
      bool open = true;
      if (!action.schedule.empty()) {
        open = schedule_open(action.schedule, now);
        std::string windows;
        for (const auto& w : action.schedule.windows()) {
          windows += (windows.empty() ? "" : " ") + ("[" + format_window(w) + "]");
        }
        a.window = std::string(open ? "open" : "closed") + " (" + action.schedule.zone().name() +
                   ": " + windows + ")";
      }
      if (!open) {
        a.outcome = "outside time_of_day";
      } else {
        bool matched = false;
        for (const auto& c : action.criteria) {
          CriteriaTrace t = c.explain(facts);
          a.criteria.emplace_back(c.text(), std::move(t));
          if (a.criteria.back().second.matched) {
            matched = true;
            break;  // as evaluate(): any one criteria string
          }
        }
        if (matched && !action.exemptions.empty())
          a.exemption = exemption_hit(action.exemptions, facts);
        a.matched = matched && a.exemption.empty();
        a.outcome = a.matched ? "matched" : matched ? "exempt (" + a.exemption + ")" : "no match";
        if (a.matched && action.halt_on_match) halted = true;
      }
    }
    for (const std::uint32_t ti : action.targets) {
      const CtlabelTarget& target = parts_.targets[ti];
      TargetTrace tt;
      tt.name = target.name;
      tt.type = target.type;
      if (!target.supported) {
        tt.wish = "nothing: target type '" + target.type + "' is not implemented by ctlabeld";
      } else if (!target.enabled) {
        tt.wish = "nothing: the target is disabled";
      } else {
        scratch.labels.reset();
        scratch.mark = 0;
        scratch.mark_mask = 0;
        scratch.members.clear();
        if (target.ops != nullptr && target.ops->effect != nullptr) {
          target.ops->effect(target, parts_, facts, scratch);
        }
        const auto& sink = target.sinks[flow.tuple.ip_version == 6 ? 1 : 0];
        tt.bits = scratch.labels;
        tt.mark = scratch.mark;
        tt.mark_mask = scratch.mark_mask;
        tt.sink = sink;
        std::string wish;
        for (const auto& name : label_names(scratch.labels))
          wish += (wish.empty() ? "labels " : ", ") + name;
        if (scratch.mark_mask != 0) {
          char buf[64];
          std::snprintf(buf, sizeof buf, "%smark 0x%x/0x%x", wish.empty() ? "" : "; ", scratch.mark,
                        scratch.mark_mask);
          wish += buf;
        }
        if (sink)
          wish += std::string(wish.empty() ? "" : "; ") + "member of its " + target.type + " set";
        tt.active = !wish.empty();
        if (wish.empty()) {
          wish = target.sinks[0] || target.sinks[1]
                     ? "nothing: no set bound for IPv" + std::to_string(flow.tuple.ip_version)
                     : "nothing for this flow (no label it names exists for it)";
        }
        tt.wish = std::move(wish);
      }
      a.targets.push_back(std::move(tt));
    }
    out.actions.push_back(std::move(a));
  }
  return out;
}

}  // namespace ctlabeld::actions
