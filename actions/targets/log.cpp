// SPDX-License-Identifier: GPL-3.0-or-later
// The log target type: the flows its actions match, written to a file per interval by the log
// writer (flowlog/). Its keys, checks, the sink it binds and its --check lines.
#include <chrono>

#include "target_type.hpp"

namespace ctlabeld::actions {

namespace {

// log's state during one load: target_defaults.log, and each enabled target's file pattern
// (two targets writing the same files must agree on the interval).
struct LogLoad {
  flowlog::LogSpec defaults;
  bool default_enabled = true;
  std::map<std::string, std::pair<std::string, std::int64_t>> patterns;  // -> target, interval
};

using flowlog::LogSpec;
using rapidjson::Value;

// The file keys, in target_defaults.log and in each target: every value checked here.
void read_spec(const Value& obj, const std::string& path, LogSpec& spec, ConfigReader& in) {
  std::uint64_t interval = 0;
  if (in.read_uint(obj, "interval", path, 1,
                   static_cast<std::uint64_t>(flowlog::kMaxInterval.count()), interval)) {
    spec.interval = std::chrono::seconds(interval);
  }
  std::string dir;
  if (in.read_string(obj, "path", path, dir, false)) {
    if (dir.front() != '/') {
      in.error(path + ".path",
               "expected an absolute directory, e.g. \"/tmp\", found '" + dir + "'");
    } else if (dir.find('\0') != std::string::npos) {
      in.error(path + ".path", "contains a NUL byte; give a directory such as \"/tmp\"");
    } else {
      spec.path = dir;
    }
  }
  for (const char* key : {"prefix", "suffix"}) {
    std::string value;
    if (!in.read_string(obj, key, path, value, true)) continue;
    if (value.find('/') != std::string::npos || value.find('\0') != std::string::npos) {
      in.error(path + "." + key,
               "'" + value +
                   "' is part of the file name and must not contain '/' (or a NUL byte); put "
                   "directories in \"path\"");
      continue;
    }
    (key[0] == 'p' ? spec.prefix : spec.suffix) = value;
  }
}

// Netify documents no globals for log: every key belongs elsewhere.
void read_globals(const Value& c, const std::string& path, TargetLoad&, ConfigReader& in) {
  for (const auto& m : c.GetObject()) {
    const std::string key(m.name.GetString(), m.name.GetStringLength());
    in.error(path + "." + key, "log targets take no globals; put \"" + key +
                                   "\" in target_defaults.log or in the target");
  }
}

void read_defaults(const Value& c, const std::string& path, TargetLoad& load, ConfigReader& in) {
  LogLoad& l = load.state<LogLoad>();
  in.check_keys(c, path, {"target_enabled", "interval", "path", "prefix", "suffix"});
  in.read_bool(c, "target_enabled", path, l.default_enabled);
  read_spec(c, path, l.defaults, in);
}

void read_target(const Value& t, const std::string& path, TargetLoad& load, CtlabelTarget& target,
                 ConfigReader& in) {
  LogLoad& l = load.state<LogLoad>();
  in.check_keys(t, path, {"target_type", "target_enabled", "interval", "path", "prefix", "suffix"});
  target.enabled = l.default_enabled;
  in.read_bool(t, "target_enabled", path, target.enabled);
  LogSpec spec = l.defaults;
  read_spec(t, path, spec, in);
  const std::string pattern = flowlog::file_pattern(spec);
  if (spec.prefix.size() + 1 + flowlog::kTimestampChars + spec.suffix.size() >
      flowlog::kMaxNameBytes) {
    in.error(path, "its file names (" + pattern + ") would be longer than " +
                       std::to_string(flowlog::kMaxNameBytes) +
                       " bytes; shorten \"prefix\" or \"suffix\"");
  }
  if (target.enabled) {
    const auto [it, inserted] =
        l.patterns.emplace(pattern, std::make_pair(target.name, spec.interval.count()));
    if (!inserted && it->second.second != spec.interval.count()) {
      in.error(path, "writes the same files (" + pattern + ") as targets." + it->second.first +
                         " but every " + std::to_string(spec.interval.count()) +
                         " s instead of every " + std::to_string(it->second.second) +
                         " s; give one of them another \"prefix\" or the same \"interval\"");
    }
  }
  target.settings = spec;
}

// One sink for both IP versions: a file lists IPv4 and IPv6 flows alike.
void bind(CtlabelTarget& target, const std::string& path, SinkBinder& binder, ConfigReader& in) {
  const LogSpec* spec = std::any_cast<LogSpec>(&target.settings);
  if (spec == nullptr) return;
  auto ref = binder.bind("log", std::any(*spec));
  if (!ref) {
    in.warn(path, ref.errors().front() + " (until then this target logs nothing)");
    return;
  }
  target.sinks[0] = ref.value();
  target.sinks[1] = ref.value();
  target.ttl_s = 0;
}

void describe(const CtlabelTarget& target, const RuleSet::Parts&, std::ostream& out) {
  const LogSpec* spec = std::any_cast<LogSpec>(&target.settings);
  if (spec == nullptr) return;
  out << "    files: " << flowlog::file_pattern(*spec) << " every " << spec->interval.count()
      << " s (UTC start of the interval; a file only for an interval with matches)\n"
      << "    read: jq -c '.flows[] | {action, app, hostname, src_ip, dst_ip, dst_port}' "
      << flowlog::file_glob(*spec) << "\n";
}

}  // namespace

// Registered in registry.cpp (extern: the table there links to it).
extern const TargetTypeOps kLogType =
    sink_type_ops("log", &read_globals, &read_defaults, &read_target, &describe, &bind);

}  // namespace ctlabeld::actions
