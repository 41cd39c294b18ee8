// SPDX-License-Identifier: GPL-3.0-or-later
// connlabel.conf names to bits, read by our own parser the way nft reads the file.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/label_resolver.hpp"

namespace ctlabeld::conntrack {

// libnetfilter_conntrack 1.0.9's own map (nfct_labelmap) returns bit -1 for any name holding a
// character other than a letter, a digit or '-' (so "3 best_effort" cannot be used), while nft,
// which acts on the labels, accepts every name. ctlabeld follows nft: lines are "<bit> <name>"
// with the bit in decimal or 0x hex and the name any run of non-blank characters; blank lines and
// lines starting with '#' are skipped, and a '#' comment may follow the name.
class LabelMap final : public ctlabeld::LabelResolver {
 public:
  // Loads `path` through the file policy (regular file, size cap, owner and mode). When it does
  // not exist and /etc/connlabel.conf (nft's file) does, that file is used instead and *notice
  // gets one line saying so. Every line is checked: a malformed line, a bit above `max_bits` or
  // a name defined twice is an error naming file:line.
  [[nodiscard]] static Expected<std::unique_ptr<LabelMap>> load(const std::string& path,
                                                                unsigned max_bits,
                                                                std::string* notice = nullptr);
  // The same with an explicit fallback file (tests use temporary directories).
  [[nodiscard]] static Expected<std::unique_ptr<LabelMap>> load_with_fallback(
      const std::string& path, const std::string& fallback, unsigned max_bits,
      std::string* notice = nullptr);
  // Parses connlabel.conf text; `path` names it in messages.
  [[nodiscard]] static Expected<std::unique_ptr<LabelMap>> parse(std::string_view text,
                                                                 const std::string& path,
                                                                 unsigned max_bits);

  [[nodiscard]] std::optional<unsigned> bit_of(std::string_view name) const override;
  [[nodiscard]] std::string name_of(unsigned bit) const override;
  [[nodiscard]] std::vector<std::pair<std::string, unsigned>> all() const override;
  [[nodiscard]] const std::string& source_path() const override { return path_; }

 private:
  LabelMap(std::string path, std::vector<std::pair<std::string, unsigned>> entries)
      : path_(std::move(path)), entries_(std::move(entries)) {}

  std::string path_;
  std::vector<std::pair<std::string, unsigned>> entries_;  // in bit order
};

}  // namespace ctlabeld::conntrack
