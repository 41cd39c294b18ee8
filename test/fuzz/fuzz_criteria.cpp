// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: the criteria compiler on arbitrary text, then evaluation of whatever
// compiles against a few flows (v4/v6, local/remote, with and without a verdict).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ctlabeld/actions/criteria.hpp"

namespace {

using namespace ctlabeld;
using namespace ctlabeld::actions;

std::optional<unsigned> risk_bit(std::string_view name) {
  if (name == "Self-signed certificate") return 6;
  if (name == "Possible Exploit") return 31;
  return std::nullopt;
}

struct Flows {
  classify::Verdict verdict;
  classify::FlowView v4, v6, bare;
  Flows() {
    verdict.app = "zoom";
    verdict.protocol = "tls";
    verdict.category = "video";
    verdict.hostname = "us04web.zoom.us";
    verdict.risks = 1u << 6;
    v4.tuple.ip_version = 4;
    v4.tuple.ip_protocol = 6;
    parse_address("192.168.1.10", v4.tuple.src);
    parse_address("170.114.10.5", v4.tuple.dst);
    v4.tuple.src_port = 50000;
    v4.tuple.dst_port = 443;
    v4.verdict = &verdict;
    v4.iface = "eth0";
    v6 = v4;
    v6.tuple.ip_version = 6;
    parse_address("2001:db8::1", v6.tuple.src);
    parse_address("fd00::1", v6.tuple.dst);
    bare.tuple.ip_version = 4;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Flows flows;
  static const LocalNetworks local = default_local_networks();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto compiled = compile_criteria(text, "fuzz", CompileContext{&risk_bit});
  if (compiled.ok()) {
    (void)compiled->matches(flows.v4, local);
    (void)compiled->matches(flows.v6, local);
    (void)compiled->matches(flows.bare, local);
  } else if (compiled.errors().empty() || compiled.errors()[0].rfind("fuzz:", 0) != 0) {
    __builtin_trap();  // every error must name where it happened
  }
  return 0;
}
