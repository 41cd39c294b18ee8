// SPDX-License-Identifier: GPL-3.0-or-later
// The ctmark target type (Netify v5): bits of the conntrack mark, written through the same
// ctnetlink writer as labels. Its keys, checks, --check lines and the mark a matching target
// puts on a flow: ct mark = (ct mark & ~mask) | ((mark << shift) & mask).
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <utility>

#include "target_type.hpp"

namespace ctlabeld::actions {

extern const TargetTypeOps kCtmarkType;  // below; the overlap check compares against it

namespace {

// ctmark's state during one load: target_defaults.ctmark (each target starts from these).
struct CtmarkLoad {
  std::optional<std::uint32_t> mark;
  std::optional<std::uint32_t> mask;
  unsigned shift = 0;
  bool enabled = true;
};

using rapidjson::Value;

struct CtmarkSettings {
  std::uint32_t mark = 0;  // as written in the file, before the shift
  std::uint32_t mask = 0;
  unsigned shift = 0;
};

std::string hex(std::uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", v);
  return text;
}

// A 32-bit value as Netify writes them: a decimal or 0x hex string, or a JSON number.
bool read_value(const Value& t, const char* key, const std::string& path,
                std::optional<std::uint32_t>& out, ConfigReader& in) {
  const auto it = t.FindMember(key);
  if (it == t.MemberEnd()) return false;
  const Value& v = it->value;
  bool ok = false;
  std::uint32_t x = 0;
  if (v.IsUint()) {
    ok = true;
    x = v.GetUint();
  } else if (v.IsString()) {
    const std::string_view text(v.GetString(), v.GetStringLength());
    const bool is_hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
    const char* begin = text.data() + (is_hex ? 2 : 0);
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(begin, end, x, is_hex ? 16 : 10);
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
    return false;
  }
  out = x;
  return true;
}

void read_keys(const Value& t, const std::string& path, CtmarkLoad& into, ConfigReader& in) {
  read_value(t, "mark", path, into.mark, in);
  read_value(t, "mask", path, into.mask, in);
  std::uint64_t shift = 0;
  if (in.read_uint(t, "shift", path, 0, 31, shift)) into.shift = static_cast<unsigned>(shift);
}

void read_defaults(const Value& c, const std::string& path, TargetLoad& load, ConfigReader& in) {
  in.check_keys(c, path, {"target_enabled", "mark", "mask", "shift"});
  in.read_bool(c, "target_enabled", path, load.state<CtmarkLoad>().enabled);
  read_keys(c, path, load.state<CtmarkLoad>(), in);
}

void read_target(const Value& t, const std::string& path, TargetLoad& load, CtlabelTarget& target,
                 ConfigReader& in) {
  in.check_keys(t, path, {"target_type", "target_enabled", "mark", "mask", "shift"});
  target.enabled = load.state<CtmarkLoad>().enabled;
  in.read_bool(t, "target_enabled", path, target.enabled);
  CtmarkLoad own = load.state<CtmarkLoad>();  // target_defaults.ctmark, then the target's own keys
  read_keys(t, path, own, in);
  if (!own.mark) {
    if (t.FindMember("mark") == t.MemberEnd()) {  // else: the bad value is already reported
      in.error(path,
               "this ctmark target sets no mark; add e.g. \"mark\": \"0x10\" (and \"mask\": "
               "\"0xff\" for the bits it owns)");
    }
    return;
  }
  // Without a mask the target owns the whole mark, as `ct mark set` and `conntrack -U --mark`.
  const std::uint32_t mask = own.mask.value_or(0xffffffffu);
  if (mask == 0) {
    in.error(path + ".mask",
             "mask 0 writes no bit of the mark; give the bits this target owns, e.g. \"0xff\"");
    return;
  }
  const std::uint64_t shifted = std::uint64_t{*own.mark} << own.shift;
  target.mark = static_cast<std::uint32_t>(shifted) & mask;
  target.mark_mask = mask;
  target.settings = CtmarkSettings{*own.mark, mask, own.shift};
  if ((shifted & ~std::uint64_t{mask}) != 0) {
    // Netify does not say; ctlabeld's formula masks, so the file's extra bits are dropped.
    in.warn(path, "mark " + hex(*own.mark) + " shifted left by " + std::to_string(own.shift) +
                      " has bits outside mask " + hex(mask) + ": only " + hex(target.mark) +
                      " is written; widen \"mask\" or correct \"mark\"/\"shift\"");
  }
}

// Two ctmark targets that write different values to the same mark bits, and that can both
// apply to one flow, have no defined result: the file must say which wins.
void check(const RuleSet::Parts& parts, ConfigReader& in) {
  struct Use {
    std::size_t action;
    std::size_t position;  // in the action's "targets" array
    std::uint32_t target;
  };
  std::vector<Use> uses;
  for (std::size_t a = 0; a < parts.actions.size(); ++a) {
    const Action& action = parts.actions[a];
    if (!action.enabled) continue;
    for (const std::uint32_t ti : action.targets) {
      const CtlabelTarget& t = parts.targets[ti];
      if (t.ops != &kCtmarkType || !t.enabled || t.mark_mask == 0) continue;
      const auto at = std::find(action.target_names.begin(), action.target_names.end(), t.name);
      uses.push_back({a, static_cast<std::size_t>(at - action.target_names.begin()), ti});
    }
  }
  auto where = [&](const Use& u) {
    return "actions." + parts.actions[u.action].name + ".targets[" + std::to_string(u.position) +
           "]";
  };
  std::map<std::pair<std::uint32_t, std::uint32_t>, bool> reported;
  for (std::size_t i = 0; i < uses.size(); ++i) {
    for (std::size_t j = i + 1; j < uses.size(); ++j) {
      const Use& first = uses[i];
      const Use& second = uses[j];
      if (first.target == second.target) continue;
      const CtlabelTarget& a = parts.targets[first.target];
      const CtlabelTarget& b = parts.targets[second.target];
      const std::uint32_t both = a.mark_mask & b.mark_mask;
      if (both == 0 || ((a.mark ^ b.mark) & both) == 0) continue;  // disjoint, or they agree
      // An earlier action with halt_on_match stops evaluation when it matches: never both.
      if (first.action != second.action && parts.actions[first.action].halt_on_match) continue;
      const auto key = std::minmax(first.target, second.target);
      if (reported[key]) continue;
      reported[key] = true;
      std::string fix;
      if (first.action == second.action) {
        fix = "give the two targets disjoint masks, or name only one of them in this action";
      } else {
        fix = "give the two targets disjoint masks, or set \"halt_on_match\": true on actions." +
              parts.actions[first.action].name + " so that a flow it matches gets only its mark";
      }
      in.error(where(second), "ctmark target '" + b.name + "' (mark " + hex(b.mark) + ", mask " +
                                  hex(b.mark_mask) + ") and target '" + a.name + "' (mark " +
                                  hex(a.mark) + ", mask " + hex(a.mark_mask) + ", named at " +
                                  where(first) + ") write different values to mark bits " +
                                  hex(both) + " and can both apply to one flow; " + fix);
    }
  }
}

void effect(const CtlabelTarget& target, const RuleSet::Parts&, const FlowFacts&, Evaluation& out) {
  out.mark |= target.mark;
  out.mark_mask |= target.mark_mask;
}

void describe(const CtlabelTarget& target, const RuleSet::Parts&, std::ostream& out) {
  const auto* s = std::any_cast<CtmarkSettings>(&target.settings);
  if (s == nullptr) return;
  out << "    mark: " << hex(target.mark) << " mask " << hex(target.mark_mask);
  if (s->shift != 0) out << " (" << hex(s->mark) << " << " << s->shift << ")";
  out << "\n    ct mark = (ct mark & ~" << hex(target.mark_mask) << ") | " << hex(target.mark)
      << "; the bits go back to 0 when no action sets them\n"
      << "    consume, e.g.: nft add rule inet ctlabeld dscp ct mark and " << hex(target.mark_mask)
      << " == " << hex(target.mark) << " ip dscp set cs5\n"
      << "    or route by it: meta mark set ct mark and " << hex(target.mark_mask)
      << " (in a prerouting chain), ip rule add fwmark " << hex(target.mark) << "/"
      << hex(target.mark_mask) << " table N\n";
}

}  // namespace

// Registered in registry.cpp (extern: the table there links to it).
extern const TargetTypeOps kCtmarkType = {
    .name = "ctmark",
    .read_defaults = &read_defaults,
    .read_target = &read_target,
    .effect = &effect,
    .describe = &describe,
    .check = &check,
};

}  // namespace ctlabeld::actions
