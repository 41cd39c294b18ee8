// SPDX-License-Identifier: GPL-3.0-or-later
// The Netify -> nDPI name table and the name-literal check with its did-you-mean.
#include "ctlabeld/actions/names.hpp"

#include <algorithm>
#include <cctype>

#include "ctlabeld/actions/edit_distance.hpp"
#include "ctlabeld/actions/small_file.hpp"

namespace ctlabeld::actions {
namespace {

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool less(const NameMapping& a, const NameMapping& b) {
  return a.kind != b.kind ? a.kind < b.kind : a.netify < b.netify;
}

}  // namespace

std::string_view to_string(NameKind kind) noexcept {
  switch (kind) {
    case NameKind::kApplication: return "app";
    case NameKind::kProtocol: return "proto";
    case NameKind::kCategory: return "category";
  }
  return "?";
}

Expected<NameTable> NameTable::parse(std::string_view text, const std::string& display_name) {
  NameTable table;
  table.source_ = display_name;
  Errors errors;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    const std::string where = display_name + ":" + std::to_string(line_no) + ": ";
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = trim(line);
    if (line.empty()) continue;
    std::vector<std::string_view> fields;
    while (!line.empty()) {
      const std::size_t tab = line.find('\t');
      fields.push_back(trim(line.substr(0, tab)));
      line.remove_prefix(tab == std::string_view::npos ? line.size() : tab + 1);
    }
    if (fields.size() != 3 || fields[1].empty() || fields[2].empty()) {
      errors.push_back(where +
                       "expected three tab-separated fields: app|proto|category, the Netify "
                       "name, the nDPI name");
      continue;
    }
    NameMapping m;
    if (fields[0] == "app") {
      m.kind = NameKind::kApplication;
    } else if (fields[0] == "proto") {
      m.kind = NameKind::kProtocol;
    } else if (fields[0] == "category") {
      m.kind = NameKind::kCategory;
    } else {
      errors.push_back(where + "unknown kind '" + std::string(fields[0]) +
                       "'; use app, proto or category");
      continue;
    }
    m.netify = lowercase(fields[1]);
    if (m.kind == NameKind::kApplication && m.netify.rfind("netify.", 0) == 0) m.netify.erase(0, 7);
    m.ndpi_display = std::string(fields[2]);
    m.ndpi = lowercase(fields[2]);
    table.entries_.push_back(std::move(m));
  }
  std::sort(table.entries_.begin(), table.entries_.end(), less);
  for (std::size_t i = 1; i < table.entries_.size(); ++i) {
    const auto& a = table.entries_[i - 1];
    const auto& b = table.entries_[i];
    if (a.kind == b.kind && a.netify == b.netify) {
      errors.push_back(display_name + ": " + std::string(to_string(a.kind)) + " '" + a.netify +
                       "' is mapped twice; keep one line");
    }
  }
  if (!errors.empty()) return Expected<NameTable>::failure(std::move(errors));
  return table;
}

Expected<NameTable> NameTable::load(const std::string& path) {
  std::string text, why;
  if (!read_small_file(path, text, why)) {
    return Expected<NameTable>::failure(
        path + ": cannot read the Netify name table (" + why +
        "); set ctlabeld.names_file to its path, or \"\" to match names as written");
  }
  return parse(text, path);
}

const NameMapping* NameTable::find(NameKind kind, std::string_view lower_name) const noexcept {
  NameMapping key;
  key.kind = kind;
  key.netify.assign(lower_name);
  const auto it = std::lower_bound(entries_.begin(), entries_.end(), key, less);
  if (it == entries_.end() || it->kind != kind || it->netify != lower_name) return nullptr;
  return &*it;
}

NameCheck check_name(NameKind kind, std::string_view lower_name, const NdpiNames& ndpi,
                     const NameTable* table) {
  NameCheck out;
  out.name.assign(lower_name);
  const auto& known = kind == NameKind::kCategory ? ndpi.categories : ndpi.protocols;
  if (ndpi.empty() || contains(known, lower_name)) return out;
  const NameMapping* m = table != nullptr ? table->find(kind, lower_name) : nullptr;
  // An application tag that Netify also lists as a protocol (and the reverse) still maps.
  if (m == nullptr && table != nullptr && kind != NameKind::kCategory) {
    m = table->find(kind == NameKind::kApplication ? NameKind::kProtocol : NameKind::kApplication,
                    lower_name);
  }
  if (m != nullptr) {
    out.result = NameCheck::Result::kMapped;
    out.name = m->ndpi;
    // Appended piecewise: GCC 12's "'" + std::string(...) trips a false -Wrestrict (PR 105329).
    out.message.append(1, '\'')
        .append(lower_name)
        .append("' is Netify's name for nDPI's '")
        .append(m->ndpi_display)
        .append("': matched as that; write '")
        .append(m->ndpi_display)
        .append("' to silence this");
    return out;
  }
  out.result = NameCheck::Result::kUnknown;
  std::vector<std::string_view> candidates(known.begin(), known.end());
  const std::string hint = did_you_mean(lower_name, candidates);
  out.message = "nDPI 4.2 cannot detect " +
                std::string(kind == NameKind::kCategory ? "category '" : "'") +
                std::string(lower_name) + "': this comparison never matches" +
                (hint.empty() ? "; remove it or write a name nDPI 4.2 knows" : hint);
  return out;
}

}  // namespace ctlabeld::actions
