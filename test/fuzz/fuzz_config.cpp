// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: the actions-file loader on arbitrary bytes, with a fixed label map, and
// evaluation of any rule set that loads.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "ctlabeld/actions/config.hpp"

namespace {

using namespace ctlabeld;
using namespace ctlabeld::actions;

class FixedResolver final : public LabelResolver {
 public:
  std::optional<unsigned> bit_of(std::string_view name) const override {
    for (const auto& [n, b] : kLabels) {
      if (n == name) return b;
    }
    return std::nullopt;
  }
  std::string name_of(unsigned bit) const override {
    for (const auto& [n, b] : kLabels) {
      if (b == bit) return n;
    }
    return "";
  }
  std::vector<std::pair<std::string, unsigned>> all() const override {
    return {kLabels.begin(), kLabels.end()};
  }
  const std::string& source_path() const override { return path_; }

 private:
  inline static const std::map<std::string, unsigned> kLabels = {
      {"zoom", 0}, {"teams", 1}, {"a-zoom", 10}, {"p-tls", 12}, {"high", 126}};
  std::string path_ = "/etc/xtables/connlabel.conf";
};

Expected<std::unique_ptr<LabelResolver>> make_resolver(const std::string&, unsigned) {
  return std::unique_ptr<LabelResolver>(std::make_unique<FixedResolver>());
}

std::optional<unsigned> risk_bit(std::string_view name) {
  if (name == "Self-signed certificate") return 6;
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  auto loaded = load_config_text(json, "fuzz.json", &make_resolver, &risk_bit);
  if (!loaded.ok()) return 0;
  const RuleSet& rules = *loaded->rules;
  classify::Verdict verdict;
  verdict.app = "zoom";
  verdict.protocol = "tls";
  classify::FlowView flow;
  flow.tuple.ip_version = 4;
  parse_address("192.168.1.10", flow.tuple.src);
  parse_address("170.114.10.5", flow.tuple.dst);
  flow.verdict = &verdict;
  Evaluation e = rules.make_evaluation();
  rules.evaluate(flow, e);
  (void)rules.label_names(e.labels);
  (void)rules.summary();
  return 0;
}
