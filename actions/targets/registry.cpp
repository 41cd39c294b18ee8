// SPDX-License-Identifier: GPL-3.0-or-later
// The one table of target types. A new type: its module in actions/targets/<type>.cpp and its row
// here (replacing its "ignored" row).
#include <algorithm>
#include <charconv>

#include "target_type.hpp"

namespace ctlabeld::actions {

namespace {

// Netify's other types: `target_enabled` is read so --check can say so; nothing else happens.
void read_ignored(const rapidjson::Value& obj, const std::string&, TargetLoad&,
                  CtlabelTarget& target, ConfigReader&) {
  const auto it = obj.FindMember("target_enabled");
  if (it != obj.MemberEnd() && it->value.IsBool()) target.enabled = it->value.GetBool();
}

// Netify v5's ctmark keys: mark and mask as decimal or 0x hex strings (or numbers), shift
// 0-31. The mark write itself belongs to the target types issue; the keys are checked now.
void read_ctmark(const rapidjson::Value& t, const std::string& path, TargetLoad& load,
                 CtlabelTarget& target, ConfigReader& in) {
  read_ignored(t, path, load, target, in);
  in.check_keys(t, path, {"target_type", "target_enabled", "mark", "mask", "shift"});
  for (const char* key : {"mark", "mask"}) {
    const auto it = t.FindMember(key);
    if (it == t.MemberEnd()) continue;
    const rapidjson::Value& v = it->value;
    bool ok = v.IsUint() || (v.IsUint64() && v.GetUint64() <= 0xffffffffu);
    if (v.IsString()) {
      const std::string_view text(v.GetString(), v.GetStringLength());
      const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
      const char* begin = text.data() + (hex ? 2 : 0);
      const char* end = text.data() + text.size();
      std::uint32_t x = 0;
      const auto [ptr, ec] = std::from_chars(begin, end, x, hex ? 16 : 10);
      ok = !text.empty() && begin != end && ptr == end && ec == std::errc();
    }
    if (!ok) {
      // Appended piecewise: GCC 12's "'" + std::string(...) trips a false -Wrestrict (PR 105329).
      std::string found;
      if (v.IsString()) {
        found.append("'").append(v.GetString(), v.GetStringLength()).append("'");
      } else {
        found = json_type_name(v);
      }
      const std::string_view example = key[2] == 'r' ? "0x10" : "0xff";
      std::string message = "expected a 32-bit value as a decimal or 0x hex string, e.g. \"";
      message.append(example).append("\", found ").append(found);
      in.error(path + "." + key, message);
    }
  }
  std::uint64_t shift = 0;
  in.read_uint(t, "shift", path, 0, 31, shift);
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

const TargetTypeOps kCtmark = with_reader(ignored_target_type("ctmark"), &read_ctmark);
const TargetTypeOps kNftset = ignored_target_type("nftset");
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
      &kCtlabelType, &kCtmark, &kIpsetType, &kLogType, &kNftset, &kPftable, &kSink};
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
