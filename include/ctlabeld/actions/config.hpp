// SPDX-License-Identifier: GPL-3.0-or-later
// Loading the Netify-format actions file: JSON (RapidJSON), validation with every error at
// once, the "ctlabeld" daemon settings, and compilation to a RuleSet.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/actions/address_set.hpp"
#include "ctlabeld/actions/criteria.hpp"
#include "ctlabeld/actions/rule_set.hpp"
#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/label_resolver.hpp"
#include "ctlabeld/common/sink_writer.hpp"

namespace ctlabeld::actions {

// The one extra top-level key, "ctlabeld": { ... }; every member is optional.
struct DaemonSettings {
  std::vector<std::string> interfaces;  // "eth0", "nflog:5"
  // Interface roles for Netify's action "interface": "lan" / "wan".
  std::vector<std::string> lan_interfaces;
  std::vector<std::string> wan_interfaces;
  unsigned workers = 0;  // 0: one per core
  std::vector<std::string> local_networks = default_local_network_texts();
  // Rule files for the classifier. Unset: the installed default if it exists
  // (defaults::kProtosFile, defaults::kAppRulesFile); "": none.
  std::optional<std::string> protos_file;     // nDPI's protocols-file format
  std::optional<std::string> app_rules_file;  // application rules (classify/app_rules.hpp)
  std::size_t max_flows = defaults::kMaxFlows;
  std::uint32_t max_dpi_packets = defaults::kMaxDpiPackets;
  std::chrono::seconds tcp_idle{defaults::kTcpIdle};
  std::chrono::seconds udp_idle{defaults::kUdpIdle};
  std::chrono::seconds other_idle{defaults::kOtherIdle};
  std::chrono::seconds stats_interval{defaults::kStatsInterval};
  std::string stats_file;
  // The stats in Prometheus text format (node_exporter's textfile collector); "": none.
  std::string metrics_file;
  // The control socket (`ctlabeld ctl`); "none" turns it off. Its group ("": the daemon's).
  std::string control_socket = defaults::kControlSocket;
  std::string control_group;
  std::string log_level;  // "" keeps the command line's / default level
  std::string bpf_filter;
  bool promiscuous = false;
  int snaplen = defaults::kSnaplen;
  int buffer_bytes = defaults::kPcapBufferBytes;
  // Warnings (what Netify tolerates) become errors; --strict sets it too.
  bool strict = false;
  // Netify's address groups for @name literals; read only when a criteria uses one.
  std::string address_groups = defaults::kAddressGroupsFile;
  // Netify -> nDPI 4.2 name table; "" for none.
  std::string names_file = defaults::kNamesFile;
};

// What the caller adds to the file: --strict, and nDPI's own names for the name checks.
struct LoadOptions {
  bool strict = false;
  // The lowercase names nDPI 4.2 can produce, given the protos file the config names (its
  // custom names count too). Unset, or returning no names: the name checks are skipped (tests of
  // other things, the fuzzer).
  std::function<NdpiNames(const std::optional<std::string>& protos_file)> ndpi_names;
  // Where sink targets (nftset, ipset, log) are attached: the daemon's writers. Null: a dry
  // binder that touches nothing (--check, tests): every sink binds.
  SinkBinder* sinks = nullptr;
};

struct LoadedConfig {
  std::shared_ptr<const RuleSet> rules;
  DaemonSettings settings;
  std::string connlabel_conf;  // target_globals.ctlabel.connlabel_conf
  unsigned max_bits = defaults::kMaxLabelBit;
  std::shared_ptr<const LabelResolver> labels;
  bool reprocess_flows = true;  // Netify v5: false = a reload applies to new flows only
  // One line each, "<file>: <json.path>: warning: ... ; <fix>"; empty under strict (they are
  // errors then).
  std::vector<std::string> warnings;
  // For --check: each Netify name mapped to nDPI's ("actions.x.criteria: 'netify.amazon-prime'
  // -> 'amazonvideo'").
  std::vector<std::string> name_mappings;
};

// Builds the label map for target_globals.ctlabel.connlabel_conf and max_bits; the conntrack
// stage supplies the real one, tests a map.
using ResolverFactory = std::function<Expected<std::unique_ptr<LabelResolver>>(
    const std::string& connlabel_conf_path, unsigned max_bits)>;

// Messages: "<file>:<line>:<col>: JSON syntax error: ..." for syntax, "<file>: <json.path>: ..."
// for everything else, all of them at once.
Expected<LoadedConfig> load_config_file(const std::string& path, const ResolverFactory& resolver,
                                        const RiskLookup& risk_bit,
                                        const LoadOptions& options = {});
Expected<LoadedConfig> load_config_text(std::string_view json, const std::string& display_name,
                                        const ResolverFactory& resolver, const RiskLookup& risk_bit,
                                        const LoadOptions& options = {});

// Byte offset -> 1-based line and column, for RapidJSON's error offsets.
void offset_to_line_col(std::string_view text, std::size_t offset, std::size_t& line,
                        std::size_t& col);

}  // namespace ctlabeld::actions
