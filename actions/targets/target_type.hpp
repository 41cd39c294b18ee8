// SPDX-License-Identifier: GPL-3.0-or-later
// A target type is one module, actions/targets/<type>.cpp, registered in registry.cpp: how its
// targets are read and checked, what it describes for --check, and the effect a matching
// target has on a flow. Private to the actions stage.
#pragma once

#include <rapidjson/document.h>

#include <any>
#include <cctype>
#include <map>
#include <typeindex>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/actions/config.hpp"
#include "ctlabeld/actions/rule_set.hpp"
#include "ctlabeld/nftset/set_spec.hpp"
#include "ctlabeld/flowlog/log_spec.hpp"
#include "ctlabeld/ipset/set_writer.hpp"

namespace ctlabeld::actions {

// "a string", "an array", ... for messages.
inline std::string json_type_name(const rapidjson::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "a boolean";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsArray()) return "an array";
  return "an object";
}

inline std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The loader's JSON helpers, bound to its list of errors ("<file>: <json.path>: message").
class ConfigReader {
 public:
  virtual ~ConfigReader() = default;
  virtual void error(const std::string& path, const std::string& message) = 0;
  // What Netify tolerates: a warning (an error under --strict / ctlabeld.strict).
  virtual void warn(const std::string& path, const std::string& message) = 0;
  // Unknown keys (with a "did you mean") and keys given twice are errors.
  virtual void check_keys(const rapidjson::Value& obj, const std::string& path,
                          const std::vector<std::string_view>& allowed) = 0;
  // Each reads obj[key] when present; false when absent or wrong (the error is recorded).
  virtual bool read_bool(const rapidjson::Value& obj, const char* key, const std::string& path,
                         bool& out) = 0;
  virtual bool read_uint(const rapidjson::Value& obj, const char* key, const std::string& path,
                         std::uint64_t min, std::uint64_t max, std::uint64_t& out) = 0;
  virtual bool read_string(const rapidjson::Value& obj, const char* key, const std::string& path,
                           std::string& out, bool allow_empty) = 0;
};

// ctlabel's state during one load: target_globals.ctlabel, target_defaults.ctlabel, the label map.
struct CtlabelLoad {
  unsigned max_bits = defaults::kMaxLabelBit;
  std::string connlabel_conf = defaults::kConnlabelConf;
  bool default_log_errors = false;
  bool default_auto_label = false;
  bool default_enabled = true;
  std::shared_ptr<const LabelResolver> resolver;
  std::set<unsigned> taken_for_hint;  // bits already suggested in "add the line" hints
};

// Every type's state during one load. ctlabel's is read by the loader itself; every other
// module keeps its own struct in its .cpp and reaches it with state<T>(), so a new type adds
// nothing here.
struct TargetLoad {
  CtlabelLoad ctlabel;

  // The module's state, made on first use (one per type and load).
  template <typename T>
  T& state() {
    std::any& slot = states_[std::type_index(typeid(T))];
    if (!slot.has_value()) slot.emplace<T>();
    return std::any_cast<T&>(slot);
  }

 private:
  std::map<std::type_index, std::any> states_;
};

struct TargetTypeOps {
  std::string_view name;
  bool implemented = true;  // false: accepted so a Netify file loads unchanged; does nothing here
  // Any of these may be null (nothing to do): a module names only the ones it has.
  // target_globals.<type> and target_defaults.<type> (an object; `path` names it).
  void (*read_globals)(const rapidjson::Value& obj, const std::string& path, TargetLoad& load,
                       ConfigReader& in) = nullptr;
  void (*read_defaults)(const rapidjson::Value& obj, const std::string& path, TargetLoad& load,
                        ConfigReader& in) = nullptr;
  // After the globals and defaults, before any target (ctlabel: loads connlabel.conf).
  void (*prepare)(TargetLoad& load, const ResolverFactory& factory, ConfigReader& in) = nullptr;
  // targets.<name> of this type (an object; `target.name` and `type` are set).
  void (*read_target)(const rapidjson::Value& obj, const std::string& path, TargetLoad& load,
                      CtlabelTarget& target, ConfigReader& in) = nullptr;
  // After every target, into the compiled parts (ctlabel: the label map, auto labels).
  void (*finish)(TargetLoad& load, RuleSet::Parts& parts) = nullptr;
  // The bits an enabled target of the type may set (the mask of every write).
  void (*add_managed)(const CtlabelTarget& target, const RuleSet::Parts& parts,
                      LabelBits& out) = nullptr;
  // A matching action's enabled target: add its effect on the flow to `out`. No allocation.
  void (*effect)(const CtlabelTarget& target, const RuleSet::Parts& parts, const FlowFacts& facts,
                 Evaluation& out) = nullptr;
  // --check lines under the target's name.
  void (*describe)(const CtlabelTarget& target, const RuleSet::Parts& parts,
                   std::ostream& out) = nullptr;
  // Sink types (nftset, ipset, log): once the whole file loaded without error, each enabled
  // target's sinks are attached through `binder` (which the daemon routes to the type's
  // writer: it checks or creates the set) and stored in target.sinks. A sink that cannot be
  // bound is a warning naming the fix (`path` is "targets.<name>"); the target then does
  // nothing for it and everything else keeps working.
  void (*bind)(CtlabelTarget& target, const std::string& path, SinkBinder& binder,
               ConfigReader& in) = nullptr;
  // Once every target and action is read: checks across targets and actions (ctmark: two
  // targets writing the same mark bits to one flow). Errors and warnings go to `in`.
  void (*check)(const RuleSet::Parts& parts, ConfigReader& in) = nullptr;
};

// A sink type's ops (nftset, ipset, log): its readers, its --check lines and bind; the rule set
// lists its bound sinks generically, so it has no effect of its own.
constexpr TargetTypeOps sink_type_ops(std::string_view name,
                                      decltype(TargetTypeOps::read_globals) read_globals,
                                      decltype(TargetTypeOps::read_defaults) read_defaults,
                                      decltype(TargetTypeOps::read_target) read_target,
                                      decltype(TargetTypeOps::describe) describe,
                                      decltype(TargetTypeOps::bind) bind) {
  TargetTypeOps ops{};
  ops.name = name;
  ops.read_globals = read_globals;
  ops.read_defaults = read_defaults;
  ops.read_target = read_target;
  ops.describe = describe;
  ops.bind = bind;
  return ops;
}

// The registry (registry.cpp): Netify's target types, in the order messages list them.
[[nodiscard]] const std::vector<const TargetTypeOps*>& target_types();
[[nodiscard]] const TargetTypeOps* find_target_type(std::string_view name);
[[nodiscard]] std::vector<std::string_view> target_type_names();

// Netify's types ctlabeld accepts but does not implement.
[[nodiscard]] TargetTypeOps ignored_target_type(std::string_view name);

}  // namespace ctlabeld::actions
