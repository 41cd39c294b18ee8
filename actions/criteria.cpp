// SPDX-License-Identifier: GPL-3.0-or-later
// Criteria compiler (recursive descent over the token list, type-checked per field) and the
// allocation-free evaluator.
#include "ctlabeld/actions/criteria.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>

#include "ctlabeld/actions/edit_distance.hpp"
#include "ctlabeld/actions/lexer.hpp"

namespace ctlabeld::actions {
namespace {

enum class FieldType : std::uint8_t { kNumber, kBool, kAddress, kName, kRisks, kConstant, kMac };

// Netify's constant-valued fields: the identifiers each accepts, and the code it compiles to
// (numbers_of computes the same codes for a flow). Index + 1 is the code; 0 means "none".
constexpr std::array<std::string_view, 7> kOtherTypes = {
    "other_local",   "other_remote",      "other_multicast", "other_broadcast",
    "other_unknown", "other_unsupported", "other_error"};
constexpr std::array<std::string_view, 3> kOrigins = {"origin_local", "origin_other",
                                                      "origin_unknown"};
// The v4 README's name for origin_other.
constexpr std::string_view kOriginRemoteAlias = "origin_remote";
constexpr std::uint64_t kOtherLocal = 1, kOtherRemote = 2, kOtherMulticast = 3, kOtherBroadcast = 4;
constexpr std::uint64_t kOriginLocal = 1, kOriginRemote = 2, kOriginUnknown = 3;

struct FieldInfo {
  std::string_view name;
  Field field;
  FieldType type;
};

// Canonical names first; aliases (Netify's longer names) after.
constexpr std::array kFields = {
    FieldInfo{"ip_version", Field::kIpVersion, FieldType::kNumber},
    FieldInfo{"ip_protocol", Field::kIpProtocol, FieldType::kNumber},
    FieldInfo{"vlan_id", Field::kVlanId, FieldType::kNumber},
    FieldInfo{"local_ip", Field::kLocalIp, FieldType::kAddress},
    FieldInfo{"other_ip", Field::kOtherIp, FieldType::kAddress},
    FieldInfo{"src_ip", Field::kSrcIp, FieldType::kAddress},
    FieldInfo{"dst_ip", Field::kDstIp, FieldType::kAddress},
    FieldInfo{"any_ip", Field::kAnyIp, FieldType::kAddress},
    FieldInfo{"local_port", Field::kLocalPort, FieldType::kNumber},
    FieldInfo{"other_port", Field::kOtherPort, FieldType::kNumber},
    FieldInfo{"src_port", Field::kSrcPort, FieldType::kNumber},
    FieldInfo{"dst_port", Field::kDstPort, FieldType::kNumber},
    FieldInfo{"any_port", Field::kAnyPort, FieldType::kNumber},
    FieldInfo{"app", Field::kApp, FieldType::kName},
    FieldInfo{"application", Field::kApp, FieldType::kName},
    FieldInfo{"protocol", Field::kProtocol, FieldType::kName},
    FieldInfo{"proto", Field::kProtocol, FieldType::kName},
    FieldInfo{"category", Field::kCategory, FieldType::kName},
    FieldInfo{"app_category", Field::kAppCategory, FieldType::kName},
    FieldInfo{"protocol_category", Field::kProtocolCategory, FieldType::kName},
    FieldInfo{"detected_hostname", Field::kHostname, FieldType::kName},
    FieldInfo{"iface", Field::kIface, FieldType::kName},
    FieldInfo{"risks", Field::kRisks, FieldType::kRisks},
    FieldInfo{"ndpi_risk_score", Field::kRiskScore, FieldType::kNumber},
    FieldInfo{"detection_guessed", Field::kGuessed, FieldType::kBool},
    FieldInfo{"detection_complete", Field::kComplete, FieldType::kBool},
    FieldInfo{"packets", Field::kPackets, FieldType::kNumber},
    FieldInfo{"bytes", Field::kBytes, FieldType::kNumber},
    FieldInfo{"other_type", Field::kOtherType, FieldType::kConstant},
    FieldInfo{"origin", Field::kOrigin, FieldType::kConstant},
    FieldInfo{"local_mac", Field::kLocalMac, FieldType::kMac},
    FieldInfo{"other_mac", Field::kOtherMac, FieldType::kMac},
    FieldInfo{"src_mac", Field::kSrcMac, FieldType::kMac},
    FieldInfo{"dst_mac", Field::kDstMac, FieldType::kMac},
    FieldInfo{"iface_nfq_src", Field::kInIface, FieldType::kName},
    FieldInfo{"iface_nfq_dst", Field::kOutIface, FieldType::kName},
    // Aliases.
    FieldInfo{"vlan", Field::kVlanId, FieldType::kNumber},
    FieldInfo{"detected_application", Field::kApp, FieldType::kName},
    FieldInfo{"detected_protocol", Field::kProtocol, FieldType::kName},
    FieldInfo{"application_category", Field::kAppCategory, FieldType::kName},
    FieldInfo{"proto_category", Field::kProtocolCategory, FieldType::kName},
    FieldInfo{"cat", Field::kCategory, FieldType::kName},
    FieldInfo{"host_server_name", Field::kHostname, FieldType::kName},
    FieldInfo{"hostname", Field::kHostname, FieldType::kName},
    // No DNS cache here: the name nDPI saw (SNI, HTTP Host, DNS query) stands in.
    FieldInfo{"dns_hostname", Field::kHostname, FieldType::kName},
    FieldInfo{"interface", Field::kIface, FieldType::kName},
    FieldInfo{"ndpi_risks", Field::kRisks, FieldType::kRisks},
    FieldInfo{"risk_score", Field::kRiskScore, FieldType::kNumber},
};

// Netify fields with no data behind them here: an error that says why beats "unknown field".
std::string_view unsupported_netify_field(std::string_view lower_name) {
  struct Unsupported {
    std::string_view name;
    std::string_view why;
  };
  static constexpr std::string_view kIds =
      "Netify's numeric ids are its own, not nDPI's; match by name, e.g. app == 'zoom'";
  static constexpr std::array kUnsupported = {
      Unsupported{"app_id", kIds},
      Unsupported{"application_id", kIds},
      Unsupported{"proto_id", kIds},
      Unsupported{"protocol_id", kIds},
      Unsupported{"fwmark", "the conntrack mark is not read; match it in nftables (ct mark)"},
      Unsupported{"ip_nat", "the NAT state is not read; match it in nftables (ct status dnat)"},
      Unsupported{"tunnel_type", "tunnels are not decapsulated"},
      Unsupported{"dom_category", "nDPI 4.2 has no domain categories; use category"},
      Unsupported{"domain_category", "nDPI 4.2 has no domain categories; use category"},
      Unsupported{"ssl_version", "TLS versions are not kept in the verdict"},
      Unsupported{"ssl_cipher", "TLS ciphers are not kept in the verdict"},
      Unsupported{"ndpi_risk_client", "only the total ndpi_risk_score is kept"},
      Unsupported{"ndpi_risk_server", "only the total ndpi_risk_score is kept"},
  };
  for (const auto& u : kUnsupported) {
    if (u.name == lower_name) return u.why;
  }
  return {};
}

const FieldInfo* find_field(std::string_view lower_name) {
  for (const auto& f : kFields) {
    if (f.name == lower_name) return &f;
  }
  return nullptr;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// ASCII only, inline: std::tolower is a locale-aware library call per character, and
// nDPI names and DNS names are ASCII.
constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Case-insensitive glob with '*' only; iterative with one backtrack point, no allocation.
bool glob_match(std::string_view pattern, std::string_view text) noexcept {
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && ascii_lower(pattern[p]) == ascii_lower(text[t])) {
      ++p, ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// "unknown" and "unspecified" are nDPI's placeholders for "no answer".
bool is_placeholder(std::string_view name) noexcept {
  return name.empty() || name == "unknown" || name == "unspecified";
}

const char* op_text(TokenKind k) {
  switch (k) {
    case TokenKind::kEq: return "==";
    case TokenKind::kNe: return "!=";
    case TokenKind::kLt: return "<";
    case TokenKind::kLe: return "<=";
    case TokenKind::kGt: return ">";
    default: return ">=";
  }
}

bool is_comparison(TokenKind k) {
  return k == TokenKind::kEq || k == TokenKind::kNe || k == TokenKind::kLt || k == TokenKind::kLe ||
         k == TokenKind::kGt || k == TokenKind::kGe;
}

bool is_value(TokenKind k) {
  return k == TokenKind::kNumber || k == TokenKind::kString || k == TokenKind::kAddress ||
         k == TokenKind::kTrue || k == TokenKind::kFalse || k == TokenKind::kMac ||
         k == TokenKind::kGroup;
}

constexpr std::string_view kNetifyPrefix = "netify.";
constexpr std::string_view kRegexPrefix = "rx:";

}  // namespace

class CriteriaParser {
 public:
  CriteriaParser(Criteria& out, std::vector<Token>& tokens, const std::string& where,
                 const CompileContext& context)
      : out_(out), tokens_(tokens), where_(where), context_(context) {}

  bool run(std::string& error) {
    if (tokens_[0].kind == TokenKind::kEnd ||
        (tokens_[0].kind == TokenKind::kSemicolon && tokens_[1].kind == TokenKind::kEnd)) {
      fail(tokens_[0], "empty criteria; write an expression such as app == 'zoom';");
    } else {
      out_.root_ = parse_or();
      if (error_.empty()) {
        const Token& t = peek();
        if (t.kind == TokenKind::kSemicolon) {
          ++pos_;
          if (peek().kind != TokenKind::kEnd) {
            fail(peek(),
                 "a second statement; a criteria holds one expression: join the statements "
                 "with '&&' or '||' into one, ending with ';'");
          }
        } else if (t.kind != TokenKind::kEnd) {
          fail(t, "expected '&&', '||' or ';', found " + describe(t));
        }
      }
    }
    error = error_;
    return error_.empty();
  }

 private:
  const Token& peek() const { return tokens_[pos_]; }
  const Token& take() {
    const Token& t = tokens_[pos_];
    if (t.kind != TokenKind::kEnd) ++pos_;
    return t;
  }

  std::uint32_t fail(const Token& at, const std::string& message) {
    if (error_.empty()) {
      error_ =
          where_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.col) + ": " + message;
    }
    return 0;
  }

  void warn(const Token& at, const std::string& message) {
    if (context_.warnings == nullptr) return;
    context_.warnings->push_back(where_ + ":" + std::to_string(at.line) + ":" +
                                 std::to_string(at.col) + ": " + message);
  }

  // A number no value of the field can take: the comparison is decided before any flow.
  void warn_out_of_domain(const Token& at, Field field, Criteria::CmpOp op, const std::string& name,
                          std::uint64_t v) {
    std::uint64_t max = 0;
    bool in_domain = true;
    std::string domain;
    switch (field) {
      case Field::kIpVersion:
        in_domain = v == 4 || v == 6;
        domain = "4 or 6";
        break;
      case Field::kIpProtocol: max = 255; break;
      case Field::kVlanId: max = 4095; break;
      case Field::kLocalPort:
      case Field::kOtherPort:
      case Field::kSrcPort:
      case Field::kDstPort:
      case Field::kAnyPort: max = 65535; break;
      default: return;
    }
    if (max != 0) {
      in_domain = v <= max;
      domain = "0 to " + std::to_string(max);
    }
    if (in_domain) return;
    // Out of the domain, == and (for values above it) > and >= never hold; != and < always.
    bool never = op == Criteria::CmpOp::kEq;
    if (max != 0) never = never || op == Criteria::CmpOp::kGt || op == Criteria::CmpOp::kGe;
    const bool always = op == Criteria::CmpOp::kNe ||
                        (max != 0 && (op == Criteria::CmpOp::kLt || op == Criteria::CmpOp::kLe));
    if (!never && !always) return;  // e.g. ip_version < 5: a real test
    warn(at, "'" + name + "' is " + domain + ", never " + std::to_string(v) + ": this comparison " +
                 (never ? "never matches" : "always matches") + "; check the number");
  }

  std::uint32_t add(const Criteria::Node& node) {
    out_.nodes_.push_back(node);
    return static_cast<std::uint32_t>(out_.nodes_.size() - 1);
  }

  std::uint32_t binary(Criteria::NodeKind kind, std::uint32_t a, std::uint32_t b) {
    Criteria::Node n;
    n.kind = kind;
    n.a = a;
    n.b = b;
    return add(n);
  }

  // Chains fold to the right (a && (b && c)) so the evaluator walks them in a loop rather
  // than recursing once per term.
  std::uint32_t parse_or() {
    std::vector<std::uint32_t> terms{parse_and()};
    while (error_.empty() && peek().kind == TokenKind::kOr) {
      check_operand(take());
      terms.push_back(parse_and());
    }
    return fold(Criteria::NodeKind::kOr, terms);
  }

  std::uint32_t parse_and() {
    std::vector<std::uint32_t> terms{parse_unary()};
    while (error_.empty() && peek().kind == TokenKind::kAnd) {
      check_operand(take());
      terms.push_back(parse_unary());
    }
    return fold(Criteria::NodeKind::kAnd, terms);
  }

  std::uint32_t fold(Criteria::NodeKind kind, const std::vector<std::uint32_t>& terms) {
    std::uint32_t right = terms.back();
    for (std::size_t i = terms.size() - 1; i-- > 0;) right = binary(kind, terms[i], right);
    return right;
  }

  // Parentheses and '!' recurse; bound them so hostile input cannot exhaust the stack.
  bool enter(const Token& at) {
    if (++depth_ > kMaxDepth) {
      fail(at, "expression nested too deeply (more than " + std::to_string(kMaxDepth) +
                   " levels of '(' or '!')");
      return false;
    }
    return true;
  }

  // After '&&'/'||'/'!' something must follow; say so with the operator named.
  void check_operand(const Token& op) {
    const TokenKind k = peek().kind;
    if (k == TokenKind::kEnd || k == TokenKind::kSemicolon || k == TokenKind::kRParen ||
        k == TokenKind::kAnd || k == TokenKind::kOr) {
      fail(peek(), "expected an expression after '" + std::string(op.text) + "', found " +
                       describe(peek()));
    }
  }

  std::uint32_t parse_unary() {
    if (peek().kind == TokenKind::kNot) {
      const Token& op = take();
      check_operand(op);
      if (!enter(op)) return 0;
      Criteria::Node n;
      n.kind = Criteria::NodeKind::kNot;
      n.a = parse_unary();
      --depth_;
      return add(n);
    }
    return parse_primary();
  }

  std::uint32_t parse_primary() {
    if (!error_.empty()) return 0;
    const Token& t = take();
    Criteria::Node n;
    switch (t.kind) {
      case TokenKind::kLParen: {
        if (!enter(t)) return 0;
        const std::uint32_t inner = parse_or();
        --depth_;
        if (!error_.empty()) return inner;
        if (peek().kind != TokenKind::kRParen) {
          return fail(peek(), "expected ')' to close the '(' at " + std::to_string(t.line) + ":" +
                                  std::to_string(t.col) + ", found " + describe(peek()));
        }
        take();
        return inner;
      }
      case TokenKind::kStar:
      case TokenKind::kTrue: n.kind = Criteria::NodeKind::kTrue; return add(n);
      case TokenKind::kFalse: n.kind = Criteria::NodeKind::kFalse; return add(n);
      case TokenKind::kCompact: return compact(t);
      case TokenKind::kIdent: return field_expression(t);
      case TokenKind::kString:
        return fail(
            t, "expected a field before the value " + describe(t) + ", e.g. app == " + describe(t));
      default:
        return fail(t, "expected a field, '(', '!', '*' or ai:/ac:/pi:/pc:, found " + describe(t));
    }
  }

  std::uint32_t add_string(std::string s) {
    out_.strings_.push_back(lowercase(s));
    return static_cast<std::uint32_t>(out_.strings_.size() - 1);
  }

  // ai:zoom -> app == 'zoom'; with '*' a glob, which never matches "unknown"/"unspecified".
  std::uint32_t compact(const Token& t) {
    const std::string_view prefix = std::string_view(t.value).substr(0, 2);
    std::string name = t.value.substr(3);
    Criteria::Node n;
    n.field = prefix == "ai"   ? Field::kApp
              : prefix == "pi" ? Field::kProtocol
              : prefix == "ac" ? Field::kAppCategory
                               : Field::kProtocolCategory;
    if (std::all_of(name.begin(), name.end(),
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      return fail(t, "numeric ids in '" + std::string(t.text) +
                         "' are Netify's own; ctlabeld matches nDPI names, e.g. " +
                         std::string(prefix) + ":zoom");
    }
    if (n.field == Field::kApp &&
        iequals(std::string_view(name).substr(0, kNetifyPrefix.size()), kNetifyPrefix)) {
      name.erase(0, kNetifyPrefix.size());
    }
    bool mapped = false;
    if (name.find('*') == std::string::npos) {
      name = checked_name(n.field, lowercase(name), t, mapped);
    }
    n.a = add_string(name);
    if (name.find('*') != std::string::npos) {
      n.kind = Criteria::NodeKind::kGlob;
    } else {
      n.kind = Criteria::NodeKind::kCompare;
      n.value = Criteria::ValueKind::kName;
    }
    return mapped ? protocol_or_app(n) : add(n);
  }

  // A Netify protocol is sometimes nDPI's application under a transport protocol: Netify's
  // "doh" is nDPI's "TLS.DoH_DoT" (protocol tls, app doh_dot). A mapped protocol name therefore
  // holds when either part of nDPI's answer has it; != when neither has.
  std::uint32_t protocol_or_app(const Criteria::Node& n) {
    if (n.field != Field::kProtocol) return add(n);
    Criteria::Node app = n;
    app.field = Field::kApp;
    const bool ne = n.op == Criteria::CmpOp::kNe;
    const std::uint32_t a = add(n);
    const std::uint32_t b = add(app);
    return binary(ne ? Criteria::NodeKind::kAnd : Criteria::NodeKind::kOr, a, b);
  }

  std::uint32_t field_expression(const Token& name) {
    const FieldInfo* info = find_field(name.value);
    if (info == nullptr) {
      if (const std::string_view why = unsupported_netify_field(name.value); !why.empty()) {
        return fail(name,
                    "'" + std::string(name.text) +
                        "' is a Netify field that ctlabeld cannot evaluate: " + std::string(why));
      }
      std::vector<std::string_view> names;
      for (const auto& f : kFields) names.push_back(f.name);
      return fail(
          name, "unknown field '" + std::string(name.text) + "'" + did_you_mean(name.value, names));
    }
    if (info->field == Field::kLocalIp || info->field == Field::kOtherIp ||
        info->field == Field::kLocalPort || info->field == Field::kOtherPort ||
        info->field == Field::kOtherType || info->field == Field::kOrigin ||
        info->field == Field::kLocalMac || info->field == Field::kOtherMac) {
      out_.uses_locality_ = true;
    }
    Criteria::Node n;
    n.field = info->field;
    if (!is_comparison(peek().kind)) {
      if (is_value(peek().kind) || peek().kind == TokenKind::kIdent) {
        return fail(peek(), "expected a comparison (==, !=, <, <=, >, >=) after '" +
                                std::string(name.text) + "', found " + describe(peek()));
      }
      n.kind = Criteria::NodeKind::kPresent;  // bare field: present and non-zero
      return add(n);
    }
    const Token& op = take();
    n.kind = Criteria::NodeKind::kCompare;
    n.op =
        static_cast<Criteria::CmpOp>(static_cast<int>(op.kind) - static_cast<int>(TokenKind::kEq));
    const Token& value = peek();
    if (info->type == FieldType::kConstant) return constant_value(n, op, name);
    if (!is_value(value.kind)) {
      std::string hint;
      if (value.kind == TokenKind::kIdent && info->type == FieldType::kName) {
        hint = "; quote names: '" + std::string(value.text) + "'";
      }
      return fail(value, "expected a value after '" + std::string(op.text) + "', found " +
                             describe(value) + hint);
    }
    take();
    const std::string field_name(name.text);
    const bool equality = n.op == Criteria::CmpOp::kEq || n.op == Criteria::CmpOp::kNe;
    switch (info->type) {
      case FieldType::kNumber:
        if (value.kind != TokenKind::kNumber) {
          return fail(value, "'" + field_name + "' is a number; compare it with a number, found " +
                                 describe(value));
        }
        n.value = Criteria::ValueKind::kNumber;
        n.number = value.number;
        warn_out_of_domain(value, n.field, n.op, field_name, value.number);
        break;
      case FieldType::kBool:
        if (!equality) {
          return fail(op, "'" + field_name + "' is true or false; use == or !=, not '" +
                              op_text(op.kind) + "'");
        }
        if (value.kind == TokenKind::kTrue || value.kind == TokenKind::kFalse) {
          n.number = value.kind == TokenKind::kTrue ? 1 : 0;
        } else if (value.kind == TokenKind::kNumber && value.number <= 1) {
          n.number = value.number;
        } else {
          return fail(value, "'" + field_name + "' is compared with true or false, found " +
                                 describe(value));
        }
        n.value = Criteria::ValueKind::kNumber;
        break;
      case FieldType::kAddress: {
        if (!equality) {
          return fail(op, "'" + field_name + "' is an address; use == (in) or != (not in), not '" +
                              op_text(op.kind) + "'");
        }
        AddressSet set;
        Cidr quoted;
        if (value.kind == TokenKind::kAddress) {
          set.add(value.cidr);
        } else if (value.kind == TokenKind::kString && parse_cidr(value.value, quoted)) {
          set.add(quoted);  // Netify's v5 document quotes addresses: '192.168.1.10'
        } else if (const AddressGroup* g = group_of(value)) {
          if (g->ips.empty()) {
            return fail(value, "address group '@" + group_name(value) +
                                   "' has no \"ips\"; add addresses to it or compare a MAC "
                                   "field (local_mac) with it");
          }
          set = g->ips;
        } else if (error_.empty()) {
          return fail(value, "'" + field_name + "' is compared with an address or network, e.g. " +
                                 field_name +
                                 " == 192.168.1.0/24, or an address group @name, found " +
                                 describe(value));
        } else {
          return 0;
        }
        out_.sets_.push_back(std::move(set));
        n.value = Criteria::ValueKind::kAddressSet;
        n.a = static_cast<std::uint32_t>(out_.sets_.size() - 1);
        break;
      }
      case FieldType::kName:
        if (!equality) {
          return fail(
              op, "'" + field_name + "' is a name; use == or !=, not '" + op_text(op.kind) + "'");
        }
        if (value.kind != TokenKind::kString) {
          return fail(value, "'" + field_name + "' is compared with a quoted name, e.g. " +
                                 field_name + " == 'zoom', found " + describe(value));
        }
        return name_value(n, value, field_name);
      case FieldType::kConstant:  // handled by constant_value above
        break;
      case FieldType::kMac: {
        if (!equality) {
          return fail(op, "'" + field_name + "' is a MAC address; use == or !=, not '" +
                              op_text(op.kind) + "'");
        }
        std::vector<Mac> macs;
        Mac quoted;
        if (value.kind == TokenKind::kMac) {
          macs.push_back(value.mac);
        } else if (value.kind == TokenKind::kString && parse_mac(value.value, quoted)) {
          macs.push_back(quoted);
        } else if (const AddressGroup* g = group_of(value)) {
          if (g->macs.empty()) {
            return fail(value, "address group '@" + group_name(value) +
                                   "' has no \"macs\"; add MAC addresses to it or compare an "
                                   "address field (local_ip) with it");
          }
          macs = g->macs;
        } else if (error_.empty()) {
          return fail(value, "'" + field_name + "' is compared with a MAC address, e.g. " +
                                 field_name +
                                 " == 00:11:22:33:44:55, or an address group @name, "
                                 "found " +
                                 describe(value));
        } else {
          return 0;
        }
        out_.mac_sets_.push_back(std::move(macs));
        n.value = Criteria::ValueKind::kMacSet;
        n.a = static_cast<std::uint32_t>(out_.mac_sets_.size() - 1);
        break;
      }
      case FieldType::kRisks:
        if (!equality) {
          return fail(op, "'risks' holds nDPI risk names; use == (has) or != (has not), not '" +
                              std::string(op_text(op.kind)) + "'");
        }
        if (value.kind == TokenKind::kNumber) {
          if (value.number > 63) {
            return fail(value,
                        "risk number " + std::to_string(value.number) + " is out of range (0-63)");
          }
          n.number = std::uint64_t{1} << value.number;
        } else if (value.kind == TokenKind::kString) {
          std::optional<unsigned> bit;
          if (context_.risk_bit) bit = context_.risk_bit(value.value);
          if (!bit || *bit > 63) {
            return fail(value, "unknown nDPI risk " + describe(value) +
                                   "; use a risk name as nDPI prints it, e.g. "
                                   "'Self-signed certificate'");
          }
          n.number = std::uint64_t{1} << *bit;
        } else {
          return fail(value,
                      "'risks' is compared with a quoted nDPI risk name, found " + describe(value));
        }
        n.value = Criteria::ValueKind::kRiskMask;
        break;
    }
    return add(n);
  }

  // other_type == other_remote, origin != origin_local: a bare constant of that field.
  std::uint32_t constant_value(Criteria::Node& n, const Token& op, const Token& name) {
    const std::string field_name(name.text);
    const bool other_type = n.field == Field::kOtherType;
    const std::vector<std::string_view> allowed =
        other_type ? std::vector<std::string_view>(kOtherTypes.begin(), kOtherTypes.end())
                   : std::vector<std::string_view>(kOrigins.begin(), kOrigins.end());
    std::string list;
    for (const auto c : allowed) list += (list.empty() ? "" : ", ") + std::string(c);
    if (n.op != Criteria::CmpOp::kEq && n.op != Criteria::CmpOp::kNe) {
      return fail(op, "'" + field_name + "' is one of " + list + "; use == or !=, not '" +
                          op_text(op.kind) + "'");
    }
    const Token& value = peek();
    if (value.kind != TokenKind::kIdent) {
      return fail(value, "'" + field_name + "' is compared with one of " + list + ", found " +
                             describe(value));
    }
    auto it = std::find(allowed.begin(), allowed.end(), value.value);
    if (!other_type && value.value == kOriginRemoteAlias) it = allowed.begin() + 1;
    if (it == allowed.end()) {
      std::vector<std::string_view> candidates = allowed;
      if (!other_type) candidates.push_back(kOriginRemoteAlias);
      return fail(value, "unknown " + field_name + " '" + std::string(value.text) + "'" +
                             did_you_mean(value.value, candidates) + " (values: " + list + ")");
    }
    take();
    n.value = Criteria::ValueKind::kNumber;
    n.number = static_cast<std::uint64_t>(it - allowed.begin()) + 1;
    return add(n);
  }

  std::uint32_t name_value(Criteria::Node& n, const Token& value, const std::string& field_name) {
    std::string_view text = value.value;
    if (text.size() >= kRegexPrefix.size() && iequals(text.substr(0, 3), kRegexPrefix)) {
      Regex rx;
      std::string rx_error;
      if (!rx.compile(text.substr(3), rx_error)) {
        return fail(value, "invalid regular expression " + describe(value) + ": " + rx_error);
      }
      if (const auto steps = rx.worst_case_steps(Regex::kMaxTextBytes); steps > Regex::kWarnSteps) {
        warn(value, "regex " + describe(value) + " costs up to " + std::to_string(steps) +
                        " steps per flow (" + std::to_string(rx.instructions()) +
                        " instructions x " + std::to_string(Regex::kMaxTextBytes + 1) +
                        " text positions), more than the " + std::to_string(Regex::kStepsPerFlow) +
                        " steps all of a flow's regexes share: on a long host name it is cut "
                        "short and counts as no match (regex_budget_exceeded). Simplify it: "
                        "large {m,n} repetitions are the usual cause");
      }
      out_.regexes_.push_back(std::move(rx));
      n.value = Criteria::ValueKind::kRegex;
      n.a = static_cast<std::uint32_t>(out_.regexes_.size() - 1);
      return add(n);
    }
    // Netify names applications "netify.zoom"; nDPI's name is the part after the prefix.
    if (n.field == Field::kApp && text.size() > kNetifyPrefix.size() &&
        iequals(text.substr(0, kNetifyPrefix.size()), kNetifyPrefix)) {
      text.remove_prefix(kNetifyPrefix.size());
    }
    if ((n.field == Field::kIface || n.field == Field::kInIface || n.field == Field::kOutIface) &&
        text == "*") {
      // Generated files test interfaces against '*': no interface has that name; Netify
      // tolerates it and the user meant "any interface".
      const bool eq = n.op == Criteria::CmpOp::kEq;
      warn(value, field_name + (eq ? " == '*'" : " != '*'") +
                      " compares with the literal '*', which names no interface: matched as " +
                      (eq ? "any interface (always true)" : "no interface (never true)") +
                      "; remove the comparison or name an interface such as 'br-lan'");
      Criteria::Node always;
      always.kind = eq ? Criteria::NodeKind::kTrue : Criteria::NodeKind::kFalse;
      return add(always);
    }
    n.value = Criteria::ValueKind::kName;
    bool mapped = false;
    n.a = add_string(checked_name(n.field, lowercase(text), value, mapped));
    return mapped ? protocol_or_app(n) : add(n);
  }

  // A name literal of an app/protocol/category field: nDPI's own name stays; a Netify name the
  // table maps becomes nDPI's (with a warning); anything else never matches (a warning).
  std::string checked_name(Field field, std::string name, const Token& at, bool& mapped) {
    mapped = false;
    if (context_.ndpi == nullptr || context_.ndpi->empty()) return name;
    NameKind kind;
    switch (field) {
      case Field::kApp: kind = NameKind::kApplication; break;
      case Field::kProtocol: kind = NameKind::kProtocol; break;
      case Field::kCategory:
      case Field::kAppCategory:
      case Field::kProtocolCategory: kind = NameKind::kCategory; break;
      default: return name;
    }
    NameCheck check = check_name(kind, name, *context_.ndpi, context_.names);
    if (check.result == NameCheck::Result::kKnown) return name;
    warn(at, check.message);
    mapped = check.result == NameCheck::Result::kMapped;
    if (mapped && context_.mappings != nullptr) {
      context_.mappings->push_back(where_ + ": " + std::string(to_string(kind)) + " '" + name +
                                   "' -> '" + check.name + "'");
    }
    return check.name;
  }

  static std::string group_name(const Token& value) {
    if (value.kind == TokenKind::kGroup) return value.value;
    return value.value.size() > 1 ? value.value.substr(1) : std::string();
  }

  // @name (bare or quoted): the group, or null (with an error when the name was a group).
  const AddressGroup* group_of(const Token& value) {
    const bool quoted_group =
        value.kind == TokenKind::kString && value.value.size() > 1 && value.value[0] == '@';
    if (value.kind != TokenKind::kGroup && !quoted_group) return nullptr;
    const std::string name = group_name(value);
    if (!context_.group) {
      fail(value, "address group '@" + name + "' cannot be resolved here");
      return nullptr;
    }
    std::string why;
    const AddressGroup* g = context_.group(name, why);
    if (g == nullptr) fail(value, why);
    return g;
  }

  Criteria& out_;
  std::vector<Token>& tokens_;
  const std::string& where_;
  const CompileContext& context_;
  static constexpr int kMaxDepth = 256;
  std::size_t pos_ = 0;
  int depth_ = 0;
  std::string error_;
};

Expected<Criteria> compile_criteria(std::string_view text, const std::string& where,
                                    const CompileContext& context) {
  LexResult lexed = tokenize(text);
  if (!lexed.error.empty()) return Expected<Criteria>::failure(where + ":" + lexed.error);
  Criteria criteria;
  criteria.text_.assign(text);
  CriteriaParser parser(criteria, lexed.tokens, where, context);
  std::string error;
  if (!parser.run(error)) return Expected<Criteria>::failure(error);
  return criteria;
}

std::vector<std::string_view> criteria_field_names() {
  std::vector<std::string_view> names;
  for (const auto& f : kFields) names.push_back(f.name);
  return names;
}

// ---- evaluation -------------------------------------------------------------------------

namespace {
const classify::Verdict kNoVerdict{};
const Address kZeroAddress{};
}  // namespace

FlowFacts FlowFacts::make(const classify::FlowView& flow, const LocalNetworks& local) noexcept {
  FlowFacts f;
  f.flow = &flow;
  f.verdict = flow.verdict != nullptr ? flow.verdict : &kNoVerdict;
  const FlowTuple& t = flow.tuple;
  const bool dst_is_local =
      !local.contains(t.src, t.ip_version) && local.contains(t.dst, t.ip_version);
  f.local_ip = dst_is_local ? &t.dst : &t.src;
  f.other_ip = dst_is_local ? &t.src : &t.dst;
  f.local_port = dst_is_local ? t.dst_port : t.src_port;
  f.other_port = dst_is_local ? t.src_port : t.dst_port;
  f.local = &local;
  return f;
}

bool Criteria::matches(const FlowFacts& facts) const noexcept {
  return !nodes_.empty() && eval(root_, facts);
}

bool Criteria::eval(std::uint32_t index, const FlowFacts& facts) const noexcept {
  for (;;) {  // loops along right-folded && / || chains; recursion only for nesting
    const Node& n = nodes_[index];
    switch (n.kind) {
      case NodeKind::kTrue: return true;
      case NodeKind::kFalse: return false;
      case NodeKind::kAnd:
        if (!eval(n.a, facts)) return false;
        index = n.b;
        continue;
      case NodeKind::kOr:
        if (eval(n.a, facts)) return true;
        index = n.b;
        continue;
      case NodeKind::kNot: return !eval(n.a, facts);
      case NodeKind::kPresent: return present(n.field, facts);
      case NodeKind::kCompare: return compare(n, facts);
      case NodeKind::kGlob: {
        const classify::Verdict& v = *facts.verdict;
        const std::string_view name = n.field == Field::kApp           ? v.app
                                      : n.field == Field::kProtocol    ? v.protocol
                                      : n.field == Field::kAppCategory ? v.app_category
                                                                       : v.protocol_category;
        return !is_placeholder(name) && glob_match(strings_[n.a], name);
      }
    }
    return false;
  }
}

namespace {

std::string_view name_of(Field field, const FlowFacts& f) noexcept {
  const classify::Verdict& v = *f.verdict;
  switch (field) {
    case Field::kApp: return v.app;
    case Field::kProtocol: return v.protocol;
    case Field::kCategory: return v.category;
    case Field::kAppCategory: return v.app_category;
    case Field::kProtocolCategory: return v.protocol_category;
    case Field::kHostname: return v.hostname;
    case Field::kIface: return f.flow->iface;
    case Field::kInIface: return f.flow->in_iface;
    case Field::kOutIface: return f.flow->out_iface;
    default: return {};
  }
}

// The one or two numbers a numeric field holds (two for any_port).
// Netify's other_type of the flow's "other" address: multicast and broadcast first (by
// address), then local (in the local networks) or remote.
std::uint64_t other_type_of(const FlowFacts& f) noexcept {
  const std::uint8_t version = f.flow->tuple.ip_version;
  const auto& b = f.other_ip->bytes;
  if (version == 4) {
    if ((b[0] & 0xf0) == 0xe0) return kOtherMulticast;
    if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255) return kOtherBroadcast;
  } else if (b[0] == 0xff) {
    return kOtherMulticast;
  }
  const bool local = f.local != nullptr && f.local->contains(*f.other_ip, version);
  return local ? kOtherLocal : kOtherRemote;
}

// Netify's origin: which side initiated the flow. The initiator is local when it lies in the
// local networks; with neither side local there is no "local" side to speak of.
std::uint64_t origin_of(const FlowFacts& f) noexcept {
  if (f.local == nullptr) return kOriginUnknown;
  const FlowTuple& t = f.flow->tuple;
  if (f.local->contains(t.src, t.ip_version)) return kOriginLocal;
  if (f.local->contains(t.dst, t.ip_version)) return kOriginRemote;
  return kOriginUnknown;
}

std::size_t numbers_of(Field field, const FlowFacts& f, std::uint64_t out[2]) noexcept {
  const FlowTuple& t = f.flow->tuple;
  switch (field) {
    case Field::kIpVersion: out[0] = t.ip_version; return 1;
    case Field::kIpProtocol: out[0] = t.ip_protocol; return 1;
    case Field::kVlanId: out[0] = t.vlan; return 1;
    case Field::kLocalPort: out[0] = f.local_port; return 1;
    case Field::kOtherPort: out[0] = f.other_port; return 1;
    case Field::kSrcPort: out[0] = t.src_port; return 1;
    case Field::kDstPort: out[0] = t.dst_port; return 1;
    case Field::kAnyPort:
      out[0] = t.src_port;
      out[1] = t.dst_port;
      return 2;
    case Field::kRiskScore: out[0] = f.verdict->risk_score; return 1;
    case Field::kGuessed: out[0] = f.verdict->guessed ? 1 : 0; return 1;
    case Field::kComplete: out[0] = f.verdict->complete ? 1 : 0; return 1;
    case Field::kPackets: out[0] = f.flow->packets; return 1;
    case Field::kBytes: out[0] = f.flow->bytes; return 1;
    case Field::kRisks: out[0] = f.verdict->risks; return 1;
    case Field::kOtherType: out[0] = other_type_of(f); return 1;
    case Field::kOrigin: out[0] = origin_of(f); return 1;
    default: return 0;
  }
}

// The one or two addresses an address field holds (two for any_ip).
std::size_t addresses_of(Field field, const FlowFacts& f, const Address* out[2]) noexcept {
  const FlowTuple& t = f.flow->tuple;
  switch (field) {
    case Field::kLocalIp: out[0] = f.local_ip; return 1;
    case Field::kOtherIp: out[0] = f.other_ip; return 1;
    case Field::kSrcIp: out[0] = &t.src; return 1;
    case Field::kDstIp: out[0] = &t.dst; return 1;
    case Field::kAnyIp:
      out[0] = &t.src;
      out[1] = &t.dst;
      return 2;
    default: return 0;
  }
}

bool is_name_field(Field field) noexcept {
  return field == Field::kApp || field == Field::kProtocol || field == Field::kCategory ||
         field == Field::kAppCategory || field == Field::kProtocolCategory ||
         field == Field::kHostname || field == Field::kIface || field == Field::kInIface ||
         field == Field::kOutIface;
}

// The flow's MAC for a MAC field, or null when the link did not give it.
const Mac* mac_of(Field field, const FlowFacts& f) noexcept {
  const classify::FlowView& v = *f.flow;
  const bool local_is_src = f.local_ip == &v.tuple.src;
  bool src = true;
  switch (field) {
    case Field::kSrcMac: src = true; break;
    case Field::kDstMac: src = false; break;
    case Field::kLocalMac: src = local_is_src; break;
    case Field::kOtherMac: src = !local_is_src; break;
    default: return nullptr;
  }
  if (src) return v.has_src_mac ? &v.src_mac : nullptr;
  return v.has_dst_mac ? &v.dst_mac : nullptr;
}

bool is_mac_field(Field field) noexcept {
  return field == Field::kSrcMac || field == Field::kDstMac || field == Field::kLocalMac ||
         field == Field::kOtherMac;
}

bool compare_numbers(Criteria::CmpOp op, std::uint64_t a, std::uint64_t b) noexcept {
  switch (op) {
    case Criteria::CmpOp::kEq: return a == b;
    case Criteria::CmpOp::kNe: return a != b;
    case Criteria::CmpOp::kLt: return a < b;
    case Criteria::CmpOp::kLe: return a <= b;
    case Criteria::CmpOp::kGt: return a > b;
    case Criteria::CmpOp::kGe: return a >= b;
  }
  return false;
}

}  // namespace

bool Criteria::present(Field field, const FlowFacts& facts) const noexcept {
  if (is_name_field(field)) return !is_placeholder(name_of(field, facts));
  if (is_mac_field(field)) return mac_of(field, facts) != nullptr;
  const Address* addrs[2] = {};
  const std::size_t n_addrs = addresses_of(field, facts, addrs);
  if (n_addrs > 0) {
    for (std::size_t i = 0; i < n_addrs; ++i) {
      if (*addrs[i] != kZeroAddress) return true;
    }
    return false;
  }
  std::uint64_t nums[2] = {};
  const std::size_t n_nums = numbers_of(field, facts, nums);
  for (std::size_t i = 0; i < n_nums; ++i) {
    if (nums[i] != 0) return true;
  }
  return false;
}

// "any_*" fields: == and the orderings hold when either side does; != holds when neither side
// equals the value (the negation of ==), which is what "any_port != 53" means to a reader.
bool Criteria::compare(const Node& n, const FlowFacts& facts) const noexcept {
  const bool negate = n.op == CmpOp::kNe;
  switch (n.value) {
    case ValueKind::kName: return iequals(name_of(n.field, facts), strings_[n.a]) != negate;
    case ValueKind::kRegex: return regexes_[n.a].search(name_of(n.field, facts)) != negate;
    case ValueKind::kRiskMask: return ((facts.verdict->risks & n.number) != 0) != negate;
    case ValueKind::kMacSet: {
      // A flow without the MAC (no link header) satisfies neither == nor !=: nothing is known.
      const Mac* mac = mac_of(n.field, facts);
      if (mac == nullptr) return false;
      const auto& set = mac_sets_[n.a];
      return (std::find(set.begin(), set.end(), *mac) != set.end()) != negate;
    }
    case ValueKind::kAddressSet: {
      const Address* addrs[2] = {};
      const std::size_t count = addresses_of(n.field, facts, addrs);
      const std::uint8_t version = facts.flow->tuple.ip_version;
      bool in = false;
      for (std::size_t i = 0; i < count && !in; ++i) in = sets_[n.a].contains(*addrs[i], version);
      return in != negate;
    }
    case ValueKind::kNumber: {
      std::uint64_t nums[2] = {};
      const std::size_t count = numbers_of(n.field, facts, nums);
      if (negate) {
        for (std::size_t i = 0; i < count; ++i) {
          if (nums[i] == n.number) return false;
        }
        return count > 0;
      }
      for (std::size_t i = 0; i < count; ++i) {
        if (compare_numbers(n.op, nums[i], n.number)) return true;
      }
      return false;
    }
  }
  return false;
}

// ---- explain ----------------------------------------------------------------------------

namespace {

std::string_view field_name(Field field) noexcept {
  for (const auto& f : kFields) {
    if (f.field == field) return f.name;  // the canonical name comes before its aliases
  }
  return "?";
}

const char* cmp_text(Criteria::CmpOp op) noexcept {
  switch (op) {
    case Criteria::CmpOp::kEq: return "==";
    case Criteria::CmpOp::kNe: return "!=";
    case Criteria::CmpOp::kLt: return "<";
    case Criteria::CmpOp::kLe: return "<=";
    case Criteria::CmpOp::kGt: return ">";
    case Criteria::CmpOp::kGe: return ">=";
  }
  return "?";
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string fmt_hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::string Criteria::node_text(const Node& n) const {
  const std::string field(field_name(n.field));
  switch (n.kind) {
    case NodeKind::kTrue: return "true";
    case NodeKind::kFalse: return "false";
    case NodeKind::kPresent: return field;
    case NodeKind::kGlob: return field + " == " + quoted(strings_[n.a]);
    case NodeKind::kCompare: break;
    default: return {};
  }
  std::string value;
  switch (n.value) {
    case ValueKind::kName: value = quoted(strings_[n.a]); break;
    case ValueKind::kRegex: value = quoted("rx:" + regexes_[n.a].pattern()); break;
    case ValueKind::kRiskMask: value = fmt_hex(n.number); break;
    case ValueKind::kMacSet: {
      for (const Mac& m : mac_sets_[n.a]) value += (value.empty() ? "" : ",") + to_string(m);
      if (mac_sets_[n.a].size() != 1) value = "[" + value + "]";
      break;
    }
    case ValueKind::kAddressSet: {
      const auto cidrs = sets_[n.a].cidrs();
      for (const auto& c : cidrs) value += (value.empty() ? "" : ", ") + to_string(c);
      if (cidrs.size() != 1) value = "[" + value + "]";
      break;
    }
    case ValueKind::kNumber: value = std::to_string(n.number); break;
  }
  return field + " " + cmp_text(n.op) + " " + value;
}

std::string Criteria::seen_text(const Node& n, const FlowFacts& facts) const {
  const std::string field(field_name(n.field));
  if (n.kind == NodeKind::kGlob || is_name_field(n.field)) {
    const std::string_view name = n.kind == NodeKind::kGlob && n.field == Field::kAppCategory
                                      ? facts.verdict->app_category
                                  : n.kind == NodeKind::kGlob && n.field == Field::kProtocolCategory
                                      ? facts.verdict->protocol_category
                                      : name_of(n.field, facts);
    return field + " = " + quoted(name);
  }
  if (is_mac_field(n.field)) {
    const Mac* mac = mac_of(n.field, facts);
    return field + " = " + (mac == nullptr ? std::string("(unknown)") : to_string(*mac));
  }
  const Address* addrs[2] = {};
  const std::size_t n_addrs = addresses_of(n.field, facts, addrs);
  const std::uint8_t version = facts.flow->tuple.ip_version;
  if (n_addrs > 0) {
    std::string out = field + " = " + to_string(*addrs[0], version);
    if (n_addrs > 1) out += ", " + to_string(*addrs[1], version);
    return out;
  }
  std::uint64_t nums[2] = {};
  const std::size_t n_nums = numbers_of(n.field, facts, nums);
  if (n.value == ValueKind::kRiskMask || n.field == Field::kRisks) {
    return field + " = " + fmt_hex(facts.verdict->risks);
  }
  std::string out = field + " = ";
  for (std::size_t i = 0; i < n_nums; ++i) out += (i ? ", " : "") + std::to_string(nums[i]);
  return out;
}

bool Criteria::trace(std::uint32_t index, const FlowFacts& facts, CriteriaTrace& out) const {
  const Node& n = nodes_[index];
  switch (n.kind) {
    case NodeKind::kAnd:
    case NodeKind::kOr: {
      // && is decided by the first false side (else the last true one); || by the first true.
      const bool stop_on = n.kind == NodeKind::kOr;
      if (trace(n.a, facts, out) == stop_on) return stop_on;
      return trace(n.b, facts, out);
    }
    case NodeKind::kNot: return !trace(n.a, facts, out);
    default: break;
  }
  const bool result = eval(index, facts);
  if (n.kind != NodeKind::kTrue && n.kind != NodeKind::kFalse) {
    out.steps.push_back({node_text(n), seen_text(n, facts), result});
    out.deciding = out.steps.size() - 1;
  }
  return result;
}

CriteriaTrace Criteria::explain(const FlowFacts& facts) const {
  CriteriaTrace t;
  if (nodes_.empty()) return t;
  t.matched = trace(root_, facts, t);
  return t;
}

}  // namespace ctlabeld::actions
