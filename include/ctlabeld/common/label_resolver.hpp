// SPDX-License-Identifier: GPL-3.0-or-later
// Label names to bits. The action stage validates targets against it; conntrack/ implements
// it over libnetfilter_conntrack's connlabel.conf map.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ctlabeld {

class LabelResolver {
 public:
  virtual ~LabelResolver() = default;
  // The bit for a label name, or nothing when connlabel.conf does not define it.
  [[nodiscard]] virtual std::optional<unsigned> bit_of(std::string_view name) const = 0;
  // The name for a bit, or "" when undefined.
  [[nodiscard]] virtual std::string name_of(unsigned bit) const = 0;
  // Every (name, bit) defined, in bit order.
  [[nodiscard]] virtual std::vector<std::pair<std::string, unsigned>> all() const = 0;
  // The connlabel.conf path actually read (for messages).
  [[nodiscard]] virtual const std::string& source_path() const = 0;
};

}  // namespace ctlabeld
