// SPDX-License-Identifier: GPL-3.0-or-later
// Criteria: one Netify-style flow expression compiled once, at load, to a flat node array with
// prebuilt address sets and regexes, then matched against flows without allocating.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/actions/address_set.hpp"
#include "ctlabeld/actions/names.hpp"
#include "ctlabeld/actions/regex.hpp"
#include "ctlabeld/classify/flow_view.hpp"
#include "ctlabeld/common/expected.hpp"

namespace ctlabeld::actions {

// nDPI risk name ("Self-signed certificate") -> bit number; the classify stage supplies it so
// this library needs no nDPI headers.
using RiskLookup = std::function<std::optional<unsigned>(std::string_view)>;

// A Netify address group (@name): addresses and networks, and MAC addresses.
struct AddressGroup {
  AddressSet ips;
  std::vector<Mac> macs;
};
// Finds a group by name; on failure returns null and says why in `error` (with the fix).
using GroupLookup = std::function<const AddressGroup*(std::string_view name, std::string& error)>;

struct CompileContext {
  CompileContext() = default;
  explicit CompileContext(RiskLookup risk) : risk_bit(std::move(risk)) {}
  RiskLookup risk_bit;  // may be empty: then any risk name is an error
  // Name checks (see names.hpp): skipped while `ndpi` is null or empty.
  const NdpiNames* ndpi = nullptr;
  const NameTable* names = nullptr;
  GroupLookup group;  // empty: @names are an error
  // What Netify tolerates and ctlabeld warns about (also comparisons that can never match and
  // regexes whose worst-case cost is above Regex::kWarnSteps), "<where>:<line>:<col>: <text>"; and
  // the Netify names mapped to nDPI's, for --check. Null: dropped.
  std::vector<std::string>* warnings = nullptr;
  std::vector<std::string>* mappings = nullptr;
};

enum class Field : std::uint8_t {
  kIpVersion,
  kIpProtocol,
  kVlanId,
  kLocalIp,
  kOtherIp,
  kSrcIp,
  kDstIp,
  kAnyIp,
  kLocalPort,
  kOtherPort,
  kSrcPort,
  kDstPort,
  kAnyPort,
  kApp,
  kProtocol,
  kCategory,
  kAppCategory,
  kProtocolCategory,
  kHostname,
  kIface,
  kRisks,
  kRiskScore,
  kGuessed,
  kComplete,
  kPackets,
  kBytes,
  kOtherType,  // Netify's other_type: other_local, other_remote, other_multicast, ...
  kOrigin,     // Netify's origin: origin_local, origin_other (origin_remote), origin_unknown
  kSrcMac,
  kDstMac,
  kLocalMac,
  kOtherMac,
  kInIface,   // iface_nfq_src: the packet's input interface
  kOutIface,  // iface_nfq_dst: the packet's output interface
};

// Which side is "local". The initiator (src) when it is in the local networks — so when both
// sides are local the initiator wins — else dst when dst is local, else (neither) src.
// This is Netify's convention. Computed once per flow and shared by every criteria.
struct FlowFacts {
  const classify::FlowView* flow = nullptr;
  const classify::Verdict* verdict = nullptr;  // never null: a static "unknown" when absent
  const Address* local_ip = nullptr;
  const Address* other_ip = nullptr;
  std::uint16_t local_port = 0;
  std::uint16_t other_port = 0;
  const LocalNetworks* local = nullptr;  // for other_type and origin, computed when read

  static FlowFacts make(const classify::FlowView& flow, const LocalNetworks& local) noexcept;
};

class Criteria;
Expected<Criteria> compile_criteria(std::string_view text, const std::string& where,
                                    const CompileContext& context);

// Why a criteria matched or not (`explain`): every comparison evaluated, in order, with the
// value the flow had, and the one that decided the result.
struct CriteriaTrace {
  struct Step {
    std::string expression;  // "app == 'zoom'"
    std::string seen;        // "app = 'tls'"
    bool result = false;
  };
  bool matched = false;
  std::vector<Step> steps;   // short-circuited comparisons are not evaluated, not listed
  std::size_t deciding = 0;  // index into steps; steps empty: a constant expression
};

class Criteria {
 public:
  enum class NodeKind : std::uint8_t { kTrue, kFalse, kAnd, kOr, kNot, kCompare, kPresent, kGlob };
  enum class CmpOp : std::uint8_t { kEq, kNe, kLt, kLe, kGt, kGe };
  enum class ValueKind : std::uint8_t { kNumber, kName, kRegex, kAddressSet, kRiskMask, kMacSet };
  struct Node {
    NodeKind kind = NodeKind::kTrue;
    Field field = Field::kIpVersion;
    CmpOp op = CmpOp::kEq;
    ValueKind value = ValueKind::kNumber;
    std::uint32_t a = 0;       // kAnd/kOr/kNot: child; kCompare/kGlob: string, regex or set index
    std::uint32_t b = 0;       // kAnd/kOr: second child
    std::uint64_t number = 0;  // numbers, booleans (0/1), risk masks
  };

  [[nodiscard]] bool matches(const FlowFacts& facts) const noexcept;
  [[nodiscard]] bool matches(const classify::FlowView& flow,
                             const LocalNetworks& local) const noexcept {
    return matches(FlowFacts::make(flow, local));
  }
  [[nodiscard]] const std::string& text() const noexcept { return text_; }
  // The same result as matches(), with a trace. Allocates: for `explain`, never the packet path.
  [[nodiscard]] CriteriaTrace explain(const FlowFacts& facts) const;
  // True when the expression reads local_ip/other_ip/local_port/other_port.
  [[nodiscard]] bool uses_locality() const noexcept { return uses_locality_; }
  [[nodiscard]] std::size_t node_count() const noexcept { return nodes_.size(); }

 private:
  friend class CriteriaParser;
  friend Expected<Criteria> compile_criteria(std::string_view, const std::string&,
                                             const CompileContext&);
  bool eval(std::uint32_t index, const FlowFacts& facts) const noexcept;
  bool compare(const Node& node, const FlowFacts& facts) const noexcept;
  bool present(Field field, const FlowFacts& facts) const noexcept;
  // explain(): the value and the deciding step of node `index`.
  bool trace(std::uint32_t index, const FlowFacts& facts, CriteriaTrace& out) const;
  [[nodiscard]] std::string node_text(const Node& node) const;
  [[nodiscard]] std::string seen_text(const Node& node, const FlowFacts& facts) const;

  std::string text_;
  std::vector<Node> nodes_;
  std::uint32_t root_ = 0;
  std::vector<std::string> strings_;  // lowercase
  std::vector<Regex> regexes_;
  std::vector<AddressSet> sets_;
  std::vector<std::vector<Mac>> mac_sets_;
  bool uses_locality_ = false;
};

// Compiles one criteria string. `where` prefixes every message ("actions.zoom.criteria"), giving
// e.g. "actions.zoom.criteria:1:8: expected a value after '==', found ';'".
//
// A criteria holds one statement: an expression, optionally ended by ';'. Netify's engine
// evaluates only the first statement of a string, so rather than silently ignore the rest, a
// second statement is an error that asks to join them with && or ||.
Expected<Criteria> compile_criteria(std::string_view text, const std::string& where,
                                    const CompileContext& context);

// The field names the language knows (canonical names and aliases), for "did you mean".
std::vector<std::string_view> criteria_field_names();

}  // namespace ctlabeld::actions
