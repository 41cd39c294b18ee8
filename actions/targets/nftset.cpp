// SPDX-License-Identifier: GPL-3.0-or-later
// The nftset target type: the flow's element (its `type` fields in order) in an nft set named
// <set_name>.v4 / .v6. Its keys, checks, the binding to the nftset writer (which checks or
// creates the sets) and the --check lines with a rule that consumes the set.
#include <algorithm>
#include <any>

#include "ctlabeld/actions/edit_distance.hpp"
#include "target_type.hpp"

namespace ctlabeld::actions {

namespace {

// An nftset target's settings as resolved from target_defaults.nftset and the target (kept in
// CtlabelTarget::settings for --check).
struct NftsetSettings {
  std::string table_name = "nfa";
  std::string table_family = "inet";
  std::string set_name;          // without the family suffix
  std::string set_family = "*";  // ipv4, ipv6 or * (both)
  std::vector<nftset::Field> type;
  std::uint32_t max_elements = 65536;
  std::uint32_t ttl = 0;  // seconds; 0: elements never expire
  bool managed = false;
  bool flush_on_create = false;
  bool flush_on_destroy = false;
  bool enabled = true;
};

// nftset's state during one load: target_defaults.nftset.
struct NftsetLoad {
  NftsetSettings defaults;
};

using nftset::Family;
using nftset::Field;
using rapidjson::Value;

constexpr std::uint64_t kMaxTtl = 365ull * 24 * 3600;  // a year: beyond that, use 0 (no expiry)
constexpr std::string_view kTypeExample =
    "[\"local_addr\", \"ip_proto\", \"other_port\", \"other_addr\"]";

const std::vector<std::string_view>& field_names() {
  static const std::vector<std::string_view> names = {"local_mac",  "other_mac",  "local_addr",
                                                      "other_addr", "local_port", "other_port",
                                                      "ip_proto",   "mark",       "interface"};
  return names;
}

std::string joined(const std::vector<std::string_view>& names) {
  std::string out;
  for (const auto n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

const std::vector<std::string_view> kTableFamilies = {"inet",   "ip",     "ip6",
                                                      "bridge", "netdev", "arp"};
const std::vector<std::string_view> kSetFamilies = {"ipv4", "ipv6", "*"};

// The keys target_defaults.nftset and a target share.
const std::vector<std::string_view> kKeys = {"target_enabled",
                                             "table_name",
                                             "table_family",
                                             "set_name",
                                             "set_family",
                                             "type",
                                             "max_elements",
                                             "size",
                                             "ttl",
                                             "managed",
                                             "flush_on_create",
                                             "flush_on_destroy"};

void read_choice(const Value& obj, const char* key, const std::string& path,
                 const std::vector<std::string_view>& allowed, std::string& out, ConfigReader& in) {
  std::string value;
  if (!in.read_string(obj, key, path, value, false)) return;
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    in.error(path + "." + key,
             "'" + value + "' is not one of " + joined(allowed) + did_you_mean(value, allowed));
    return;
  }
  out = value;
}

void read_type(const Value& obj, const std::string& path, NftsetSettings& s, ConfigReader& in) {
  const auto it = obj.FindMember("type");
  if (it == obj.MemberEnd()) return;
  const std::string tp = path + ".type";
  const Value& v = it->value;
  if (!v.IsArray()) {
    in.error(tp, "expected an array of flow fields in the order the set's rules use, e.g. " +
                     std::string(kTypeExample) + ", found " + json_type_name(v));
    return;
  }
  if (v.Empty()) {
    in.error(tp, "empty type: the set's key needs at least one flow field, e.g. " +
                     std::string(kTypeExample));
    return;
  }
  std::vector<Field> fields;
  bool ok = true;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    const std::string ep = tp + "[" + std::to_string(i) + "]";
    if (!v[i].IsString()) {
      in.error(ep, "expected a flow field name (" + joined(field_names()) + "), found " +
                       json_type_name(v[i]));
      ok = false;
      continue;
    }
    const std::string name(v[i].GetString(), v[i].GetStringLength());
    const auto field = nftset::field_from_name(name);
    if (!field) {
      in.error(ep, "unknown flow field '" + name + "'" + did_you_mean(name, field_names()) +
                       " (fields: " + joined(field_names()) + ")");
      ok = false;
      continue;
    }
    fields.push_back(*field);
  }
  if (!ok) return;
  if (fields.size() > nftset::kMaxFields) {
    in.error(tp, std::to_string(fields.size()) + " fields: an nft set key concatenates at most " +
                     std::to_string(nftset::kMaxFields) + "; drop fields");
    return;
  }
  s.type = std::move(fields);
}

// The keys present in `obj` over `s` (target_defaults.nftset, then each target).
void read_keys(const Value& obj, const std::string& path, NftsetSettings& s, ConfigReader& in) {
  in.read_bool(obj, "target_enabled", path, s.enabled);
  in.read_string(obj, "table_name", path, s.table_name, false);
  read_choice(obj, "table_family", path, kTableFamilies, s.table_family, in);
  in.read_string(obj, "set_name", path, s.set_name, false);
  read_choice(obj, "set_family", path, kSetFamilies, s.set_family, in);
  read_type(obj, path, s, in);
  const bool has_max = obj.HasMember("max_elements");
  const bool has_size = obj.HasMember("size");
  if (has_max && has_size) {
    in.error(path + ".size",
             "both max_elements and size are given (they are the same setting); keep one");
  }
  std::uint64_t n = 0;
  if (in.read_uint(obj, has_max ? "max_elements" : "size", path, 1, 0xffffffffu, n)) {
    s.max_elements = static_cast<std::uint32_t>(n);
  }
  if (in.read_uint(obj, "ttl", path, 0, kMaxTtl, n)) s.ttl = static_cast<std::uint32_t>(n);
  in.read_bool(obj, "managed", path, s.managed);
  in.read_bool(obj, "flush_on_create", path, s.flush_on_create);
  in.read_bool(obj, "flush_on_destroy", path, s.flush_on_destroy);
}

// Netify documents no nftset globals; files carry some (`table`): said, not silently dropped.
void read_globals(const Value& c, const std::string& path, TargetLoad&, ConfigReader& in) {
  for (const auto& m : c.GetObject()) {
    const std::string key(m.name.GetString(), m.name.GetStringLength());
    in.warn(path + "." + key,
            "nftset has no global settings: '" + key +
                "' is ignored; give the targets' settings in target_defaults.nftset (keys: " +
                joined(kKeys) + ")");
  }
}

void read_defaults(const Value& c, const std::string& path, TargetLoad& load, ConfigReader& in) {
  in.check_keys(c, path, kKeys);
  read_keys(c, path, load.state<NftsetLoad>().defaults, in);
}

std::vector<Family> families_of(const NftsetSettings& s) {
  if (s.set_family == "ipv4") return {Family::kIpv4};
  if (s.set_family == "ipv6") return {Family::kIpv6};
  return {Family::kIpv4, Family::kIpv6};
}

std::string fields_text(const std::vector<Field>& fields) {
  std::string text = "[";
  for (const Field f : fields) {
    if (text.size() > 1) text += ", ";
    text += nftset::field_name(f);
  }
  return text + "]";
}

void read_target(const Value& t, const std::string& path, TargetLoad& load, CtlabelTarget& target,
                 ConfigReader& in) {
  std::vector<std::string_view> allowed = kKeys;
  allowed.insert(allowed.begin(), "target_type");
  in.check_keys(t, path, allowed);
  NftsetSettings s = load.state<NftsetLoad>().defaults;
  read_keys(t, path, s, in);
  target.enabled = s.enabled;
  target.ttl_s = s.ttl;
  target.settings = s;
  // A disabled target acts on nothing: only the values it gives are checked.
  if (!s.enabled) return;
  if (s.set_name.empty() && !t.HasMember("set_name")) {
    in.error(path,
             "missing \"set_name\": add the set's name without its family suffix, e.g. "
             "\"set_name\": \"nfa.blocks\" (consumed as the nft sets nfa.blocks.v4 and "
             "nfa.blocks.v6)");
  }
  if (s.type.empty() && !t.HasMember("type")) {
    in.error(path,
             "missing \"type\": add the flow fields the set's key holds, in the order its "
             "rules use, e.g. \"type\": " +
                 std::string(kTypeExample));
  }
  for (const Family f : families_of(s)) {
    if (s.type.empty()) break;
    const auto layout = nftset::key_layout(s.type, f);
    if (layout.key_len > nftset::kMaxKeyBytes) {
      in.error(path + ".type",
               "the type " + fields_text(s.type) + " makes a key of " +
                   std::to_string(layout.key_len) + " bytes for " +
                   (f == Family::kIpv4 ? "IPv4" : "IPv6") +
                   " (concatenated fields take 4-byte multiples), more than the kernel's 64; "
                   "drop fields" +
                   (s.set_family == "*" ? " or set \"set_family\": \"ipv4\"" : ""));
      break;
    }
  }
  const bool v4_only_table = s.table_family == "ip";
  const bool v6_only_table = s.table_family == "ip6";
  if ((v4_only_table && s.set_family != "ipv4") || (v6_only_table && s.set_family != "ipv6")) {
    const std::string sees = v4_only_table ? "IPv4" : "IPv6";
    const std::string other = v4_only_table ? ".v6" : ".v4";
    const std::string want = v4_only_table ? "ipv4" : "ipv6";
    in.warn(path + ".table_family", "a table of family '" + s.table_family + "' sees only " + sees +
                                        " packets, so no rule there can match the " + other +
                                        " set; set \"set_family\": \"" + want +
                                        "\" or \"table_family\": \"inet\"");
  }
  if (s.flush_on_create && !s.managed) {
    in.warn(path + ".flush_on_create",
            "flush_on_create applies only to managed sets: the set is not emptied at start-up; "
            "set \"managed\": true or remove flush_on_create");
  }
}

void bind(CtlabelTarget& target, const std::string& path, SinkBinder& binder, ConfigReader& in) {
  const auto* s = std::any_cast<NftsetSettings>(&target.settings);
  if (s == nullptr) return;
  for (const Family f : families_of(*s)) {
    nftset::SetSpec spec;
    spec.table = s->table_name;
    spec.table_family = s->table_family;
    spec.set = nftset::set_name_for(s->set_name, f);
    spec.family = f;
    spec.fields = s->type;
    spec.size = s->max_elements;
    spec.timeout = s->ttl > 0;
    spec.managed = s->managed;
    spec.flush_on_create = s->managed && s->flush_on_create;
    spec.flush_on_destroy = s->flush_on_destroy;
    auto bound = binder.bind("nftset", std::any(spec));
    const std::size_t slot = f == Family::kIpv4 ? 0 : 1;
    if (bound) {
      target.sinks[slot] = bound.value();
      continue;
    }
    const std::string version = f == Family::kIpv4 ? "IPv4" : "IPv6";
    for (const auto& e : bound.errors()) {
      in.warn(path, e + "; until then this target adds no " + version +
                        " flows (everything else keeps working)");
    }
  }
}

// The nft expression that reads `field` from a packet of a flow the LAN side (local) opened.
std::string_view expression(Field field, Family f) {
  const bool v4 = f == Family::kIpv4;
  switch (field) {
    case Field::kLocalAddr: return v4 ? "ip saddr" : "ip6 saddr";
    case Field::kOtherAddr: return v4 ? "ip daddr" : "ip6 daddr";
    case Field::kLocalPort: return "th sport";
    case Field::kOtherPort: return "th dport";
    case Field::kIpProto: return v4 ? "ip protocol" : "meta l4proto";
    case Field::kMark: return "ct mark";
    case Field::kInterface: return "iifname";
    case Field::kLocalMac: return "ether saddr";
    case Field::kOtherMac: return "ether daddr";
  }
  return "?";
}

void describe(const CtlabelTarget& target, const RuleSet::Parts&, std::ostream& out) {
  const auto* s = std::any_cast<NftsetSettings>(&target.settings);
  if (s == nullptr) return;
  out << "    type: " << fields_text(s->type) << "\n";
  if (!target.enabled) return;  // a disabled target binds no set
  for (const Family f : families_of(*s)) {
    const std::size_t slot = f == Family::kIpv4 ? 0 : 1;
    const std::string set = nftset::set_name_for(s->set_name, f);
    out << "    set (" << (f == Family::kIpv4 ? "IPv4" : "IPv6") << " flows): " << s->table_family
        << " " << s->table_name << " " << set
        << (target.sinks[slot] ? "" : " [not bound: this target does nothing for these flows]")
        << "\n      key: " << nftset::key_layout(s->type, f).text << "\n      rule: ";
    for (std::size_t i = 0; i < s->type.size(); ++i) {
      out << (i == 0 ? "" : " . ") << expression(s->type[i], f);
    }
    out << " @" << set << " drop\n";
  }
  out << "      (in a forward chain of table " << s->table_family << " " << s->table_name
      << ", for packets from the LAN side: local = source)\n";
  out << "    ttl: ";
  if (s->ttl == 0) {
    out << "0 (elements stay until their flow ends)";
  } else {
    out << s->ttl << " s (re-added while the flow lives; removed when it ends)";
  }
  out << "\n    max_elements: " << s->max_elements
      << "\n    managed: " << (s->managed ? "yes" : "no")
      << (s->managed ? (s->flush_on_create ? " (flushed at start-up)" : "") : "")
      << "\n    flush_on_destroy: " << (s->flush_on_destroy ? "yes" : "no") << "\n";
}

}  // namespace

// Registered in registry.cpp (extern: the table there links to it).
extern const TargetTypeOps kNftsetType =
    sink_type_ops("nftset", &read_globals, &read_defaults, &read_target, &describe, &bind);

}  // namespace ctlabeld::actions
