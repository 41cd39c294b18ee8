// Reads and validates the Netify-format actions file, collecting every error before giving up,
// and compiles it into a RuleSet.
#include "ctlabeld/actions/config.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "ctlabeld/actions/edit_distance.hpp"

namespace ctlabeld::actions {
namespace {

using rapidjson::Value;

// Netify's target types: ctlabeld implements ctlabel and accepts the others so an unchanged
// Netify file still loads; their targets are listed as ignored.
constexpr std::string_view kCtlabel = "ctlabel";
const std::vector<std::string_view> kTargetTypes = {"ctlabel", "ctmark", "ipset",
                                                    "log",     "nftset", "pftable"};
const std::vector<std::string_view> kLogLevels = {"trace", "debug",    "info", "warn",
                                                  "error", "critical", "off"};

std::string type_name(const Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "a boolean";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsArray()) return "an array";
  return "an object";
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "a, b, c" from any list of strings or string views.
template <typename Words>
std::string join(const Words& words) {
  std::string s;
  for (const auto& w : words) {
    if (!s.empty()) s += ", ";
    s += w;
  }
  return s;
}

class Loader {
 public:
  Loader(std::string display_name, const ResolverFactory& factory, const RiskLookup& risk_bit)
      : file_(std::move(display_name)), factory_(factory) {
    context_.risk_bit = risk_bit;
  }

  Expected<LoadedConfig> load(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError()) {
      std::size_t line = 0, col = 0;
      offset_to_line_col(json, doc.GetErrorOffset(), line, col);
      return Expected<LoadedConfig>::failure(
          file_ + ":" + std::to_string(line) + ":" + std::to_string(col) +
          ": JSON syntax error: " + rapidjson::GetParseError_En(doc.GetParseError()));
    }
    if (!doc.IsObject()) {
      return Expected<LoadedConfig>::failure(
          file_ +
          ": the file must hold one JSON object { \"actions\": ..., \"targets\": ... }, "
          "found " +
          type_name(doc));
    }
    check_keys(doc, "",
               {"version", "target_globals", "target_defaults", "targets", "actions", "exemptions",
                "ctlabeld"});
    if (const Value* v = member(doc, "version")) {
      if (!v->IsNumber() && !v->IsString()) {
        error("version", "expected a number (Netify files use 1), found " + type_name(*v));
      }
    }
    read_globals(doc);
    read_defaults(doc);
    make_resolver();
    read_settings(doc);
    read_targets(doc);
    read_actions(doc);
    if (const Value* v = member(doc, "exemptions"))
      read_exemptions(*v, "exemptions", parts_.exemptions);
    if (!errors_.empty()) return Expected<LoadedConfig>::failure(std::move(errors_));

    build_auto_labels();
    parts_.resolver = resolver_;
    parts_.max_bits = max_bits_;
    parts_.source = file_;
    LoadedConfig config;
    config.rules = std::make_shared<const RuleSet>(std::move(parts_));
    config.settings = std::move(settings_);
    config.connlabel_conf = connlabel_conf_;
    config.max_bits = max_bits_;
    config.labels = resolver_;
    return config;
  }

 private:
  void error(const std::string& path, const std::string& message) {
    errors_.push_back(file_ + ": " + path + ": " + message);
  }

  static std::string child(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
  static std::string index(const std::string& path, std::size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

  static const Value* member(const Value& obj, const char* key) {
    const auto it = obj.FindMember(key);
    return it == obj.MemberEnd() ? nullptr : &it->value;
  }

  // Unknown keys are errors with a hint; a key given twice is an error (RapidJSON keeps both
  // and a reader could not tell which one wins).
  void check_keys(const Value& obj, const std::string& path,
                  const std::vector<std::string_view>& allowed) {
    std::set<std::string_view> seen;
    for (const auto& m : obj.GetObject()) {
      const std::string_view key(m.name.GetString(), m.name.GetStringLength());
      if (!seen.insert(key).second) {
        error(child(path, key), "key given twice; keep one");
        continue;
      }
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(child(path, key), "unknown key '" + std::string(key) + "'" +
                                    did_you_mean(key, allowed) + " (allowed: " + join(allowed) +
                                    ")");
      }
    }
  }

  bool expect_object(const Value& v, const std::string& path) {
    if (v.IsObject()) return true;
    error(path, "expected an object { ... }, found " + type_name(v));
    return false;
  }

  bool read_bool(const Value& obj, const char* key, const std::string& path, bool& out) {
    const Value* v = member(obj, key);
    if (v == nullptr) return false;
    if (!v->IsBool()) {
      error(child(path, key), "expected true or false, found " + type_name(*v));
      return false;
    }
    out = v->GetBool();
    return true;
  }

  bool read_uint(const Value& obj, const char* key, const std::string& path, std::uint64_t min,
                 std::uint64_t max, std::uint64_t& out) {
    const Value* v = member(obj, key);
    if (v == nullptr) return false;
    if (!v->IsUint64()) {
      error(child(path, key), "expected a whole number from " + std::to_string(min) + " to " +
                                  std::to_string(max) + ", found " + type_name(*v));
      return false;
    }
    const std::uint64_t x = v->GetUint64();
    if (x < min || x > max) {
      error(child(path, key), std::to_string(x) + " is out of range; use " + std::to_string(min) +
                                  " to " + std::to_string(max));
      return false;
    }
    out = x;
    return true;
  }

  bool read_string(const Value& obj, const char* key, const std::string& path, std::string& out,
                   bool allow_empty = true) {
    const Value* v = member(obj, key);
    if (v == nullptr) return false;
    if (!v->IsString()) {
      error(child(path, key), "expected a string, found " + type_name(*v));
      return false;
    }
    if (!allow_empty && v->GetStringLength() == 0) {
      error(child(path, key), "must not be empty");
      return false;
    }
    out.assign(v->GetString(), v->GetStringLength());
    return true;
  }

  bool read_string_array(const Value& obj, const char* key, const std::string& path,
                         std::vector<std::string>& out) {
    const Value* v = member(obj, key);
    if (v == nullptr) return false;
    const std::string p = child(path, key);
    if (!v->IsArray()) {
      error(p, "expected an array of strings [\"...\"], found " + type_name(*v));
      return false;
    }
    out.clear();
    bool ok = true;
    for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
      const Value& e = (*v)[i];
      if (!e.IsString()) {
        error(index(p, i), "expected a string, found " + type_name(e));
        ok = false;
        continue;
      }
      out.emplace_back(e.GetString(), e.GetStringLength());
    }
    return ok;
  }

  // For target_globals and target_defaults: keys are target types.
  void check_type_keys(const Value& obj, const std::string& path) {
    for (const auto& m : obj.GetObject()) {
      const std::string_view key(m.name.GetString(), m.name.GetStringLength());
      if (std::find(kTargetTypes.begin(), kTargetTypes.end(), key) == kTargetTypes.end()) {
        error(child(path, key), "unknown target type '" + std::string(key) + "'" +
                                    did_you_mean(key, kTargetTypes) +
                                    " (types: " + join(kTargetTypes) + ")");
      } else if (!m.value.IsObject()) {
        error(child(path, key), "expected an object { ... }, found " + type_name(m.value));
      }
    }
  }

  void read_globals(const Value& doc) {
    const Value* g = member(doc, "target_globals");
    if (g == nullptr || !expect_object(*g, "target_globals")) return;
    check_type_keys(*g, "target_globals");
    const Value* c = member(*g, "ctlabel");
    if (c == nullptr || !c->IsObject()) return;
    const std::string path = "target_globals.ctlabel";
    check_keys(*c, path, {"max_bits", "connlabel_conf"});
    std::uint64_t bits = 0;
    if (read_uint(*c, "max_bits", path, 0, defaults::kMaxLabelBit, bits)) {
      max_bits_ = static_cast<unsigned>(bits);
    }
    read_string(*c, "connlabel_conf", path, connlabel_conf_, false);
  }

  void read_defaults(const Value& doc) {
    const Value* d = member(doc, "target_defaults");
    if (d == nullptr || !expect_object(*d, "target_defaults")) return;
    check_type_keys(*d, "target_defaults");
    const Value* c = member(*d, "ctlabel");
    if (c == nullptr || !c->IsObject()) return;
    const std::string path = "target_defaults.ctlabel";
    check_keys(*c, path, {"log_errors", "auto_label", "target_enabled"});
    read_bool(*c, "log_errors", path, default_log_errors_);
    read_bool(*c, "auto_label", path, default_auto_label_);
    read_bool(*c, "target_enabled", path, default_enabled_);
  }

  void make_resolver() {
    if (!factory_) return;
    auto made = factory_(connlabel_conf_, max_bits_);
    if (!made.ok()) {
      for (const auto& e : made.errors()) error("target_globals.ctlabel.connlabel_conf", e);
      return;
    }
    resolver_ = std::shared_ptr<const LabelResolver>(std::move(made.value()));
  }

  std::string conf_path() const { return resolver_ ? resolver_->source_path() : connlabel_conf_; }

  // The lowest bit connlabel.conf leaves free within max_bits, for the "add the line" hint.
  unsigned free_bit() const {
    LabelBits used;
    if (resolver_) {
      for (const auto& [name, bit] : resolver_->all()) {
        if (bit < used.size()) used.set(bit);
      }
    }
    for (unsigned b = 0; b <= max_bits_; ++b) {
      if (!used.test(b) && !taken_for_hint_.count(b)) return b;
    }
    return 0;
  }

  void read_label(const Value& v, const std::string& path, CtlabelTarget& target) {
    if (v.IsUint64()) {
      const std::uint64_t bit = v.GetUint64();
      if (bit > max_bits_) {
        error(path, "bit " + std::to_string(bit) + " is above max_bits " +
                        std::to_string(max_bits_) +
                        " (target_globals.ctlabel.max_bits); use a bit from 0 to " +
                        std::to_string(max_bits_));
        return;
      }
      target.labels.emplace_back("", static_cast<unsigned>(bit));
      target.bits.set(static_cast<std::size_t>(bit));
      return;
    }
    if (!v.IsString()) {
      error(path, "expected a label name or a bit number, found " + type_name(v));
      return;
    }
    const std::string name(v.GetString(), v.GetStringLength());
    if (name.empty()) {
      error(path, "empty label name");
      return;
    }
    if (!resolver_) return;  // the connlabel.conf error is already reported
    const auto bit = resolver_->bit_of(name);
    if (!bit) {
      const unsigned hint = free_bit();
      taken_for_hint_.insert(hint);
      error(path, "label '" + name + "' is not defined in " + conf_path() + "; add the line \"" +
                      std::to_string(hint) + " " + name + "\" (any free bit 0-" +
                      std::to_string(max_bits_) + ") to that file");
      return;
    }
    if (*bit > max_bits_) {
      error(path, "label '" + name + "' is bit " + std::to_string(*bit) + " in " + conf_path() +
                      ", above max_bits " + std::to_string(max_bits_) +
                      " (target_globals.ctlabel.max_bits); raise max_bits or move the label "
                      "to a lower bit");
      return;
    }
    target.labels.emplace_back(name, *bit);
    target.bits.set(*bit);
  }

  void read_targets(const Value& doc) {
    const Value* ts = member(doc, "targets");
    if (ts == nullptr || !expect_object(*ts, "targets")) return;
    for (const auto& m : ts->GetObject()) {
      CtlabelTarget target;
      target.name.assign(m.name.GetString(), m.name.GetStringLength());
      const std::string path = "targets." + target.name;
      if (target_index_.count(target.name)) {
        error(path, "target defined twice; keep one");
        continue;
      }
      if (!expect_object(m.value, path)) continue;
      const Value& t = m.value;
      // Until the type is known good, an action naming this target must not add a second,
      // misleading "unknown target" error.
      invalid_targets_.insert(target.name);
      const Value* type = member(t, "target_type");
      if (type == nullptr) {
        error(path, "missing \"target_type\"; add \"target_type\": \"ctlabel\"");
        continue;
      }
      if (!type->IsString()) {
        error(child(path, "target_type"), "expected a string, found " + type_name(*type));
        continue;
      }
      target.type.assign(type->GetString(), type->GetStringLength());
      if (std::find(kTargetTypes.begin(), kTargetTypes.end(), target.type) == kTargetTypes.end()) {
        error(child(path, "target_type"), "unknown target type '" + target.type + "'" +
                                              did_you_mean(target.type, kTargetTypes) +
                                              " (types: " + join(kTargetTypes) + ")");
        continue;
      }
      if (target.type != kCtlabel) {
        target.supported = false;
        if (const Value* en = member(t, "target_enabled"); en != nullptr && en->IsBool()) {
          target.enabled = en->GetBool();
        }
      } else {
        read_ctlabel_target(t, path, target);
      }
      invalid_targets_.erase(target.name);
      target_index_[target.name] = static_cast<std::uint16_t>(parts_.targets.size());
      parts_.targets.push_back(std::move(target));
    }
  }

  void read_ctlabel_target(const Value& t, const std::string& path, CtlabelTarget& target) {
    check_keys(t, path, {"target_type", "target_enabled", "labels", "auto_label", "log_errors"});
    target.enabled = default_enabled_;
    target.log_errors = default_log_errors_;
    target.auto_label = default_auto_label_;
    read_bool(t, "target_enabled", path, target.enabled);
    read_bool(t, "log_errors", path, target.log_errors);
    read_bool(t, "auto_label", path, target.auto_label);
    const Value* labels = member(t, "labels");
    if (labels != nullptr) {
      const std::string lp = child(path, "labels");
      if (!labels->IsArray()) {
        error(lp, "expected an array of label names or bits, e.g. [\"zoom\"], found " +
                      type_name(*labels));
        return;
      }
      for (rapidjson::SizeType i = 0; i < labels->Size(); ++i) {
        read_label((*labels)[i], index(lp, i), target);
      }
    }
    if ((labels == nullptr || labels->Empty()) && !target.auto_label) {
      error(path,
            "this ctlabel target sets no label; add \"labels\": [\"<name>\"] or "
            "\"auto_label\": true");
    }
  }

  void read_exemptions(const Value& v, const std::string& path, Exemptions& out) {
    if (!v.IsArray()) {
      error(path, "expected an array of addresses, networks or expressions, found " + type_name(v));
      return;
    }
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      const Value& e = v[i];
      const std::string p = index(path, i);
      if (!e.IsString()) {
        error(p,
              "expected a string (an address, a network or an expression), found " + type_name(e));
        continue;
      }
      const std::string_view text(e.GetString(), e.GetStringLength());
      Cidr cidr;
      if (parse_cidr(text, cidr)) {
        out.networks.add(cidr);
        continue;
      }
      auto compiled = compile_criteria(text, p, context_);
      if (!compiled.ok()) {
        for (const auto& m : compiled.errors()) errors_.push_back(file_ + ": " + m);
        continue;
      }
      out.expressions.push_back(std::move(compiled.value()));
    }
  }

  void read_criteria(const Value& a, const std::string& path, Action& action) {
    const Value* c = member(a, "criteria");
    const std::string cp = child(path, "criteria");
    if (c == nullptr) {
      error(path, "missing \"criteria\"; add e.g. \"criteria\": \"app == 'zoom';\"");
      return;
    }
    auto compile_one = [&](const Value& s, const std::string& where) {
      if (!s.IsString()) {
        error(where, "expected a criteria string, found " + type_name(s));
        return;
      }
      auto compiled =
          compile_criteria(std::string_view(s.GetString(), s.GetStringLength()), where, context_);
      if (!compiled.ok()) {
        for (const auto& m : compiled.errors()) errors_.push_back(file_ + ": " + m);
        return;
      }
      action.criteria.push_back(std::move(compiled.value()));
    };
    if (c->IsArray()) {  // several criteria: the action matches when any does
      if (c->Empty()) error(cp, "empty criteria list; add a criteria string");
      for (rapidjson::SizeType i = 0; i < c->Size(); ++i) compile_one((*c)[i], index(cp, i));
    } else {
      compile_one(*c, cp);
    }
  }

  void read_actions(const Value& doc) {
    const Value* as = member(doc, "actions");
    if (as == nullptr) {
      errors_.push_back(file_ +
                        ": actions: missing; add \"actions\": { \"<name>\": { "
                        "\"criteria\": \"...\", \"targets\": [\"...\"] } }");
      return;
    }
    if (!expect_object(*as, "actions")) return;
    std::vector<std::string_view> target_names;
    for (const auto& [name, i] : target_index_) target_names.push_back(name);
    std::set<std::string> seen;
    for (const auto& m : as->GetObject()) {
      Action action;
      action.name.assign(m.name.GetString(), m.name.GetStringLength());
      const std::string path = "actions." + action.name;
      if (!seen.insert(action.name).second) {
        error(path, "action defined twice; keep one");
        continue;
      }
      if (!expect_object(m.value, path)) continue;
      const Value& a = m.value;
      check_keys(a, path, {"enabled", "interface", "criteria", "exemptions", "targets"});
      read_bool(a, "enabled", path, action.enabled);
      read_interface(a, path, action);
      read_criteria(a, path, action);
      if (const Value* ex = member(a, "exemptions")) {
        read_exemptions(*ex, child(path, "exemptions"), action.exemptions);
      }
      const std::string tp = child(path, "targets");
      if (member(a, "targets") == nullptr) {
        error(path, "missing \"targets\"; add e.g. \"targets\": [\"" +
                        (target_names.empty() ? std::string("ctlabel.zoom")
                                              : std::string(target_names.front())) +
                        "\"]");
      } else if (read_string_array(a, "targets", path, action.target_names)) {
        if (action.target_names.empty()) error(tp, "no targets; name at least one target");
        for (std::size_t i = 0; i < action.target_names.size(); ++i) {
          const auto& tn = action.target_names[i];
          const auto it = target_index_.find(tn);
          if (it == target_index_.end() && invalid_targets_.count(tn)) continue;  // reported
          if (it == target_index_.end()) {
            error(index(tp, i),
                  "unknown target '" + tn + "'" + did_you_mean(tn, target_names) +
                      (target_names.empty() ? "; define it under \"targets\""
                                            : " (targets: " + join(target_names) + ")"));
            continue;
          }
          action.targets.push_back(it->second);
        }
      }
      if (parts_.actions.size() >= std::numeric_limits<std::uint16_t>::max()) {
        error(path, "too many actions (at most 65535)");
        return;
      }
      parts_.actions.push_back(std::move(action));
    }
  }

  void read_duration(const Value& s, const char* key, std::chrono::seconds& out) {
    std::uint64_t x = 0;
    if (read_uint(s, key, "ctlabeld", 1, 7 * 24 * 3600, x)) out = std::chrono::seconds(x);
  }

  // Netify's action "interface": "*" or absent (any), "lan"/"wan" (a role: the interfaces in
  // ctlabeld.lan_interfaces / wan_interfaces; while that list is empty every interface has the
  // role, so a Netify file loads unchanged and --check says so), or one capture source name.
  void read_interface(const Value& a, const std::string& path, Action& action) {
    std::string text;
    if (!read_string(a, "interface", path, text)) return;
    if (text.empty()) {
      error(child(path, "interface"),
            "empty; use \"*\" (any), \"lan\", \"wan\" or an interface name such as \"eth0\"");
      return;
    }
    action.interface_text = text;
    if (text == "*") return;
    const std::string role = lowercase(text);
    if (role == "lan" || role == "wan") {
      const auto& names = role == "lan" ? settings_.lan_interfaces : settings_.wan_interfaces;
      if (names.empty()) {
        action.interface_note = "any interface: ctlabeld." + role +
                                "_interfaces is not set; set it to limit this action";
      } else {
        action.interfaces = names;
        action.interface_note = "ctlabeld." + role + "_interfaces: " + join(names);
      }
      return;
    }
    action.interfaces.push_back(text);
  }

  void read_settings(const Value& doc) {
    const Value* s = member(doc, "ctlabeld");
    if (s == nullptr || !expect_object(*s, "ctlabeld")) {
      parts_.local_networks = default_local_networks();
      return;
    }
    const std::string path = "ctlabeld";
    check_keys(*s, path,
               {"interfaces", "lan_interfaces", "wan_interfaces", "workers", "local_networks",
                "protos_file", "app_rules_file", "max_flows", "max_dpi_packets", "tcp_idle",
                "udp_idle", "other_idle", "stats_interval", "stats_file", "log_level", "bpf_filter",
                "promiscuous", "snaplen", "buffer_bytes"});
    read_string_array(*s, "interfaces", path, settings_.interfaces);
    read_string_array(*s, "lan_interfaces", path, settings_.lan_interfaces);
    read_string_array(*s, "wan_interfaces", path, settings_.wan_interfaces);
    std::uint64_t x = 0;
    if (read_uint(*s, "workers", path, 0, 256, x)) settings_.workers = static_cast<unsigned>(x);
    if (read_string_array(*s, "local_networks", path, settings_.local_networks)) {
      for (std::size_t i = 0; i < settings_.local_networks.size(); ++i) {
        Cidr c;
        if (!parse_cidr(settings_.local_networks[i], c)) {
          error(index("ctlabeld.local_networks", i),
                "'" + settings_.local_networks[i] +
                    "' is not an address or network; write e.g. \"192.168.0.0/16\"");
        }
      }
    }
    for (const auto& text : settings_.local_networks) {
      Cidr c;
      if (parse_cidr(text, c)) parts_.local_networks.add(c);
    }
    std::string file;
    if (read_string(*s, "protos_file", path, file)) settings_.protos_file = file;
    if (read_string(*s, "app_rules_file", path, file)) settings_.app_rules_file = file;
    if (read_uint(*s, "max_flows", path, 1, 100'000'000, x)) settings_.max_flows = x;
    if (read_uint(*s, "max_dpi_packets", path, 1, 10'000, x)) {
      settings_.max_dpi_packets = static_cast<std::uint32_t>(x);
    }
    read_duration(*s, "tcp_idle", settings_.tcp_idle);
    read_duration(*s, "udp_idle", settings_.udp_idle);
    read_duration(*s, "other_idle", settings_.other_idle);
    if (read_uint(*s, "stats_interval", path, 0, 24 * 3600, x)) {
      settings_.stats_interval = std::chrono::seconds(x);
    }
    read_string(*s, "stats_file", path, settings_.stats_file);
    if (read_string(*s, "log_level", path, settings_.log_level)) {
      const std::string level = lowercase(settings_.log_level);
      if (std::find(kLogLevels.begin(), kLogLevels.end(), level) == kLogLevels.end()) {
        error("ctlabeld.log_level", "unknown log level '" + settings_.log_level + "'" +
                                        did_you_mean(level, kLogLevels) +
                                        " (levels: " + join(kLogLevels) + ")");
      }
      settings_.log_level = level;
    }
    read_string(*s, "bpf_filter", path, settings_.bpf_filter);
    read_bool(*s, "promiscuous", path, settings_.promiscuous);
    if (read_uint(*s, "snaplen", path, 64, 262144, x)) settings_.snaplen = static_cast<int>(x);
    if (read_uint(*s, "buffer_bytes", path, 65536, 1u << 30, x)) {
      settings_.buffer_bytes = static_cast<int>(x);
    }
  }

  // "a-<app>" and "p-<protocol>" names in connlabel.conf, for targets with auto_label.
  void build_auto_labels() {
    if (!resolver_) return;
    for (const auto& [name, bit] : resolver_->all()) {
      if (bit > max_bits_ || name.size() < 3 || name[1] != '-') continue;
      const std::string rest = lowercase(std::string_view(name).substr(2));
      if (name[0] == 'a' || name[0] == 'A') parts_.app_labels.add(rest, bit);
      if (name[0] == 'p' || name[0] == 'P') parts_.protocol_labels.add(rest, bit);
    }
    parts_.app_labels.finish();
    parts_.protocol_labels.finish();
  }

  std::string file_;
  const ResolverFactory& factory_;
  CompileContext context_;
  Errors errors_;
  unsigned max_bits_ = defaults::kMaxLabelBit;
  std::string connlabel_conf_ = defaults::kConnlabelConf;
  bool default_log_errors_ = false;
  bool default_auto_label_ = false;
  bool default_enabled_ = true;
  std::shared_ptr<const LabelResolver> resolver_;
  std::set<unsigned> taken_for_hint_;
  std::map<std::string, std::uint16_t> target_index_;
  std::set<std::string> invalid_targets_;
  DaemonSettings settings_;
  RuleSet::Parts parts_;
};

}  // namespace

void offset_to_line_col(std::string_view text, std::size_t offset, std::size_t& line,
                        std::size_t& col) {
  line = 1;
  col = 1;
  const std::size_t end = std::min(offset, text.size());
  for (std::size_t i = 0; i < end; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
}

Expected<LoadedConfig> load_config_text(std::string_view json, const std::string& display_name,
                                        const ResolverFactory& resolver,
                                        const RiskLookup& risk_bit) {
  return Loader(display_name, resolver, risk_bit).load(json);
}

Expected<LoadedConfig> load_config_file(const std::string& path, const ResolverFactory& resolver,
                                        const RiskLookup& risk_bit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Expected<LoadedConfig>::failure(
        path + ": cannot open the actions file: " + std::strerror(errno));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    return Expected<LoadedConfig>::failure(path + ": cannot read the actions file");
  }
  return load_config_text(buffer.str(), path, resolver, risk_bit);
}

}  // namespace ctlabeld::actions
