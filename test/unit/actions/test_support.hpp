// SPDX-License-Identifier: GPL-3.0-or-later
// Test doubles for the actions tests: a label map, a connlabel.conf reader, a risk table and a
// builder for FlowViews.
#pragma once

#include <cctype>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "ctlabeld/actions/config.hpp"
#include "ctlabeld/classify/flow_view.hpp"
#include "ctlabeld/common/label_resolver.hpp"

namespace ctlabeld::actions::test {

// A LabelResolver over an in-memory map: the conntrack stage's real one reads the same file.
class MapResolver final : public LabelResolver {
 public:
  MapResolver(std::map<std::string, unsigned> labels, std::string path)
      : labels_(std::move(labels)), path_(std::move(path)) {}
  std::optional<unsigned> bit_of(std::string_view name) const override {
    const auto it = labels_.find(std::string(name));
    if (it == labels_.end()) return std::nullopt;
    return it->second;
  }
  std::string name_of(unsigned bit) const override {
    for (const auto& [n, b] : labels_) {
      if (b == bit) return n;
    }
    return "";
  }
  std::vector<std::pair<std::string, unsigned>> all() const override {
    std::vector<std::pair<std::string, unsigned>> out(labels_.begin(), labels_.end());
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.second < b.second; });
    return out;
  }
  const std::string& source_path() const override { return path_; }

 private:
  std::map<std::string, unsigned> labels_;
  std::string path_;
};

inline constexpr const char* kTestConnlabel = "test/data/config/connlabel.conf";

// Reads "<bit> <name>" lines. The system path /etc/xtables/connlabel.conf is served from the
// test file (and still reported under its own name) so the seed example loads unchanged.
inline ResolverFactory file_factory() {
  return [](const std::string& path, unsigned) -> Expected<std::unique_ptr<LabelResolver>> {
    const std::string real = path == "/etc/xtables/connlabel.conf" ? kTestConnlabel : path;
    std::ifstream in(real);
    if (!in) {
      return Expected<std::unique_ptr<LabelResolver>>::failure("cannot open " + path);
    }
    std::map<std::string, unsigned> labels;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      unsigned bit = 0;
      std::string name;
      if (fields >> bit >> name) labels.emplace(name, bit);
    }
    return std::unique_ptr<LabelResolver>(std::make_unique<MapResolver>(labels, path));
  };
}

inline ResolverFactory map_factory(std::map<std::string, unsigned> labels) {
  return [labels](const std::string& path, unsigned) -> Expected<std::unique_ptr<LabelResolver>> {
    return std::unique_ptr<LabelResolver>(std::make_unique<MapResolver>(labels, path));
  };
}

// A few nDPI 4.2 risk names with their enum values, compared case-insensitively as the
// classify stage does.
inline std::optional<unsigned> test_risk_bit(std::string_view name) {
  static const std::vector<std::pair<std::string, unsigned>> kRisks = {
      {"known protocol on non standard port", 5},
      {"self-signed certificate", 6},
      {"obsolete tls version (1.1 or older)", 7},
      {"possible exploit", 31},
  };
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [n, b] : kRisks) {
    if (n == lower) return b;
  }
  return std::nullopt;
}

inline RiskLookup risk_lookup() { return &test_risk_bit; }
inline CompileContext context() { return CompileContext{risk_lookup()}; }

// Owns a FlowView and its Verdict together.
struct TestFlow {
  classify::Verdict verdict;
  classify::FlowView view;
  std::string iface;

  TestFlow(const std::string& src, std::uint16_t sport, const std::string& dst, std::uint16_t dport,
           std::uint8_t proto) {
    view.tuple.ip_version = parse_address(src, view.tuple.src);
    parse_address(dst, view.tuple.dst);
    view.tuple.src_port = sport;
    view.tuple.dst_port = dport;
    view.tuple.ip_protocol = proto;
    view.verdict = &verdict;
  }
  TestFlow(const TestFlow& o) : verdict(o.verdict), view(o.view), iface(o.iface) { fix(); }
  TestFlow& operator=(const TestFlow&) = delete;
  void fix() {
    view.verdict = &verdict;
    view.iface = iface;
  }
  TestFlow& set_iface(std::string name) {
    iface = std::move(name);
    view.iface = iface;
    return *this;
  }
};

}  // namespace ctlabeld::actions::test
