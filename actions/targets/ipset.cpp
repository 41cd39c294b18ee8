// SPDX-License-Identifier: GPL-3.0-or-later
// The ipset target type: a matching flow's member in the ipset <set_name>.v4 / .v6. Its keys
// (and target_defaults.ipset), the checks, the binding of each family's set through the daemon's
// ipset writer, and the --check lines with a rule that consumes the set.
#include <charconv>

#include "ctlabeld/ipset/set_writer.hpp"
#include "target_type.hpp"

namespace ctlabeld::actions {

namespace {

// An ipset target's resolved settings (target_defaults.ipset, then the target's own keys);
// kept in CtlabelTarget::settings for --check.
struct IpsetSettings {
  bool enabled = true;
  std::string set_name;
  bool v4 = true;  // set_family "*" (the default): both
  bool v6 = true;
  ipset::Type type = ipset::Type::kHashIp;
  std::uint32_t max_elements = 65536;
  std::uint32_t ttl = 0;  // seconds; 0: members never expire
  ipset::SkbInfo skb;
  bool managed = false;
  bool flush_on_create = false;
  bool flush_on_destroy = false;
};

struct IpsetLoad {
  IpsetSettings defaults;
};

using rapidjson::Value;

// ipset's kernel limit on timeouts (UINT_MAX / MSEC_PER_SEC, ip_set_timeout.h).
constexpr std::uint64_t kMaxTtl = 2147483;
constexpr std::size_t kMaxSetName = 31;  // IPSET_MAXNAMELEN - 1

bool parse_u32(const Value& v, std::uint32_t& out) {
  if (v.IsUint()) {
    out = v.GetUint();
    return true;
  }
  if (!v.IsString()) return false;
  const std::string_view text(v.GetString(), v.GetStringLength());
  const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  const char* begin = text.data() + (hex ? 2 : 0);
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(begin, end, out, hex ? 16 : 10);
  return !text.empty() && begin != end && ptr == end && ec == std::errc();
}

std::string found(const Value& v) {
  std::string text;
  if (v.IsString()) {
    text.append("'").append(v.GetString(), v.GetStringLength()).append("'");
  } else {
    text = json_type_name(v);
  }
  return text;
}

std::string hex(std::uint32_t x) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[x & 0xf]);
    x >>= 4;
  } while (x != 0);
  return "0x" + out;
}

// The keys both a target and target_defaults.ipset may give (set_name only a target).
void read_keys(const Value& t, const std::string& path, IpsetSettings& s, ConfigReader& in) {
  in.read_bool(t, "target_enabled", path, s.enabled);
  if (const auto it = t.FindMember("set_family"); it != t.MemberEnd()) {
    const Value& v = it->value;
    const std::string text = v.IsString() ? lowercase({v.GetString(), v.GetStringLength()}) : "";
    if (text == "ipv4" || text == "ipv6" || text == "*") {
      s.v4 = text != "ipv6";
      s.v6 = text != "ipv4";
    } else {
      in.error(path + ".set_family",
               "expected \"ipv4\", \"ipv6\" or \"*\" (both), found " + found(v));
    }
  }
  if (const auto it = t.FindMember("type"); it != t.MemberEnd()) {
    const Value& v = it->value;
    const auto type = v.IsString()
                          ? ipset::type_from_name(lowercase({v.GetString(), v.GetStringLength()}))
                          : std::nullopt;
    if (type) {
      s.type = *type;
    } else {
      in.error(path + ".type",
               "expected an ipset type: \"hash:ip\", \"hash:ip,port\", \"hash:ip,port,ip\" or "
               "\"hash:mac\" (or \"ip\", \"ip,port\", \"ip,port,ip\", \"mac\"), found " +
                   found(v));
    }
  }
  std::uint64_t x = 0;
  if (in.read_uint(t, "max_elements", path, 1, 0xffffffffu, x)) {
    s.max_elements = static_cast<std::uint32_t>(x);
  }
  if (in.read_uint(t, "ttl", path, 0, kMaxTtl, x)) s.ttl = static_cast<std::uint32_t>(x);
  for (const char* key : {"skb_mark", "skb_mask"}) {
    const auto it = t.FindMember(key);
    if (it == t.MemberEnd()) continue;
    std::uint32_t value = 0;
    if (!parse_u32(it->value, value)) {
      std::string message = "expected a 32-bit value as a decimal or 0x hex string, e.g. \"";
      message.append(key[6] == 'r' ? "0x10" : "0xffffffff").append("\", found ");
      in.error(path + "." + key, message + found(it->value));
      continue;
    }
    if (key[6] == 'r') {
      s.skb.mark = value;
    } else {
      s.skb.mask = value;
    }
  }
  if (const auto it = t.FindMember("skb_prio"); it != t.MemberEnd()) {
    const Value& v = it->value;
    const auto prio =
        v.IsString() ? ipset::parse_skb_prio({v.GetString(), v.GetStringLength()}) : std::nullopt;
    if (prio) {
      s.skb.prio = *prio;
    } else {
      in.error(path + ".skb_prio",
               "expected a tc class \"MAJOR:MINOR\" in hex, e.g. \"1:10\", found " + found(v));
    }
  }
  if (in.read_uint(t, "skb_queue", path, 0, 0xffff, x)) {
    s.skb.queue = static_cast<std::uint16_t>(x);
  }
  in.read_bool(t, "managed", path, s.managed);
  in.read_bool(t, "flush_on_create", path, s.flush_on_create);
  in.read_bool(t, "flush_on_destroy", path, s.flush_on_destroy);
}

void read_defaults(const Value& c, const std::string& path, TargetLoad& load, ConfigReader& in) {
  in.check_keys(
      c, path,
      {"target_enabled", "set_family", "type", "max_elements", "ttl", "skb_mark", "skb_mask",
       "skb_prio", "skb_queue", "managed", "flush_on_create", "flush_on_destroy"});
  read_keys(c, path, load.state<IpsetLoad>().defaults, in);
}

void read_target(const Value& t, const std::string& path, TargetLoad& load, CtlabelTarget& target,
                 ConfigReader& in) {
  in.check_keys(t, path,
                {"target_type", "target_enabled", "set_name", "set_family", "type", "max_elements",
                 "ttl", "skb_mark", "skb_mask", "skb_prio", "skb_queue", "managed",
                 "flush_on_create", "flush_on_destroy"});
  IpsetSettings s = load.state<IpsetLoad>().defaults;
  read_keys(t, path, s, in);
  target.enabled = s.enabled;
  if (!in.read_string(t, "set_name", path, s.set_name, false)) {
    if (t.FindMember("set_name") == t.MemberEnd()) {
      in.error(path,
               "missing \"set_name\"; add e.g. \"set_name\": \"nfa.blocks\" (the sets are "
               "nfa.blocks.v4 and nfa.blocks.v6)");
    }
  } else {
    const std::string longest = ipset::set_name_for(s.set_name, ipset::Family::kIpv4);
    if (longest.size() > kMaxSetName) {
      in.error(path + ".set_name", "'" + s.set_name + "' makes the set name '" + longest + "' of " +
                                       std::to_string(longest.size()) +
                                       " characters; ipset allows " + std::to_string(kMaxSetName) +
                                       ": shorten set_name to at most " +
                                       std::to_string(kMaxSetName - 3) + " characters");
    }
    for (const char c : s.set_name) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
        in.error(path + ".set_name", "'" + s.set_name +
                                         "' contains a space or control character; use letters, "
                                         "digits and . - _ only");
        break;
      }
    }
  }
  if (s.skb.mask != 0xffffffffu && !s.skb.mark) {
    in.warn(path + ".skb_mask", "skb_mask has no effect without skb_mark; add skb_mark");
  }
  if (s.flush_on_create && !s.managed) {
    in.warn(path + ".flush_on_create",
            "flush_on_create applies only to managed sets: this set is not flushed; add "
            "\"managed\": true or remove flush_on_create");
  }
  target.ttl_s = s.ttl;
  target.settings = s;
}

ipset::SetSpec spec_of(const IpsetSettings& s, ipset::Family family) {
  ipset::SetSpec spec;
  spec.name = ipset::set_name_for(s.set_name, family);
  spec.family = family;
  spec.type = s.type;
  spec.max_elements = s.max_elements;
  spec.timeout = s.ttl != 0;
  spec.skb = s.skb;
  spec.managed = s.managed;
  spec.flush_on_create = s.flush_on_create && s.managed;
  spec.flush_on_destroy = s.flush_on_destroy;
  return spec;
}

void bind(CtlabelTarget& target, const std::string& path, SinkBinder& binder, ConfigReader& in) {
  const auto* s = std::any_cast<IpsetSettings>(&target.settings);
  if (s == nullptr) return;
  for (const ipset::Family family : {ipset::Family::kIpv4, ipset::Family::kIpv6}) {
    const bool v4 = family == ipset::Family::kIpv4;
    if (!(v4 ? s->v4 : s->v6)) continue;
    auto bound = binder.bind("ipset", std::any(spec_of(*s, family)));
    if (bound) {
      target.sinks[v4 ? 0 : 1] = bound.value();
      continue;
    }
    std::string message;
    for (const auto& e : bound.errors()) message += (message.empty() ? "" : "; ") + e;
    in.warn(path, message + "; until then this target adds no " + (v4 ? "IPv4" : "IPv6") +
                      " flows (the daemon re-checks on reload)");
  }
}

// What a LAN-originated packet (local = source) matches the set's fields against.
const char* match_flags(ipset::Type type) {
  switch (type) {
    case ipset::Type::kHashIp: return "dst";
    case ipset::Type::kHashIpPort: return "dst,dst";
    case ipset::Type::kHashIpPortIp: return "src,dst,dst";
    case ipset::Type::kHashMac: return "src";
  }
  return "dst";
}

const char* stores(ipset::Type type) {
  switch (type) {
    case ipset::Type::kHashIp: return "the other (remote) address";
    case ipset::Type::kHashIpPort: return "the other address, protocol:other port";
    case ipset::Type::kHashIpPortIp:
      return "the local address, protocol:other port, the other address";
    case ipset::Type::kHashMac: return "the local MAC";
  }
  return "";
}

void describe(const CtlabelTarget& target, const RuleSet::Parts&, std::ostream& out) {
  const auto* s = std::any_cast<IpsetSettings>(&target.settings);
  if (s == nullptr || !target.enabled) return;
  out << "    sets:";
  for (const ipset::Family family : {ipset::Family::kIpv4, ipset::Family::kIpv6}) {
    const bool v4 = family == ipset::Family::kIpv4;
    if (!(v4 ? s->v4 : s->v6)) continue;
    out << " " << ipset::set_name_for(s->set_name, family) << " (IPv" << (v4 ? "4" : "6")
        << " flows" << (target.sinks[v4 ? 0 : 1] ? "" : ", not bound: does nothing") << ")";
  }
  out << "\n    type: " << ipset::type_name(s->type) << " (stores " << stores(s->type) << ")\n";
  out << "    ttl: ";
  if (s->ttl == 0) {
    out << "0 (members never expire; removed when the flow ends)";
  } else {
    out << s->ttl << " s (restarted at half of it while the flow matches; removed when it ends)";
  }
  out << "\n    max_elements: " << s->max_elements
      << "\n    managed: " << (s->managed ? "yes (created when missing)" : "no (must exist)")
      << ", flush_on_create: " << (s->flush_on_create && s->managed ? "yes" : "no")
      << ", flush_on_destroy: " << (s->flush_on_destroy ? "yes" : "no") << "\n";
  if (s->skb.any()) {
    out << "    skbinfo:";
    if (s->skb.mark) out << " mark " << hex(*s->skb.mark) << "/" << hex(s->skb.mask);
    if (s->skb.prio)
      out << " prio " << std::hex << (*s->skb.prio >> 16) << ":" << (*s->skb.prio & 0xffff)
          << std::dec;
    if (s->skb.queue) out << " queue " << *s->skb.queue;
    out << "\n";
  }
  // A rule that consumes the set (nft cannot match an ipset; iptables-nft and legacy can).
  const char* flags = match_flags(s->type);
  bool first = true;
  for (const ipset::Family family : {ipset::Family::kIpv4, ipset::Family::kIpv6}) {
    const bool v4 = family == ipset::Family::kIpv4;
    if (!(v4 ? s->v4 : s->v6)) continue;
    const std::string name = ipset::set_name_for(s->set_name, family);
    const char* tool = v4 ? "iptables" : "ip6tables";
    out << (first ? "    consume with: " : "                  ");
    first = false;
    if (s->skb.any()) {
      out << tool << " -t mangle -I FORWARD -m set --match-set " << name << " " << flags
          << " -j SET --map-set " << name << " " << flags << (s->skb.mark ? " --map-mark" : "")
          << (s->skb.prio ? " --map-prio" : "") << (s->skb.queue ? " --map-queue" : "") << "\n";
    } else {
      out << tool << " -I FORWARD -m set --match-set " << name << " " << flags << " -j DROP\n";
    }
  }
  out << "      (flags for packets from the LAN side; nft has no ipset match: use iptables-nft "
         "or legacy iptables, or an nftset target)\n";
}

}  // namespace

// Registered in registry.cpp (extern: the table there links to it).
extern const TargetTypeOps kIpsetType =
    sink_type_ops("ipset", nullptr, &read_defaults, &read_target, &describe, &bind);

}  // namespace ctlabeld::actions
