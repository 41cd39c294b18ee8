// SPDX-License-Identifier: GPL-3.0-or-later
// The ctlabel target type: conntrack label bits, named in connlabel.conf. Its keys, checks,
// --check lines and the bits a matching target puts on a flow.
#include "target_type.hpp"

namespace ctlabeld::actions {

namespace {

using rapidjson::Value;

void read_globals(const Value& c, const std::string& path, TargetLoad& load, ConfigReader& in) {
  CtlabelLoad& l = load.ctlabel;
  in.check_keys(c, path, {"max_bits", "connlabel_conf"});
  std::uint64_t bits = 0;
  if (in.read_uint(c, "max_bits", path, 0, defaults::kMaxLabelBit, bits)) {
    l.max_bits = static_cast<unsigned>(bits);
  }
  in.read_string(c, "connlabel_conf", path, l.connlabel_conf, false);
}

void read_defaults(const Value& c, const std::string& path, TargetLoad& load, ConfigReader& in) {
  CtlabelLoad& l = load.ctlabel;
  in.check_keys(c, path, {"log_errors", "auto_label", "target_enabled"});
  in.read_bool(c, "log_errors", path, l.default_log_errors);
  in.read_bool(c, "auto_label", path, l.default_auto_label);
  in.read_bool(c, "target_enabled", path, l.default_enabled);
}

void prepare(TargetLoad& load, const ResolverFactory& factory, ConfigReader& in) {
  CtlabelLoad& l = load.ctlabel;
  if (!factory) return;
  auto made = factory(l.connlabel_conf, l.max_bits);
  if (!made.ok()) {
    for (const auto& e : made.errors()) in.error("target_globals.ctlabel.connlabel_conf", e);
    return;
  }
  l.resolver = std::shared_ptr<const LabelResolver>(std::move(made.value()));
}

std::string conf_path(const CtlabelLoad& l) {
  return l.resolver ? l.resolver->source_path() : l.connlabel_conf;
}

// The lowest bit connlabel.conf leaves free within max_bits, for the "add the line" hint.
unsigned free_bit(const CtlabelLoad& l) {
  LabelBits used;
  if (l.resolver) {
    for (const auto& [name, bit] : l.resolver->all()) {
      if (bit < used.size()) used.set(bit);
    }
  }
  for (unsigned b = 0; b <= l.max_bits; ++b) {
    if (!used.test(b) && !l.taken_for_hint.count(b)) return b;
  }
  return 0;
}

void read_label(const Value& v, const std::string& path, CtlabelLoad& l, CtlabelTarget& target,
                ConfigReader& in) {
  if (v.IsUint64()) {
    const std::uint64_t bit = v.GetUint64();
    if (bit > l.max_bits) {
      in.error(path, "bit " + std::to_string(bit) + " is above max_bits " +
                         std::to_string(l.max_bits) +
                         " (target_globals.ctlabel.max_bits); use a bit from 0 to " +
                         std::to_string(l.max_bits));
      return;
    }
    target.labels.emplace_back("", static_cast<unsigned>(bit));
    target.bits.set(static_cast<std::size_t>(bit));
    return;
  }
  if (!v.IsString()) {
    in.error(path, "expected a label name or a bit number, found " + json_type_name(v));
    return;
  }
  const std::string name(v.GetString(), v.GetStringLength());
  if (name.empty()) {
    in.error(path, "empty label name");
    return;
  }
  if (!l.resolver) return;  // the connlabel.conf error is already reported
  const auto bit = l.resolver->bit_of(name);
  if (!bit) {
    const unsigned hint = free_bit(l);
    l.taken_for_hint.insert(hint);
    // Netify tolerates it: the label is skipped, the target's other labels still apply.
    const std::string empty = l.resolver->all().empty() ? " (the file defines no labels)" : "";
    in.warn(path, "label '" + name + "' is not defined in " + conf_path(l) + empty +
                      ": this label is not set; add the line \"" + std::to_string(hint) + " " +
                      name + "\" (any free bit 0-" + std::to_string(l.max_bits) + ") to that file");
    return;
  }
  if (*bit > l.max_bits) {
    in.error(path, "label '" + name + "' is bit " + std::to_string(*bit) + " in " + conf_path(l) +
                       ", above max_bits " + std::to_string(l.max_bits) +
                       " (target_globals.ctlabel.max_bits); raise max_bits or move the label "
                       "to a lower bit");
    return;
  }
  target.labels.emplace_back(name, *bit);
  target.bits.set(*bit);
}

void read_target(const Value& t, const std::string& path, TargetLoad& load, CtlabelTarget& target,
                 ConfigReader& in) {
  CtlabelLoad& l = load.ctlabel;
  in.check_keys(t, path, {"target_type", "target_enabled", "labels", "auto_label", "log_errors"});
  target.enabled = l.default_enabled;
  target.log_errors = l.default_log_errors;
  target.auto_label = l.default_auto_label;
  in.read_bool(t, "target_enabled", path, target.enabled);
  in.read_bool(t, "log_errors", path, target.log_errors);
  in.read_bool(t, "auto_label", path, target.auto_label);
  const auto labels = t.FindMember("labels");
  const bool has_labels = labels != t.MemberEnd();
  if (has_labels) {
    const std::string lp = path + ".labels";
    if (!labels->value.IsArray()) {
      in.error(lp, "expected an array of label names or bits, e.g. [\"zoom\"], found " +
                       json_type_name(labels->value));
      return;
    }
    for (rapidjson::SizeType i = 0; i < labels->value.Size(); ++i) {
      read_label(labels->value[i], lp + "[" + std::to_string(i) + "]", l, target, in);
    }
  }
  if ((!has_labels || labels->value.Empty()) && !target.auto_label) {
    in.error(path,
             "this ctlabel target sets no label; add \"labels\": [\"<name>\"] or "
             "\"auto_label\": true");
  }
}

// auto_label's names: "a-<app>" and "p-<protocol>" lines of connlabel.conf within max_bits.
void finish(TargetLoad& load, RuleSet::Parts& parts) {
  const CtlabelLoad& l = load.ctlabel;
  parts.resolver = l.resolver;
  parts.max_bits = l.max_bits;
  if (!l.resolver) return;
  for (const auto& [name, bit] : l.resolver->all()) {
    if (bit > l.max_bits || name.size() < 3 || name[1] != '-') continue;
    const std::string rest = lowercase(std::string_view(name).substr(2));
    if (name[0] == 'a' || name[0] == 'A') parts.app_labels.add(rest, bit);
    if (name[0] == 'p' || name[0] == 'P') parts.protocol_labels.add(rest, bit);
  }
  parts.app_labels.finish();
  parts.protocol_labels.finish();
}

void add_managed(const CtlabelTarget& target, const RuleSet::Parts& parts, LabelBits& out) {
  out |= target.bits;
  if (!target.auto_label) return;
  for (const auto& [name, bit] : parts.app_labels.entries()) out.set(bit);
  for (const auto& [name, bit] : parts.protocol_labels.entries()) out.set(bit);
}

void effect(const CtlabelTarget& target, const RuleSet::Parts& parts, const FlowFacts& facts,
            Evaluation& out) {
  out.labels |= target.bits;
  out.log_errors = out.log_errors || target.log_errors;
  if (!target.auto_label) return;
  if (const unsigned* bit = parts.app_labels.find(facts.verdict->app)) out.labels.set(*bit);
  if (const unsigned* bit = parts.protocol_labels.find(facts.verdict->protocol)) {
    out.labels.set(*bit);
  }
}

void describe(const CtlabelTarget& target, const RuleSet::Parts& parts, std::ostream& out) {
  out << "    labels:";
  for (const auto& [name, bit] : target.labels) {
    const std::string resolved = parts.resolver ? parts.resolver->name_of(bit) : "";
    out << " " << (resolved.empty() ? "bit" + std::to_string(bit) : resolved) << "=" << bit;
  }
  out << "\n    auto_label: " << (target.auto_label ? "yes" : "no");
  if (target.auto_label) {
    out << " (" << parts.app_labels.size() << " a-* and " << parts.protocol_labels.size()
        << " p-* labels in connlabel.conf)";
  }
  out << "\n    log_errors: " << (target.log_errors ? "yes" : "no") << "\n";
}

}  // namespace

// Registered in registry.cpp (extern: the table there links to it).
extern const TargetTypeOps kCtlabelType = {
    .name = "ctlabel",
    .read_globals = &read_globals,
    .read_defaults = &read_defaults,
    .prepare = &prepare,
    .read_target = &read_target,
    .finish = &finish,
    .add_managed = &add_managed,
    .effect = &effect,
    .describe = &describe,
};

}  // namespace ctlabeld::actions
