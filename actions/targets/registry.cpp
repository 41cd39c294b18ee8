// SPDX-License-Identifier: GPL-3.0-or-later
// The one table of target types. A new type: its module in actions/targets/<type>.cpp and its row
// here (replacing its "ignored" row).
#include <algorithm>

#include "target_type.hpp"

namespace ctlabeld::actions {

// The modules (actions/targets/<type>.cpp). A new type: its line here and its row below.
extern const TargetTypeOps kCtlabelType;
extern const TargetTypeOps kCtmarkType;
extern const TargetTypeOps kIpsetType;
extern const TargetTypeOps kLogType;
extern const TargetTypeOps kNftsetType;

namespace {

// Netify's other types: `target_enabled` is read so --check can say so; nothing else happens.
void read_ignored(const rapidjson::Value& obj, const std::string&, TargetLoad&,
                  CtlabelTarget& target, ConfigReader&) {
  const auto it = obj.FindMember("target_enabled");
  if (it != obj.MemberEnd() && it->value.IsBool()) target.enabled = it->value.GetBool();
}

// Types that can do nothing on this system: loaded with a warning that says so.
void read_sink(const rapidjson::Value& t, const std::string& path, TargetLoad& load,
               CtlabelTarget& target, ConfigReader& in) {
  read_ignored(t, path, load, target, in);
  in.warn(path,
          "target type 'sink' sends match records to a Netify sink plugin, which ctlabeld "
          "does not have: this target does nothing; remove it from the actions that name it");
}

void read_pftable(const rapidjson::Value& t, const std::string& path, TargetLoad& load,
                  CtlabelTarget& target, ConfigReader& in) {
  read_ignored(t, path, load, target, in);
  in.warn(path,
          "target type 'pftable' is for BSD pf tables: on Linux this target does nothing; use "
          "an nftset target instead");
}

TargetTypeOps with_reader(TargetTypeOps ops,
                          void (*reader)(const rapidjson::Value&, const std::string&, TargetLoad&,
                                         CtlabelTarget&, ConfigReader&)) {
  ops.read_target = reader;
  return ops;
}

const TargetTypeOps kPftable = with_reader(ignored_target_type("pftable"), &read_pftable);
const TargetTypeOps kSink = with_reader(ignored_target_type("sink"), &read_sink);

}  // namespace

TargetTypeOps ignored_target_type(std::string_view name) {
  TargetTypeOps ops{};
  ops.name = name;
  ops.implemented = false;
  ops.read_target = &read_ignored;
  return ops;
}

const std::vector<const TargetTypeOps*>& target_types() {
  static const std::vector<const TargetTypeOps*> types = {
      &kCtlabelType, &kCtmarkType, &kIpsetType, &kLogType, &kNftsetType, &kPftable, &kSink};
  return types;
}

const TargetTypeOps* find_target_type(std::string_view name) {
  const auto& types = target_types();
  const auto it = std::find_if(types.begin(), types.end(),
                               [&](const TargetTypeOps* t) { return t->name == name; });
  return it == types.end() ? nullptr : *it;
}

std::vector<std::string_view> target_type_names() {
  std::vector<std::string_view> names;
  for (const TargetTypeOps* t : target_types()) names.push_back(t->name);
  return names;
}

}  // namespace ctlabeld::actions
