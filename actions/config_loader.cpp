// SPDX-License-Identifier: GPL-3.0-or-later
// Reads and validates the Netify-format actions file, collecting every error before giving up,
// and compiles it into a RuleSet.
#include "ctlabeld/actions/config.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "ctlabeld/actions/edit_distance.hpp"
#include "targets/target_type.hpp"
#include "ctlabeld/actions/small_file.hpp"
#include "ctlabeld/common/file_policy.hpp"

namespace ctlabeld::actions {
namespace {

using rapidjson::Value;

const std::vector<std::string_view> kLogLevels = {"trace", "debug",    "info", "warn",
                                                  "error", "critical", "off"};

std::string type_name(const Value& v) { return json_type_name(v); }

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

constexpr std::size_t kNotFound = std::string_view::npos;

// The offset of the first '[' or '{' that opens level `max_depth + 1`, outside strings; kNotFound
// when the text nests no deeper than that. Syntax errors are left to the parser.
std::size_t nesting_too_deep(std::string_view json, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return kNotFound;
}

// --check and tests: every sink binds, to a handle counted per type; nothing is touched.
class DryBinder final : public SinkBinder {
 public:
  Expected<SinkRef> bind(std::string_view type, const std::any&) override {
    const auto& types = target_types();
    std::uint8_t row = 0;
    for (std::size_t i = 0; i < types.size(); ++i) {
      if (types[i]->name == type) row = static_cast<std::uint8_t>(i);
    }
    return SinkRef{row, next_[row]++};
  }

 private:
  std::array<std::uint16_t, 16> next_{};
};

class Loader final : public ConfigReader {
 public:
  Loader(std::string display_name, const ResolverFactory& factory, const RiskLookup& risk_bit,
         const LoadOptions& options)
      : file_(std::move(display_name)), factory_(factory), options_(options) {
    context_.risk_bit = risk_bit;
    context_.ndpi = &ndpi_names_;
    context_.warnings = &criteria_warnings_;
    context_.mappings = &mappings_;
    context_.group = [this](std::string_view name, std::string& why) {
      return find_group(name, why);
    };
  }

  Expected<LoadedConfig> load(std::string_view json) {
    // RapidJSON's recursive parser (and its recursive destructor) would overflow the stack on
    // deep nesting: refuse that before parsing, and parse iteratively anyway.
    if (const std::size_t at = nesting_too_deep(json, defaults::kMaxJsonDepth); at != kNotFound) {
      std::size_t line = 0, col = 0;
      offset_to_line_col(json, at, line, col);
      return Expected<LoadedConfig>::failure(
          file_ + ":" + std::to_string(line) + ":" + std::to_string(col) +
          ": JSON nested more than " + std::to_string(defaults::kMaxJsonDepth) +
          " levels deep; an actions file needs about 5: check the brackets");
    }
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
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
               {"version", "reprocess_flows", "timezone", "target_globals", "target_defaults",
                "targets", "actions", "exemptions", "ctlabeld"});
    read_bool(doc, "reprocess_flows", "", reprocess_flows_);
    read_timezone(doc);
    if (const Value* v = member(doc, "version")) {
      if (!v->IsNumber() && !v->IsString()) {
        error("version", "expected a number (Netify files use 1), found " + type_name(*v));
      }
    }
    read_type_sections(doc, "target_globals", &TargetTypeOps::read_globals);
    read_type_sections(doc, "target_defaults", &TargetTypeOps::read_defaults);
    for (const TargetTypeOps* type : target_types()) {
      if (type->prepare != nullptr) type->prepare(types_, factory_, *this);
    }
    read_settings(doc);
    if (options_.ndpi_names) ndpi_names_ = options_.ndpi_names(settings_.protos_file);
    load_names();
    read_targets(doc);
    read_actions(doc);
    for (const TargetTypeOps* type : target_types()) {
      if (type->check != nullptr) type->check(parts_, *this);
    }
    if (const Value* v = member(doc, "exemptions"))
      read_exemptions(*v, "exemptions", parts_.exemptions);
    for (const auto& w : criteria_warnings_) warnings_.push_back(file_ + ": " + w);
    // Sinks are attached (sets checked or created) only for a file that loaded cleanly.
    if (errors_.empty()) bind_sinks();
    const bool strict = options_.strict || settings_.strict;
    if (strict) {
      for (const auto& w : warnings_) {
        errors_.push_back(
            w + " [an error: " +
            (options_.strict ? std::string("--strict") : std::string("ctlabeld.strict is true")) +
            "]");
      }
      warnings_.clear();
    }
    if (!errors_.empty()) return Expected<LoadedConfig>::failure(std::move(errors_));

    for (const TargetTypeOps* type : target_types()) {
      if (type->finish != nullptr) type->finish(types_, parts_);
    }
    parts_.source = file_;
    parts_.reprocess_flows = reprocess_flows_;
    LoadedConfig config;
    config.rules = std::make_shared<const RuleSet>(std::move(parts_));
    config.settings = std::move(settings_);
    config.connlabel_conf = types_.ctlabel.connlabel_conf;
    config.max_bits = types_.ctlabel.max_bits;
    config.labels = types_.ctlabel.resolver;
    config.reprocess_flows = reprocess_flows_;
    config.warnings = std::move(warnings_);
    config.name_mappings = std::move(mappings_);
    return config;
  }

 private:
  void error(const std::string& path, const std::string& message) override {
    errors_.push_back(file_ + ": " + path + ": " + message);
  }
  // What Netify tolerates: loads, says so, and does nothing for the affected part.
  void warn(const std::string& path, const std::string& message) override {
    warnings_.push_back(file_ + ": " + path + ": " + message);
  }

  void bind_sinks() {
    DryBinder dry;
    SinkBinder& binder = options_.sinks != nullptr ? *options_.sinks : dry;
    for (CtlabelTarget& target : parts_.targets) {
      if (!target.enabled || !target.supported || target.ops == nullptr ||
          target.ops->bind == nullptr) {
        continue;
      }
      target.ops->bind(target, "targets." + target.name, binder, *this);
    }
  }

  void read_timezone(const Value& doc) {
    std::string name;
    if (!read_string(doc, "timezone", "", name, false)) return;
    auto zone = TimeZone::locate(name);
    if (!zone) {
      for (const auto& e : zone.errors()) error("timezone", e);
      return;
    }
    zone_ = zone.value();
    zone_set_ = true;
  }

  // The zone of time_of_day windows: "timezone", else the system's local time.
  const TimeZone& zone() {
    if (!zone_set_) {
      auto local = TimeZone::locate("");
      zone_ = local ? local.value() : TimeZone::utc();
      zone_set_ = true;
    }
    return zone_;
  }

  void load_names() {
    if (settings_.names_file.empty() || ndpi_names_.empty()) return;
    // The packaged default may be absent (a build tree): then names are checked against nDPI's
    // alone. A path the file gives must exist.
    if (!names_file_given_ && ::access(settings_.names_file.c_str(), F_OK) != 0) return;
    auto table = NameTable::load(settings_.names_file);
    if (!table) {
      for (const auto& e : table.errors()) error("ctlabeld.names_file", e);
      return;
    }
    names_ = std::move(table.value());
    context_.names = &names_;
  }

  // Netify's address groups: { "address_groups": [ { "name", "ips", "macs" } ] }, read once,
  // when the first @name is compiled.
  const AddressGroup* find_group(std::string_view name, std::string& why) {
    const std::string& path = settings_.address_groups;
    if (!groups_loaded_) {
      groups_loaded_ = true;
      read_groups(path);
    }
    if (!groups_error_.empty()) {
      why = groups_error_;
      return nullptr;
    }
    const auto it = groups_.find(std::string(name));
    if (it != groups_.end()) return &it->second;
    std::vector<std::string_view> names;
    for (const auto& [n, g] : groups_) names.push_back(n);
    why = "address group '@" + std::string(name) + "' is not defined in " + path +
          did_you_mean(name, names) + "; add it under \"address_groups\" there";
    return nullptr;
  }

  void read_groups(const std::string& path) {
    std::string text, why;
    if (!read_small_file(path, text, why)) {
      groups_error_ = "cannot read the address groups file " + path + " (" + why +
                      "); create it or set ctlabeld.address_groups to its path";
      return;
    }
    rapidjson::Document doc;
    doc.Parse(text.data(), text.size());
    if (doc.HasParseError()) {
      std::size_t line = 0, col = 0;
      offset_to_line_col(text, doc.GetErrorOffset(), line, col);
      groups_error_ = path + ":" + std::to_string(line) + ":" + std::to_string(col) +
                      ": JSON syntax error: " + rapidjson::GetParseError_En(doc.GetParseError());
      return;
    }
    const Value* list = doc.IsObject() ? member(doc, "address_groups") : nullptr;
    if (list == nullptr || !list->IsArray()) {
      groups_error_ = path +
                      ": expected { \"address_groups\": [ { \"name\": ..., \"ips\": "
                      "[...], \"macs\": [...] } ] }";
      return;
    }
    for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
      const Value& g = (*list)[i];
      const std::string where = path + ": address_groups[" + std::to_string(i) + "]";
      const Value* name = g.IsObject() ? member(g, "name") : nullptr;
      if (name == nullptr || !name->IsString()) {
        groups_error_ = where + ": expected an object with a \"name\" string";
        return;
      }
      AddressGroup group;
      for (const char* key : {"ips", "macs"}) {
        const Value* items = member(g, key);
        if (items == nullptr) continue;
        if (!items->IsArray()) {
          groups_error_ = where + "." + key + ": expected an array of strings";
          return;
        }
        for (rapidjson::SizeType j = 0; j < items->Size(); ++j) {
          const Value& e = (*items)[j];
          const std::string item = e.IsString() ? e.GetString() : "";
          Cidr cidr;
          Mac mac;
          if (key[0] == 'i' && parse_cidr(item, cidr)) {
            group.ips.add(cidr);
          } else if (key[0] == 'm' && parse_mac(item, mac)) {
            group.macs.push_back(mac);
          } else {
            groups_error_ = where + "." + key + "[" + std::to_string(j) + "]: '" + item +
                            "' is not " +
                            (key[0] == 'i' ? "an address or network" : "a MAC address");
            return;
          }
        }
      }
      groups_[name->GetString()] = std::move(group);
    }
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
                  const std::vector<std::string_view>& allowed) override {
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

  bool read_bool(const Value& obj, const char* key, const std::string& path, bool& out) override {
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
                 std::uint64_t max, std::uint64_t& out) override {
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
                   bool allow_empty = true) override {
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
    const std::vector<std::string_view> types = target_type_names();
    for (const auto& m : obj.GetObject()) {
      const std::string_view key(m.name.GetString(), m.name.GetStringLength());
      if (find_target_type(key) == nullptr) {
        error(child(path, key), "unknown target type '" + std::string(key) + "'" +
                                    did_you_mean(key, types) + " (types: " + join(types) + ")");
      } else if (!m.value.IsObject()) {
        error(child(path, key), "expected an object { ... }, found " + type_name(m.value));
      }
    }
  }

  // target_globals / target_defaults: each type's object to its module.
  using SectionReader = void (*)(const Value&, const std::string&, TargetLoad&, ConfigReader&);
  void read_type_sections(const Value& doc, const char* section, SectionReader TargetTypeOps::*fn) {
    const Value* g = member(doc, section);
    if (g == nullptr || !expect_object(*g, section)) return;
    check_type_keys(*g, section);
    for (const TargetTypeOps* type : target_types()) {
      const auto it = g->FindMember(rapidjson::StringRef(type->name.data(), type->name.size()));
      if (it == g->MemberEnd() || !it->value.IsObject() || type->*fn == nullptr) continue;
      (type->*fn)(it->value, child(section, type->name), types_, *this);
    }
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
      const TargetTypeOps* ops = find_target_type(target.type);
      if (ops == nullptr) {
        const std::vector<std::string_view> types = target_type_names();
        error(child(path, "target_type"), "unknown target type '" + target.type + "'" +
                                              did_you_mean(target.type, types) +
                                              " (types: " + join(types) + ")");
        continue;
      }
      target.ops = ops;
      target.supported = ops->implemented;
      ops->read_target(t, path, types_, target, *this);
      invalid_targets_.erase(target.name);
      target_index_[target.name] = static_cast<std::uint32_t>(parts_.targets.size());
      parts_.targets.push_back(std::move(target));
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
      check_keys(a, path,
                 {"enabled", "interface", "criteria", "exemptions", "targets", "halt_on_match",
                  "time_of_day"});
      read_bool(a, "enabled", path, action.enabled);
      read_bool(a, "halt_on_match", path, action.halt_on_match);
      read_time_of_day(a, path, action);
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
            // Netify tolerates it (generated files name targets they never define): the
            // action's other targets still apply.
            const std::string hint = did_you_mean(tn, target_names);
            warn(index(tp, i), "target '" + tn +
                                   "' is not defined under \"targets\": it does nothing" +
                                   (hint.empty() ? "; define it or remove the name" : hint));
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

  // [{ "day": "mon" or ["mon", ...], "time_start": "HH:MM", "time_end": "HH:MM",
  //    "policy": "inclusive"|"exclusive" }]; one TimeWindow per day.
  void read_time_of_day(const Value& a, const std::string& path, Action& action) {
    const Value* list = member(a, "time_of_day");
    if (list == nullptr) return;
    const std::string lp = child(path, "time_of_day");
    if (!list->IsArray()) {
      error(lp,
            "expected an array of windows [{ \"day\": [\"mon\"], \"time_start\": \"08:00\", "
            "\"time_end\": \"17:00\" }], found " +
                type_name(*list));
      return;
    }
    std::vector<TimeWindow> windows;
    for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
      const Value& w = (*list)[i];
      const std::string wp = index(lp, i);
      if (!expect_object(w, wp)) continue;
      check_keys(w, wp, {"day", "time_start", "time_end", "policy"});
      std::vector<std::uint8_t> days;
      const Value* day = member(w, "day");
      const std::string dp = child(wp, "day");
      auto add_day = [&](const Value& d, const std::string& where) {
        const auto parsed = d.IsString() ? parse_weekday(d.GetString()) : std::nullopt;
        if (!parsed) {
          error(where, "expected a day mon, tue, wed, thu, fri, sat or sun, found " +
                           (d.IsString() ? "'" + std::string(d.GetString()) + "'" : type_name(d)));
          return;
        }
        days.push_back(*parsed);
      };
      if (day == nullptr) {
        error(wp, "missing \"day\"; add e.g. \"day\": [\"mon\", \"tue\"]");
      } else if (day->IsArray()) {
        if (day->Empty()) error(dp, "no days; list at least one, e.g. [\"mon\"]");
        for (rapidjson::SizeType j = 0; j < day->Size(); ++j) add_day((*day)[j], index(dp, j));
      } else {
        add_day(*day, dp);
      }
      std::optional<std::uint16_t> start, end;
      for (const char* key : {"time_start", "time_end"}) {
        const bool is_end = key[5] == 'e';
        std::string text;
        if (!member(w, key)) {
          error(wp, std::string("missing \"") + key + "\"; add e.g. \"" + key + "\": \"" +
                        (is_end ? "17:00" : "08:00") + "\"");
          continue;
        }
        if (!read_string(w, key, wp, text)) continue;
        const auto minute = parse_clock(text, is_end);
        if (!minute) {
          error(child(wp, key), "'" + text + "' is not a time of day; write HH:MM from 00:00 to " +
                                    (is_end ? "24:00" : "23:59"));
          continue;
        }
        (is_end ? end : start) = minute;
      }
      if (start && end && *start == *end) {
        error(wp,
              "time_start equals time_end: the window is empty; for a whole day write "
              "\"time_start\": \"00:00\", \"time_end\": \"24:00\"");
        continue;
      }
      WindowPolicy policy = WindowPolicy::kInclusive;
      std::string policy_text;
      if (read_string(w, "policy", wp, policy_text)) {
        if (policy_text == "exclusive") {
          policy = WindowPolicy::kExclusive;
        } else if (policy_text != "inclusive") {
          error(child(wp, "policy"), "unknown policy '" + policy_text + "'" +
                                         did_you_mean(policy_text, {"inclusive", "exclusive"}) +
                                         "; use \"inclusive\" (the action applies inside the "
                                         "window) or \"exclusive\" (outside it)");
          continue;
        }
      }
      if (!start || !end) continue;
      for (const auto d : days) windows.push_back(TimeWindow{d, *start, *end, policy});
    }
    if (!windows.empty()) action.schedule = Schedule(std::move(windows), zone());
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
    check_keys(
        *s, path,
        {"interfaces",     "lan_interfaces", "wan_interfaces", "workers",         "local_networks",
         "protos_file",    "app_rules_file", "max_flows",      "max_dpi_packets", "tcp_idle",
         "udp_idle",       "other_idle",     "stats_interval", "stats_file",      "log_level",
         "bpf_filter",     "promiscuous",    "snaplen",        "buffer_bytes",    "strict",
         "address_groups", "names_file",     "metrics_file",   "control_socket",  "control_group"});
    read_bool(*s, "strict", path, settings_.strict);
    read_string(*s, "address_groups", path, settings_.address_groups, false);
    names_file_given_ = read_string(*s, "names_file", path, settings_.names_file);
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
    read_string(*s, "metrics_file", path, settings_.metrics_file);
    read_string(*s, "control_socket", path, settings_.control_socket, false);
    read_string(*s, "control_group", path, settings_.control_group);
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
  std::string file_;
  const ResolverFactory& factory_;
  const LoadOptions& options_;
  CompileContext context_;
  Errors errors_;
  TargetLoad types_;  // each target type's state during this load
  std::map<std::string, std::uint32_t> target_index_;
  std::vector<std::string> warnings_;
  std::vector<std::string> criteria_warnings_;
  std::vector<std::string> mappings_;
  NdpiNames ndpi_names_;
  NameTable names_;
  bool reprocess_flows_ = true;
  TimeZone zone_;
  bool zone_set_ = false;
  bool names_file_given_ = false;
  bool groups_loaded_ = false;
  std::string groups_error_;
  std::map<std::string, AddressGroup> groups_;
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
                                        const ResolverFactory& resolver, const RiskLookup& risk_bit,
                                        const LoadOptions& options) {
  return Loader(display_name, resolver, risk_bit, options).load(json);
}

Expected<LoadedConfig> load_config_file(const std::string& path, const ResolverFactory& resolver,
                                        const RiskLookup& risk_bit, const LoadOptions& options) {
  // One open, on which owner, mode, type and size are checked (common/file_policy).
  auto text = files::read_all(
      path, files::privileged_policy("actions file", defaults::kMaxActionsFileBytes));
  if (!text) return Expected<LoadedConfig>::failure(text.errors());
  return load_config_text(text.value(), path, resolver, risk_bit, options);
}

}  // namespace ctlabeld::actions
