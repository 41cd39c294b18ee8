// SPDX-License-Identifier: GPL-3.0-or-later
// nDPI over the flow table: runs DPI on a flow until its verdict is final, then frees nDPI's
// state and keeps only the compact record. Time comes from packet timestamps.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/capture/packet.hpp"
#include "ctlabeld/classify/app_rules.hpp"
#include "ctlabeld/classify/endpoint_table.hpp"
#include "ctlabeld/classify/flow_table.hpp"
#include "ctlabeld/classify/flow_view.hpp"
#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/common/expected.hpp"

struct ndpi_detection_module_struct;

namespace ctlabeld::classify {

struct ClassifierConfig {
  std::uint32_t max_dpi_packets = defaults::kMaxDpiPackets;
  std::size_t max_flows = defaults::kMaxFlows;
  std::chrono::seconds tcp_idle = defaults::kTcpIdle;
  std::chrono::seconds tcp_closed_idle = defaults::kTcpClosedIdle;
  std::chrono::seconds udp_idle = defaults::kUdpIdle;
  std::chrono::seconds other_idle = defaults::kOtherIdle;
  // nDPI gives its verdict on a flow that has been quiet this long while still being inspected,
  // and its state (about 1 KiB with nDPI's own allocations) is freed; the record stays.
  std::chrono::seconds dpi_idle = defaults::kDpiIdle;
  std::string protos_file;  // nDPI protos format; empty: none
  // Capture source names by source index: FlowView::iface.
  std::vector<std::string> source_names;
  // Keys the flow table's hash (HashSecrets::flows). Empty: create() draws a random one.
  std::optional<SipKey> hash_secret;
  // Application rules after nDPI (app_rules.hpp); null: none. Shared, immutable.
  std::shared_ptr<const AppRules> app_rules;
  // Learned endpoints, shared by every worker's classifier; null: the classifier makes its own
  // when the rules learn.
  std::shared_ptr<EndpointTable> endpoints;
};

// FlowRecord::app_flags bits (the application rules' own).
enum AppFlag : std::uint8_t {
  kAppLearnLo = 1,   // the flow teaches its key.lo endpoint: refresh it on every packet
  kAppLearnHi = 2,   // the same for key.hi
  kAppWhyMedia = 4,  // named by the zoom-media check
  kAppWhyP2p = 8,    // named by the zoom-p2p check
  kAppWhyStun = 16,  // named by the zoom-stun check (a STUN message)
};

// FlowRecord::state bits.
enum FlowState : std::uint8_t {
  kStateFinal = 1,      // nDPI is done; `dpi` is null
  kStateVerdict = 2,    // at least one verdict was announced
  kStateGuessed = 4,    // the verdict came from ndpi_detection_giveup's guess
  kStateAnnounced = 8,  // the final verdict was announced (on_verdict with final)
};

enum class EndReason : std::uint8_t { kIdle, kEvicted, kFlushed };
const char* to_string(EndReason reason) noexcept;

// Implemented by whoever consumes verdicts (the worker, tests). Every event carries a read-only
// view with the flow's stable identifier; consumers keep their own per-flow state by it.
class FlowEvents {
 public:
  virtual ~FlowEvents() = default;
  // The verdict is new or changed. `final`: nDPI is done with this flow (announced once).
  virtual void on_verdict(const FlowView& flow, bool final) = 0;
  // The flow leaves the table. Its final verdict was announced before.
  virtual void on_end(const FlowView& flow, EndReason reason) = 0;
  // A packet of `flow` is about to go to nDPI: the start of the deciding packet's work, for
  // label-latency measurement. Called per DPI packet, so keep it cheap.
  virtual void on_dpi_start(FlowId flow) noexcept { (void)flow; }
};

struct ClassifierStats {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::uint64_t dpi_packets = 0;  // packets handed to nDPI
  std::uint64_t final_verdicts = 0;
  std::uint64_t giveups = 0;           // verdicts through ndpi_detection_giveup
  std::uint64_t dpi_idle_giveups = 0;  // inspection ended because the flow was quiet for dpi_idle
  std::uint64_t dpi_alloc_failures = 0;
  std::uint64_t dpi_active = 0;         // flows holding nDPI state now
  std::uint64_t dpi_peak = 0;           // the most flows that held nDPI state at once
  std::uint64_t app_rule_verdicts = 0;  // final verdicts whose app came from the app rules
};

struct KnownNames;

class Classifier {
 public:
  static Expected<std::unique_ptr<Classifier>> create(const ClassifierConfig& config);
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  // One decoded packet. Throws nothing; never blocks.
  void process(const capture::DecodedPacket& packet, std::uint32_t source,
               FlowEvents& events) noexcept;
  // Ends flows idle longer than their class's timeout at packet time `now_us`.
  void expire(std::uint64_t now_us, FlowEvents& events) noexcept;
  // Ends every flow (at shutdown or end of input); undecided flows get a give-up verdict.
  void flush(FlowEvents& events) noexcept;

  // Calls fn(view) for every flow that has a verdict (after a rule reload, say).
  template <typename Fn>
  void for_each_verdict(Fn&& fn) {
    table_.for_each([&](const FlowRecord& flow) {
      if ((flow.state & kStateVerdict) == 0) return;
      const Verdict verdict = verdict_of(flow);
      fn(view_of(flow, verdict));
    });
  }

  // Calls fn(view, classified) for every live flow, with or without a verdict (`ctl flows`).
  template <typename Fn>
  void for_each_flow(Fn&& fn) {
    table_.for_each([&](const FlowRecord& flow) {
      const Verdict verdict = verdict_of(flow);
      fn(view_of(flow, verdict), (flow.state & kStateVerdict) != 0);
    });
  }

  [[nodiscard]] KnownNames known_names() const;

  [[nodiscard]] const ClassifierStats& stats() const noexcept { return stats_; }
  [[nodiscard]] const FlowTableStats& table_stats() const noexcept { return table_.stats(); }
  // The flow table, read-only (tests compare layouts).
  [[nodiscard]] const FlowTable& table() const noexcept { return table_; }
  [[nodiscard]] const ClassifierConfig& config() const noexcept { return config_; }

 private:
  struct ModuleDeleter {
    void operator()(ndpi_detection_module_struct* m) const noexcept;
  };
  struct Names;
  class DpiPool;
  Classifier(const ClassifierConfig& config,
             std::unique_ptr<ndpi_detection_module_struct, ModuleDeleter> mod,
             std::unique_ptr<Names> names);
  FlowRecord& admit(const capture::DecodedPacket& packet, const FlowKey& key, std::uint64_t hash,
                    bool sender_is_lo, std::uint32_t source, FlowEvents& events) noexcept;
  void inspect(FlowRecord& flow, const capture::DecodedPacket& packet, FlowEvents& events) noexcept;
  static void note_link(FlowRecord& flow, const capture::DecodedPacket& packet,
                        bool sender_is_lo) noexcept;
  void finalize(FlowRecord& flow, FlowEvents& events) noexcept;
  // Announces the end of a flow and frees what hangs off its record (not the record itself).
  void release(FlowRecord& flow, EndReason reason, FlowEvents& events) noexcept;
  void end_flow(FlowRecord& flow, EndReason reason, FlowEvents& events) noexcept;
  void announce_final(FlowRecord& flow, FlowEvents& events) noexcept;
  // The verdict of a record, with names from this classifier's table.
  [[nodiscard]] Verdict verdict_of(const FlowRecord& flow) const noexcept;
  // The read-only view handed to the next stage; `verdict` must outlive it.
  [[nodiscard]] FlowView view_of(const FlowRecord& flow, const Verdict& verdict) const noexcept;
  [[nodiscard]] std::uint64_t idle_limit_us(TimeoutClass cls) const noexcept;
  // The application rules (classify/app_layer.cpp). Per DPI packet: payload checks and the
  // first packet's endpoint lookup.
  void app_rules_packet(FlowRecord& flow, const capture::DecodedPacket& packet) noexcept;
  // Names the flow by the rules when nDPI's answer (master, app) is generic; `final`: nDPI is
  // done (networks then apply to unknown flows too, endpoints are looked up again).
  void app_rules_overlay(FlowRecord& flow, std::uint16_t& master, std::uint16_t& app,
                         std::string_view host, bool final) noexcept;
  // H4: a UDP flow of a learning application teaches its client endpoint.
  void app_rules_learn(FlowRecord& flow, std::uint64_t now_us) noexcept;
  void app_rules_refresh(const FlowRecord& flow, std::uint64_t now_us) noexcept;
  void app_rules_explain(const FlowRecord& flow) const;

  ClassifierConfig config_;
  std::unique_ptr<ndpi_detection_module_struct, ModuleDeleter> mod_;
  std::unique_ptr<Names> names_;
  std::unique_ptr<DpiPool> dpi_pool_;  // before table_: flows return their nDPI state to it
  FlowTable table_;
  ClassifierStats stats_;
  std::shared_ptr<const AppRules> rules_;     // null: no application rules
  std::shared_ptr<EndpointTable> endpoints_;  // null: no rule learns
  std::vector<std::uint16_t> rule_app_ids_;   // nDPI protocol id of each rules application
};

// An nDPI risk name as ndpi_risk2str spells it ("Self-signed Certificate", case-insensitive;
// spaces,
// '-' and '_' are interchangeable) to its bit in Verdict::risks.
std::optional<unsigned> risk_bit_by_name(std::string_view name);
// nDPI's name for a risk bit ("" if none).
std::string_view risk_name(unsigned bit);

// Every application/protocol and category name nDPI 4.2 can put in a verdict (lowercase, as
// Verdict holds them), with the protos file's own names: what criteria literals are checked
// against.
struct KnownNames {
  std::vector<std::string> protocols;
  std::vector<std::string> categories;
};
Expected<KnownNames> known_names(const std::string& protos_file);

}  // namespace ctlabeld::classify
