// SPDX-License-Identifier: GPL-3.0-or-later
// Netify's application tags, protocol tags and category names mapped to nDPI 4.2's, read from
// the shipped table (etc/ctlabeld/netify-names.tsv), and the load-time check of name literals.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/common/expected.hpp"

namespace ctlabeld::actions {

enum class NameKind : std::uint8_t { kApplication, kProtocol, kCategory };
std::string_view to_string(NameKind kind) noexcept;

struct NameMapping {
  NameKind kind = NameKind::kApplication;
  std::string netify;        // lowercase, applications without "netify."
  std::string ndpi;          // lowercase nDPI name
  std::string ndpi_display;  // as nDPI prints it ("AmazonVideo")
};

class NameTable {
 public:
  // Lines "<app|proto|category>\t<netify name>\t<nDPI name>"; '#' comments and blank lines.
  // Errors name file:line.
  static Expected<NameTable> load(const std::string& path);
  static Expected<NameTable> parse(std::string_view text, const std::string& display_name);

  [[nodiscard]] const NameMapping* find(NameKind kind, std::string_view lower_name) const noexcept;
  [[nodiscard]] const std::vector<NameMapping>& entries() const noexcept { return entries_; }
  [[nodiscard]] const std::string& source() const noexcept { return source_; }

 private:
  std::vector<NameMapping> entries_;  // sorted by (kind, netify)
  std::string source_;
};

// nDPI's own names (lowercase), supplied by the classify stage.
struct NdpiNames {
  std::vector<std::string> protocols;  // applications and protocols: one id space in nDPI
  std::vector<std::string> categories;
  [[nodiscard]] bool empty() const noexcept { return protocols.empty(); }
};

// The verdict of checking one name literal.
struct NameCheck {
  enum class Result : std::uint8_t { kKnown, kMapped, kUnknown } result = Result::kKnown;
  std::string name;     // what to match: the nDPI name (lowercase)
  std::string message;  // for kMapped / kUnknown: the warning text
};

NameCheck check_name(NameKind kind, std::string_view lower_name, const NdpiNames& ndpi,
                     const NameTable* table);

}  // namespace ctlabeld::actions
