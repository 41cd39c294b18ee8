// SPDX-License-Identifier: GPL-3.0-or-later
// connlabel.conf: our own line parser (nft's rules for names, comments and blank lines), read
// through the file policy, with every mistake reported as file:line.
#include "ctlabeld/conntrack/label_map.hpp"

#include <algorithm>
#include <map>

#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/common/file_policy.hpp"

namespace ctlabeld::conntrack {

namespace {

using Entries = std::vector<std::pair<std::string, unsigned>>;

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && blank(text.back())) text.remove_suffix(1);
  return text;
}

// The next run of non-blank characters, removed from `text`.
std::string_view next_word(std::string_view& text) {
  text = trim(text);
  std::size_t n = 0;
  while (n < text.size() && !blank(text[n])) ++n;
  const std::string_view word = text.substr(0, n);
  text.remove_prefix(n);
  return word;
}

// Decimal or 0x hex, as nft reads it; nothing when it is not a number or is absurdly large.
std::optional<unsigned> parse_bit(std::string_view text) {
  unsigned base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty() || text.size() > 8) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    unsigned digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      digit = static_cast<unsigned>(c - 'a' + 10);
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      digit = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    value = value * base + digit;
  }
  return value;
}

}  // namespace

Expected<std::unique_ptr<LabelMap>> LabelMap::parse(std::string_view text, const std::string& path,
                                                    unsigned max_bits) {
  using Result = Expected<std::unique_ptr<LabelMap>>;
  Entries entries;
  Errors errors;
  std::map<std::string, std::pair<unsigned, int>, std::less<>> seen;  // name -> (bit, line)
  int line_no = 0;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    std::string_view raw = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    ++line_no;
    const std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    std::string_view rest = line;
    const std::string_view bit_text = next_word(rest);
    const std::string_view name = next_word(rest);
    rest = trim(rest);
    const auto bit = parse_bit(bit_text);
    if (!bit || name.empty() || name.front() == '#' || (!rest.empty() && rest.front() != '#')) {
      errors.push_back(where + "expected '<bit> <name>' (for example '0 zoom'), found '" +
                       std::string(line) + "'");
      continue;
    }
    if (*bit > max_bits || *bit > defaults::kMaxLabelBit) {
      errors.push_back(
          where + "label '" + std::string(name) + "' uses bit " + std::to_string(*bit) +
          ", above max_bits " +
          std::to_string(std::min<unsigned>(max_bits, defaults::kMaxLabelBit)) +
          "; use a lower bit or raise target_globals.ctlabel.max_bits (the kernel's limit is 127)");
      continue;
    }
    auto [it, inserted] = seen.emplace(std::string(name), std::make_pair(*bit, line_no));
    if (!inserted) {
      if (it->second.first != *bit) {
        errors.push_back(where + "label '" + std::string(name) + "' is defined again with bit " +
                         std::to_string(*bit) + " (line " + std::to_string(it->second.second) +
                         " gives bit " + std::to_string(it->second.first) +
                         "); keep one definition");
      }
      continue;
    }
    entries.emplace_back(std::string(name), *bit);
  }
  if (!errors.empty()) return Result::failure(std::move(errors));
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.second < b.second; });
  return std::unique_ptr<LabelMap>(new LabelMap(path, std::move(entries)));
}

Expected<std::unique_ptr<LabelMap>> LabelMap::load(const std::string& path, unsigned max_bits,
                                                   std::string* notice) {
  return load_with_fallback(path, defaults::kNftConnlabelConf, max_bits, notice);
}

Expected<std::unique_ptr<LabelMap>> LabelMap::load_with_fallback(const std::string& path,
                                                                 const std::string& fallback,
                                                                 unsigned max_bits,
                                                                 std::string* notice) {
  using Result = Expected<std::unique_ptr<LabelMap>>;
  // connlabel.conf decides what every bit means: the same policy as the actions file.
  files::ReadPolicy policy;
  policy.what = "connlabel.conf";
  policy.max_bytes = defaults::kMaxConnlabelBytes;
  policy.privileged = true;
  bool missing = false;
  auto text = files::read_all(path, policy, &missing);
  std::string chosen = path;
  if (!text && missing) {
    bool fallback_missing = true;
    const bool try_fallback = !fallback.empty() && fallback != path;
    if (try_fallback) {
      auto other = files::read_all(fallback, policy, &fallback_missing);
      if (other || !fallback_missing) {
        if (!other) return Result::failure(other.errors());
        text = std::move(other);
        chosen = fallback;
        if (notice != nullptr) {
          *notice = "connlabel.conf: " + path + " does not exist; using " + fallback +
                    " (nft's label file) instead";
        }
      }
    }
    if (fallback_missing) {
      return Result::failure(
          path + ": connlabel.conf not found" +
          (try_fallback ? " (nor " + fallback + ")" : std::string()) +
          "; create it with one '<bit> <name>' line per label (for example '0 zoom'), or point "
          "target_globals.ctlabel.connlabel_conf at the file that defines your labels");
    }
  }
  if (!text) return Result::failure(text.errors());
  return parse(text.value(), chosen, max_bits);
}

std::optional<unsigned> LabelMap::bit_of(std::string_view name) const {
  for (const auto& [n, bit] : entries_) {
    if (n == name) return bit;
  }
  return std::nullopt;
}

std::string LabelMap::name_of(unsigned bit) const {
  for (const auto& [n, b] : entries_) {
    if (b == bit) return n;
  }
  return {};
}

std::vector<std::pair<std::string, unsigned>> LabelMap::all() const { return entries_; }

}  // namespace ctlabeld::conntrack
