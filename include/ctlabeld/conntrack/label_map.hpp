// SPDX-License-Identifier: GPL-3.0-or-later
// connlabel.conf names to bits, through libnetfilter_conntrack's label map.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/label_resolver.hpp"

struct nfct_labelmap;

namespace ctlabeld::conntrack {

struct LabelMapDeleter {
  void operator()(nfct_labelmap* map) const noexcept;
};
using LabelMapPtr = std::unique_ptr<nfct_labelmap, LabelMapDeleter>;

class LabelMap final : public ctlabeld::LabelResolver {
 public:
  // Loads `path`. When it does not exist and /etc/connlabel.conf (nft's file) does, that file
  // is used instead and *notice gets one line saying so. Every line is checked: a malformed
  // line, a bit above `max_bits` or a name defined twice is an error naming file:line.
  [[nodiscard]] static Expected<std::unique_ptr<LabelMap>> load(const std::string& path,
                                                                unsigned max_bits,
                                                                std::string* notice = nullptr);
  // The same with an explicit fallback file (tests use temporary directories).
  [[nodiscard]] static Expected<std::unique_ptr<LabelMap>> load_with_fallback(
      const std::string& path, const std::string& fallback, unsigned max_bits,
      std::string* notice = nullptr);

  [[nodiscard]] std::optional<unsigned> bit_of(std::string_view name) const override;
  [[nodiscard]] std::string name_of(unsigned bit) const override;
  [[nodiscard]] std::vector<std::pair<std::string, unsigned>> all() const override;
  [[nodiscard]] const std::string& source_path() const override { return path_; }

 private:
  LabelMap(LabelMapPtr map, std::string path, std::vector<std::pair<std::string, unsigned>> entries)
      : map_(std::move(map)), path_(std::move(path)), entries_(std::move(entries)) {}

  LabelMapPtr map_;
  std::string path_;
  std::vector<std::pair<std::string, unsigned>> entries_;  // in bit order
};

}  // namespace ctlabeld::conntrack
