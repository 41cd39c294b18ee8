// SPDX-License-Identifier: GPL-3.0-or-later
// The Prometheus text format: names, escaping, number syntax; and the atomic file write.
#include "ctlabeld/control/prometheus.hpp"

#include "ctlabeld/common/file_policy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

namespace ctlabeld::control {

namespace {

bool valid_name(const std::string& s, bool allow_colon) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string escape(const std::string& s, bool quote) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (quote && c == '"')
      out += "\\\"";
    else
      out += c;
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  // Whole numbers (every counter) without an exponent; others in the shortest exact form.
  if (v == std::trunc(v) && std::fabs(v) < 1e15) {
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
    return std::string(buf, p);
  }
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, p);
}

}  // namespace

std::string exposed_name(const MetricFamily& f) {
  std::string name = "ctlabeld_" + f.name;
  if (!f.unit.empty() && !ends_with(name, "_" + f.unit)) name += "_" + f.unit;
  if (f.type == MetricType::kCounter && !ends_with(name, "_total")) name += "_total";
  return name;
}

Expected<std::string> format_prometheus(const std::vector<MetricFamily>& families) {
  Errors errors;
  std::set<std::string> names;
  std::string out;
  for (const auto& f : families) {
    const std::string name = exposed_name(f);
    if (!valid_name(f.name, false) || (!f.unit.empty() && !valid_name(f.unit, false))) {
      errors.push_back("metric '" + f.name + "' (unit '" + f.unit +
                       "'): names use letters, digits and '_', not starting with a digit");
      continue;
    }
    if (!names.insert(name).second) {
      errors.push_back("metric " + name + " is declared twice");
      continue;
    }
    out += "# HELP " + name + " " + escape(f.help, false) + "\n";
    out += "# TYPE " + name + (f.type == MetricType::kCounter ? " counter\n" : " gauge\n");
    std::set<std::string> label_sets;
    for (const auto& s : f.samples) {
      std::string labels;
      std::set<std::string> label_names;
      for (const auto& [k, v] : s.labels) {
        if (!valid_name(k, false) || k.rfind("__", 0) == 0) {
          errors.push_back("metric " + name + ": label name '" + k +
                           "' is not valid (letters, digits, '_'; not starting with '__')");
        } else if (!label_names.insert(k).second) {
          errors.push_back("metric " + name + ": label '" + k + "' appears twice in one sample");
        }
        labels += labels.empty() ? "{" : ",";
        labels += k + "=\"" + escape(v, true) + "\"";
      }
      if (!labels.empty()) labels += "}";
      if (!label_sets.insert(labels).second) {
        errors.push_back("metric " + name + ": two samples with the labels " +
                         (labels.empty() ? std::string("{}") : labels));
      }
      out += name + labels + " " + number(s.value) + "\n";
    }
  }
  if (!errors.empty()) return Expected<std::string>::failure(std::move(errors));
  return out;
}

Status write_text_file_atomically(const std::string& path, const std::string& text,
                                  const std::string& what) {
  // The one file policy (common/file_policy): a random O_EXCL temporary name in the file's
  // directory, never a link followed, fsync, rename.
  return files::write_atomic(path, text, what.c_str());
}

}  // namespace ctlabeld::control
