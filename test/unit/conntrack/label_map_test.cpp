// SPDX-License-Identifier: GPL-3.0-or-later
// connlabel.conf loading: good files, the /etc/connlabel.conf fallback, and every error form.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "ctlabeld/conntrack/label_map.hpp"

namespace fs = std::filesystem;
using ctlabeld::conntrack::LabelMap;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char name[] = "/tmp/ctlabeld-labelmap-XXXXXX";
    path = ::mkdtemp(name);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const auto file = path / name;
    std::ofstream(file) << text;
    return file.string();
  }
};

}  // namespace

TEST_CASE("a good connlabel.conf resolves names and bits both ways", "[conntrack][labelmap]") {
  TempDir dir;
  const auto file =
      dir.write("connlabel.conf", "# comment\n\n0 zoom\n  5\tforeign  \n127 last\n3 a-teams\n");
  std::string notice;
  auto map = LabelMap::load_with_fallback(file, (dir.path / "absent").string(), 127, &notice);
  REQUIRE(map.ok());
  CHECK(notice.empty());
  CHECK((*map)->source_path() == file);
  CHECK((*map)->bit_of("zoom") == 0u);
  CHECK((*map)->bit_of("foreign") == 5u);
  CHECK((*map)->bit_of("last") == 127u);
  CHECK((*map)->bit_of("a-teams") == 3u);
  CHECK_FALSE((*map)->bit_of("missing").has_value());
  CHECK((*map)->name_of(5) == "foreign");
  CHECK((*map)->name_of(6).empty());
  const auto all = (*map)->all();
  REQUIRE(all.size() == 4);
  CHECK(all[0] == std::make_pair(std::string("zoom"), 0u));
  CHECK(all[1] == std::make_pair(std::string("a-teams"), 3u));
  CHECK(all[3] == std::make_pair(std::string("last"), 127u));
}

TEST_CASE("a missing connlabel.conf falls back to nft's file and says so",
          "[conntrack][labelmap]") {
  TempDir dir;
  const auto fallback = dir.write("nft-connlabel.conf", "0 zoom\n");
  const auto missing = (dir.path / "xtables-connlabel.conf").string();
  std::string notice;
  auto map = LabelMap::load_with_fallback(missing, fallback, 127, &notice);
  REQUIRE(map.ok());
  CHECK((*map)->source_path() == fallback);
  CHECK((*map)->bit_of("zoom") == 0u);
  CHECK(notice.find(missing) != std::string::npos);
  CHECK(notice.find(fallback) != std::string::npos);
}

TEST_CASE("neither file present is one error naming both and the fix", "[conntrack][labelmap]") {
  TempDir dir;
  const auto missing = (dir.path / "a.conf").string();
  const auto fallback = (dir.path / "b.conf").string();
  auto map = LabelMap::load_with_fallback(missing, fallback, 127);
  REQUIRE_FALSE(map.ok());
  REQUIRE(map.errors().size() == 1);
  const auto& e = map.errors()[0];
  CHECK(e.find(missing) != std::string::npos);
  CHECK(e.find(fallback) != std::string::npos);
  CHECK(e.find("0 zoom") != std::string::npos);
}

TEST_CASE("connlabel.conf errors name file:line and what to change", "[conntrack][labelmap]") {
  struct Case {
    const char* text;
    unsigned max_bits;
    const char* expected;  // substring of the first error, after "<file>:"
  };
  const Case cases[] = {
      {"0 zoom\n9 teams\n", 7, "2: label 'teams' uses bit 9, above max_bits 7"},
      {"128 big\n", 127, "1: label 'big' uses bit 128, above max_bits 127"},
      {"zoom 0\n", 127, "1: expected '<bit> <name>' (for example '0 zoom'), found 'zoom 0'"},
      {"0\n", 127, "1: expected '<bit> <name>'"},
      {"0 zoom extra\n", 127, "1: expected '<bit> <name>'"},
      {"-1 neg\n", 127, "1: expected '<bit> <name>'"},
      {"0 zoom\n\n1 zoom\n", 127,
       "3: label 'zoom' is defined again with bit 1 (line 1 gives bit 0)"},
  };
  for (const auto& c : cases) {
    TempDir dir;
    const auto file = dir.write("connlabel.conf", c.text);
    auto map = LabelMap::load_with_fallback(file, "", c.max_bits);
    INFO(c.text);
    REQUIRE_FALSE(map.ok());
    CHECK(map.errors()[0].rfind(file + ":" + c.expected, 0) == 0);
  }
}

TEST_CASE("every bad line is reported at once", "[conntrack][labelmap]") {
  TempDir dir;
  const auto file = dir.write("connlabel.conf", "x y\n0 zoom\n200 big\nbad\n");
  auto map = LabelMap::load_with_fallback(file, "", 127);
  REQUIRE_FALSE(map.ok());
  REQUIRE(map.errors().size() == 3);
  CHECK(map.errors()[0].rfind(file + ":1:", 0) == 0);
  CHECK(map.errors()[1].rfind(file + ":3:", 0) == 0);
  CHECK(map.errors()[2].rfind(file + ":4:", 0) == 0);
}

TEST_CASE("the shipped etc/connlabel.conf defines zoom at bit 0", "[conntrack][labelmap]") {
  auto map = LabelMap::load_with_fallback("etc/connlabel.conf", "", 127);
  REQUIRE(map.ok());
  CHECK((*map)->bit_of("zoom") == 0u);
}

// nft reads names with '_' (and any other non-blank character); libnetfilter_conntrack 1.0.9's
// map returned bit -1 for them, so "3 best_effort" (a public firewall's own file) was refused.
TEST_CASE("connlabel.conf is read the way nft reads it", "[conntrack][labelmap]") {
  TempDir dir;
  const auto file = dir.write("connlabel.conf",
                              "# OpenWrt-style file\n"
                              "\n"
                              "   \n"
                              "\t# indented comment\n"
                              "0 zoom\n"
                              "3 best_effort\n"
                              "4 video-2\n"
                              "5 9lives\n"
                              "0x6 hex_bit\n"
                              "7 bulk # trailing comment\n"
                              "8 UPPER.case\n");
  auto map = LabelMap::load_with_fallback(file, "", 127);
  INFO((map.ok() ? std::string() : map.error_text()));
  REQUIRE(map.ok());
  CHECK((*map)->bit_of("best_effort") == 3u);
  CHECK((*map)->bit_of("video-2") == 4u);
  CHECK((*map)->bit_of("9lives") == 5u);
  CHECK((*map)->bit_of("hex_bit") == 6u);
  CHECK((*map)->bit_of("bulk") == 7u);
  CHECK((*map)->bit_of("UPPER.case") == 8u);
  CHECK_FALSE((*map)->bit_of("upper.case").has_value());  // names are case-sensitive, as in nft
  CHECK((*map)->name_of(3) == "best_effort");
  CHECK((*map)->all().size() == 7);
}

TEST_CASE("an empty connlabel.conf loads with no labels", "[conntrack][labelmap]") {
  TempDir dir;
  const auto file = dir.write("connlabel.conf", "");
  auto map = LabelMap::load_with_fallback(file, "", 127);
  REQUIRE(map.ok());
  CHECK((*map)->all().empty());
}

TEST_CASE("connlabel.conf goes through the file policy", "[conntrack][labelmap]") {
  TempDir dir;
  SECTION("writable by others: refused, like the actions file") {
    const auto file = dir.write("connlabel.conf", "0 zoom\n");
    REQUIRE(::chmod(file.c_str(), 0666) == 0);
    auto map = LabelMap::load_with_fallback(file, "", 127);
    REQUIRE_FALSE(map.ok());
    CHECK(map.errors().front() ==
          file +
              ": mode 0666 lets group and others write it, so they could change what ctlabeld "
              "(privileged) does; refusing the config. Fix: chmod go-w " +
              file);
  }
  SECTION("a directory is named as one") {
    auto map = LabelMap::load_with_fallback(dir.path.string(), "", 127);
    REQUIRE_FALSE(map.ok());
    CHECK(map.errors().front() == dir.path.string() +
                                      ": is a directory, not a file; give the path of the "
                                      "connlabel.conf itself");
  }
}
