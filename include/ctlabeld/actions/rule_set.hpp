// SPDX-License-Identifier: GPL-3.0-or-later
// The compiled actions file: actions with their criteria and exemptions, ctlabel targets with
// their bits, evaluated per flow. Immutable once built; workers share it through
// std::shared_ptr<const RuleSet> and a reload swaps the pointer.
#pragma once

#include <any>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/actions/address_set.hpp"
#include "ctlabeld/actions/criteria.hpp"
#include "ctlabeld/actions/time_window.hpp"
#include "ctlabeld/classify/flow_view.hpp"
#include "ctlabeld/common/label_resolver.hpp"
#include "ctlabeld/common/labels.hpp"
#include "ctlabeld/common/set_member.hpp"
#include "ctlabeld/common/sink_writer.hpp"

namespace ctlabeld::actions {

// Caller-owned and reused: evaluate() clears and refills it without allocating (once its
// vectors have grown to the rule set's size).
struct Evaluation {
  std::vector<std::uint16_t> matched_actions;  // indices into the rule set, in file order
  LabelBits labels;                            // bits the matching ctlabel targets set
  bool log_errors = false;                     // some matching ctlabel target has log_errors
  // ctmark: the mark bits the matching targets set, within mark_mask (the bits they own).
  std::uint32_t mark = 0;
  std::uint32_t mark_mask = 0;
  // Sinks the flow belongs in, each once, for the flow's IP version; and the values its
  // elements are built from (filled when `members` is not empty).
  std::vector<MemberWish> members;
  MemberFields member_fields;
};

// Exemptions: networks (a flow is exempt when either endpoint is inside) and expressions.
struct Exemptions {
  AddressSet networks;
  std::vector<Criteria> expressions;
  [[nodiscard]] bool empty() const noexcept { return networks.empty() && expressions.empty(); }
  [[nodiscard]] bool exempt(const FlowFacts& facts) const noexcept;
};

struct TargetTypeOps;  // actions/targets/target_type.hpp: the type's module

// One target of any type; the fields after `ops` belong to the types named beside them.
struct CtlabelTarget {
  std::string name;
  bool enabled = true;
  bool supported = true;  // false: a Netify target type ctlabeld does not implement
  std::string type = "ctlabel";
  const TargetTypeOps* ops = nullptr;                    // set by the loader
  std::vector<std::pair<std::string, unsigned>> labels;  // (name as written or "", bit)
  LabelBits bits;
  bool auto_label = false;
  bool log_errors = false;
  // ctmark: ct mark = (ct mark & ~mark_mask) | mark, with mark already shifted and masked.
  std::uint32_t mark = 0;
  std::uint32_t mark_mask = 0;
  // Sink types (nftset, ipset, log): the sink for IPv4 flows [0] and IPv6 flows [1], bound at
  // load (unbound: the target does nothing for that version), the elements' timeout, and the
  // type's own resolved settings (for --check; the module knows the type).
  std::array<std::optional<SinkRef>, 2> sinks;
  std::uint32_t ttl_s = 0;
  std::any settings;
};

struct Action {
  std::string name;
  bool enabled = true;
  std::vector<Criteria> criteria;  // any of them (one string is the usual case)
  Exemptions exemptions;
  std::vector<std::uint32_t> targets;  // indices into targets (32-bit: no wrap past 65535)
  std::vector<std::string> target_names;
  // Netify's "interface": "*" (any), a capture source name, or the role "lan"/"wan". The
  // resolved names; empty means any interface. `interface_text` is the file's value, for the
  // summary, and `interface_note` says how a role was resolved.
  std::vector<std::string> interfaces;
  std::string interface_text = "*";
  std::string interface_note;
  // Netify v5: stop evaluating later actions (file order) once this one matches.
  bool halt_on_match = false;
  // Netify v5 time_of_day: the action applies only while its schedule is open.
  Schedule schedule;
};

// Label bit lookup for auto_label: "a-<app>" / "p-<protocol>" names that connlabel.conf defines,
// searched with the name normalised on the fly ('/' and ' ' -> '-', lowercase): no allocation.
class AutoLabels {
 public:
  void add(std::string normalized_name, unsigned bit);  // without the "a-"/"p-" prefix
  void finish();                                        // sorts; call once after adding
  [[nodiscard]] const unsigned* find(std::string_view raw_name) const noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] const std::vector<std::pair<std::string, unsigned>>& entries() const noexcept {
    return entries_;
  }

 private:
  std::vector<std::pair<std::string, unsigned>> entries_;
};

class RuleSet {
 public:
  struct Parts {
    std::vector<Action> actions;
    std::vector<CtlabelTarget> targets;
    Exemptions exemptions;
    LocalNetworks local_networks;
    AutoLabels app_labels;
    AutoLabels protocol_labels;
    std::shared_ptr<const LabelResolver> resolver;
    unsigned max_bits = 127;
    std::string source;  // file name, for the summary
    // Netify v5 reprocess_flows: false = a reload of this rule set applies to new flows only;
    // flows already classified keep their effects until their own verdict changes.
    bool reprocess_flows = true;
  };
  explicit RuleSet(Parts parts);

  // Clears `out`, then fills it: every enabled action whose criteria match and whose
  // exemptions (its own and the top-level ones) do not, and the bits of its enabled targets.
  // Actions run in file order; one with halt_on_match that matches ends the evaluation. An
  // action with time_of_day windows applies only while they are open at `now`; the overload
  // without `now` reads the system clock, and only when some action has windows.
  void evaluate(const classify::FlowView& flow, Evaluation& out) const noexcept;
  void evaluate(const classify::FlowView& flow, Evaluation& out, SysSeconds now) const noexcept;

  // time_of_day: whether action `index` may apply at t (true for actions without windows), and
  // the first instant after t at which any action's windows open or close (nullopt: never), so
  // the daemon can re-evaluate live flows at the edge.
  [[nodiscard]] bool windows_open(std::uint16_t index, SysSeconds t) const;
  [[nodiscard]] std::optional<SysSeconds> next_window_edge(SysSeconds t) const;
  [[nodiscard]] bool has_windows() const noexcept { return has_windows_; }
  [[nodiscard]] Evaluation make_evaluation() const;

  // Union of every bit an enabled ctlabel target may set, auto_label bits included: the mask
  // sent with each conntrack write so bits owned by others survive.
  [[nodiscard]] const LabelBits& managed_bits() const noexcept { return managed_; }
  // Union of every mark bit an enabled ctmark target may set: cleared where no target sets it.
  [[nodiscard]] std::uint32_t managed_mark() const noexcept { return managed_mark_; }
  // Some enabled target has a bound sink (nftset, ipset, log).
  [[nodiscard]] bool has_sinks() const noexcept { return has_sinks_; }
  [[nodiscard]] std::string_view action_name(std::uint16_t index) const;
  [[nodiscard]] std::size_t action_count() const noexcept { return parts_.actions.size(); }
  [[nodiscard]] std::vector<std::string> label_names(const LabelBits& bits) const;
  [[nodiscard]] std::vector<std::string> action_names(const Evaluation& evaluation) const;
  // For --check: actions (enabled, criteria, targets), targets, labels with their bits.
  [[nodiscard]] std::string summary() const;
  [[nodiscard]] const LocalNetworks& local_networks() const noexcept {
    return parts_.local_networks;
  }
  [[nodiscard]] const Parts& parts() const noexcept { return parts_; }

 private:
  Parts parts_;
  LabelBits managed_;
  std::uint32_t managed_mark_ = 0;
  bool has_sinks_ = false;
  std::vector<std::uint16_t> enabled_actions_;
  bool has_windows_ = false;
};

}  // namespace ctlabeld::actions
