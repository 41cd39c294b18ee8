// SPDX-License-Identifier: GPL-3.0-or-later
// The shipped Netify -> nDPI name table: every nDPI name in it is one nDPI 4.2 really puts in a
// verdict (asked of the library, not a copied list), and the checks load it as the daemon does.
#include <catch2/catch.hpp>

#include <algorithm>

#include "ctlabeld/actions/names.hpp"
#include "ctlabeld/classify/classifier.hpp"

using namespace ctlabeld;

namespace {
actions::NdpiNames library_names() {
  auto known = classify::known_names("");
  REQUIRE(known.ok());
  actions::NdpiNames names;
  names.protocols = known->protocols;
  names.categories = known->categories;
  return names;
}
bool has(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}
}  // namespace

TEST_CASE("netify names: every entry resolves to a name nDPI 4.2 produces", "[classify][names]") {
  const actions::NdpiNames ndpi = library_names();
  REQUIRE(ndpi.protocols.size() > 200);  // nDPI 4.2 knows about 300 protocols
  REQUIRE(has(ndpi.protocols, "amazonvideo"));
  REQUIRE(has(ndpi.categories, "socialnetwork"));
  CHECK_FALSE(has(ndpi.categories, ""));  // nDPI's unnamed ids are no candidates
  CHECK_FALSE(has(ndpi.protocols, ""));
  auto table = actions::NameTable::load("etc/ctlabeld/netify-names.tsv");
  REQUIRE(table.ok());
  REQUIRE(table->entries().size() > 60);
  for (const auto& e : table->entries()) {
    INFO(std::string(actions::to_string(e.kind)) << " " << e.netify << " -> " << e.ndpi_display);
    const auto& known = e.kind == actions::NameKind::kCategory ? ndpi.categories : ndpi.protocols;
    CHECK(has(known, e.ndpi));
    // An entry whose Netify name already is an nDPI name would never be consulted.
    CHECK_FALSE(has(known, e.netify));
  }
}

TEST_CASE("netify names: the issue's examples map, unknown names warn", "[classify][names]") {
  const actions::NdpiNames ndpi = library_names();
  auto table = actions::NameTable::load("etc/ctlabeld/netify-names.tsv");
  REQUIRE(table.ok());
  struct Row {
    actions::NameKind kind;
    const char* name;
    actions::NameCheck::Result result;
    const char* matched;
  };
  using R = actions::NameCheck::Result;
  const Row rows[] = {
      {actions::NameKind::kApplication, "amazon-prime", R::kMapped, "amazonvideo"},
      {actions::NameKind::kApplication, "facebook-messenger", R::kMapped, "messenger"},
      {actions::NameKind::kProtocol, "doh", R::kMapped, "doh_dot"},
      {actions::NameKind::kProtocol, "http/s", R::kMapped, "tls"},
      {actions::NameKind::kCategory, "games", R::kMapped, "game"},
      {actions::NameKind::kCategory, "social-media", R::kMapped, "socialnetwork"},
      {actions::NameKind::kApplication, "zoom", R::kKnown, "zoom"},
      {actions::NameKind::kProtocol, "dns", R::kKnown, "dns"},
      {actions::NameKind::kCategory, "voip", R::kKnown, "voip"},
      {actions::NameKind::kApplication, "nordvpn", R::kUnknown, "nordvpn"},
      {actions::NameKind::kCategory, "gambling", R::kUnknown, "gambling"},
  };
  for (const auto& row : rows) {
    INFO(row.name);
    const auto check = actions::check_name(row.kind, row.name, ndpi, &table.value());
    CHECK(check.result == row.result);
    CHECK(check.name == row.matched);
  }
  CHECK(actions::check_name(actions::NameKind::kApplication, "amazon-prime", ndpi, &table.value())
            .message ==
        "'amazon-prime' is Netify's name for nDPI's 'AmazonVideo': matched as that; write "
        "'AmazonVideo' to silence this");
  CHECK(actions::check_name(actions::NameKind::kApplication, "nordvpn", ndpi, &table.value())
            .message ==
        "nDPI 4.2 cannot detect 'nordvpn': this comparison never matches; remove it or write a "
        "name nDPI 4.2 knows");
  CHECK(actions::check_name(actions::NameKind::kApplication, "whatsap", ndpi, &table.value())
            .message ==
        "nDPI 4.2 cannot detect 'whatsap': this comparison never matches; did you mean "
        "'whatsapp'?");
}
