// SPDX-License-Identifier: GPL-3.0-or-later
// connlabel.conf through libnetfilter_conntrack's nfct_labelmap, with our own line-by-line check
// so mistakes are reported with file:line (the library skips lines it cannot read).
#include "ctlabeld/conntrack/label_map.hpp"

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/common/labels.hpp"

namespace ctlabeld::conntrack {

void LabelMapDeleter::operator()(nfct_labelmap* map) const noexcept { nfct_labelmap_destroy(map); }

namespace {

using Entries = std::vector<std::pair<std::string, unsigned>>;

bool file_exists(const std::string& path) {
  std::ifstream in(path);
  return in.good();
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

// Checks every line; collects all errors so the user fixes the file in one go.
Expected<Entries> check_file(const std::string& path, unsigned max_bits) {
  std::ifstream in(path);
  if (!in) {
    return Expected<Entries>::failure(path +
                                      ": cannot read connlabel.conf: " + std::strerror(errno));
  }
  Entries entries;
  Errors errors;
  std::map<std::string, std::pair<unsigned, int>> seen;  // name -> (bit, line)
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    std::istringstream fields(line);
    std::string bit_text;
    std::string name;
    std::string extra;
    fields >> bit_text >> name >> extra;
    const bool numeric =
        !bit_text.empty() &&
        std::all_of(bit_text.begin(), bit_text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!numeric || name.empty() || !extra.empty() || bit_text.size() > 3) {
      errors.push_back(where + "expected '<bit> <name>' (for example '0 zoom'), found '" + line +
                       "'");
      continue;
    }
    const auto bit = static_cast<unsigned>(std::stoul(bit_text));
    if (bit > max_bits || bit > defaults::kMaxLabelBit) {
      errors.push_back(
          where + "label '" + name + "' uses bit " + std::to_string(bit) + ", above max_bits " +
          std::to_string(std::min<unsigned>(max_bits, defaults::kMaxLabelBit)) +
          "; use a lower bit or raise target_globals.ctlabel.max_bits (the kernel's limit is 127)");
      continue;
    }
    auto [it, inserted] = seen.emplace(name, std::make_pair(bit, line_no));
    if (!inserted) {
      if (it->second.first != bit) {
        errors.push_back(where + "label '" + name + "' is defined again with bit " +
                         std::to_string(bit) + " (line " + std::to_string(it->second.second) +
                         " gives bit " + std::to_string(it->second.first) +
                         "); keep one definition");
      }
      continue;
    }
    entries.emplace_back(name, bit);
  }
  if (!errors.empty()) return Expected<Entries>::failure(std::move(errors));
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.second < b.second; });
  return entries;
}

}  // namespace

Expected<std::unique_ptr<LabelMap>> LabelMap::load(const std::string& path, unsigned max_bits,
                                                   std::string* notice) {
  return load_with_fallback(path, defaults::kNftConnlabelConf, max_bits, notice);
}

Expected<std::unique_ptr<LabelMap>> LabelMap::load_with_fallback(const std::string& path,
                                                                 const std::string& fallback,
                                                                 unsigned max_bits,
                                                                 std::string* notice) {
  using Result = Expected<std::unique_ptr<LabelMap>>;
  std::string chosen = path;
  if (!file_exists(path)) {
    if (fallback.empty() || fallback == path || !file_exists(fallback)) {
      return Result::failure(
          path + ": connlabel.conf not found" +
          (fallback.empty() || fallback == path ? std::string() : " (nor " + fallback + ")") +
          "; create it with one '<bit> <name>' line per label (for example '0 zoom'), or point "
          "target_globals.ctlabel.connlabel_conf at the file that defines your labels");
    }
    chosen = fallback;
    if (notice != nullptr) {
      *notice = "connlabel.conf: " + path + " does not exist; using " + fallback +
                " (nft's label file) instead";
    }
  }
  auto entries = check_file(chosen, max_bits);
  if (!entries) return Result::failure(entries.errors());
  LabelMapPtr map(nfct_labelmap_new(chosen.c_str()));
  if (!map) {
    return Result::failure(
        chosen + ": libnetfilter_conntrack could not load the label map: " + std::strerror(errno));
  }
  // Our check and the library must agree, or names would resolve differently at run time.
  for (const auto& [name, bit] : entries.value()) {
    if (nfct_labelmap_get_bit(map.get(), name.c_str()) != static_cast<int>(bit)) {
      return Result::failure(chosen + ": label '" + name + "' resolves to bit " +
                             std::to_string(nfct_labelmap_get_bit(map.get(), name.c_str())) +
                             " in libnetfilter_conntrack, not " + std::to_string(bit) +
                             "; give every label its own bit and name");
    }
  }
  return std::unique_ptr<LabelMap>(
      new LabelMap(std::move(map), chosen, std::move(entries).value()));
}

std::optional<unsigned> LabelMap::bit_of(std::string_view name) const {
  const std::string key(name);
  const int bit = nfct_labelmap_get_bit(map_.get(), key.c_str());
  if (bit < 0) return std::nullopt;
  return static_cast<unsigned>(bit);
}

std::string LabelMap::name_of(unsigned bit) const {
  const char* name = nfct_labelmap_get_name(map_.get(), bit);
  return name != nullptr ? std::string(name) : std::string();
}

std::vector<std::pair<std::string, unsigned>> LabelMap::all() const { return entries_; }

}  // namespace ctlabeld::conntrack
