// SPDX-License-Identifier: GPL-3.0-or-later
// The nDPI classifier: per-packet DPI until a final verdict, give-up on limits and expiry.
#include "ctlabeld/classify/classifier.hpp"

#include <algorithm>
#include <fcntl.h>
#include <ndpi/ndpi_api.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <spdlog/spdlog.h>

#include "ctlabeld/common/icmp.hpp"
#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/common/file_policy.hpp"
#include "huge_pages.hpp"

namespace ctlabeld::classify {

namespace {

constexpr std::uint8_t kTcpFin = 0x01;
constexpr std::uint8_t kTcpSyn = 0x02;
constexpr std::uint8_t kTcpRst = 0x04;
constexpr std::uint8_t kTcpAck = 0x10;

// nDPI says ndpi_init_detection_module must not run in parallel.
std::mutex& init_mutex() {
  static std::mutex m;
  return m;
}

std::string lower(const char* s) {
  std::string out = s == nullptr ? "" : s;
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Echo replies and TCP SYN-ACKs come from the responder: the initiator is the other side.
bool sent_by_responder(const FlowTuple& t, std::uint8_t tcp_flags) {
  if (t.ip_protocol == kProtoTcp) return (tcp_flags & (kTcpSyn | kTcpAck)) == (kTcpSyn | kTcpAck);
  return is_icmp(t.ip_protocol) && icmp_is_reply(t.ip_protocol, t.icmp_type);
}

TimeoutClass class_for(std::uint8_t ip_protocol) {
  if (ip_protocol == kProtoTcp) return TimeoutClass::kTcp;
  if (ip_protocol == kProtoUdp) return TimeoutClass::kUdp;
  return TimeoutClass::kOther;
}

std::uint64_t to_us(std::chrono::seconds s) {
  return static_cast<std::uint64_t>(s.count()) * 1000000ULL;
}

std::string normalise_risk(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '-' || c == '_') {
      out += '_';
    } else {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

struct RiskTable {
  std::vector<std::string> names;       // by bit
  std::vector<std::string> normalised;  // by bit
  RiskTable() {
    for (int i = 0; i < NDPI_MAX_RISK; ++i) {
      const char* n = ndpi_risk2str(static_cast<ndpi_risk_enum>(i));
      names.emplace_back(n == nullptr ? "" : n);
      normalised.push_back(normalise_risk(names.back()));
    }
  }
};

const RiskTable& risk_table() {
  static const RiskTable table;
  return table;
}

}  // namespace

// Lowercase names by nDPI id, built once per module so verdicts hand out string_views.
struct Classifier::Names {
  std::vector<std::string> protocols;           // by protocol id
  std::vector<std::uint16_t> default_category;  // by protocol id
  std::vector<std::string> categories;          // by category id
  std::vector<std::string> confidences;         // by ndpi_confidence_t

  explicit Names(ndpi_detection_module_struct* mod) {
    const unsigned n = ndpi_get_num_supported_protocols(mod);
    protocols.reserve(n);
    for (unsigned id = 0; id < n; ++id) {
      protocols.push_back(lower(ndpi_get_proto_name(mod, static_cast<u_int16_t>(id))));
      ndpi_protocol p{static_cast<u_int16_t>(id), static_cast<u_int16_t>(id),
                      NDPI_PROTOCOL_CATEGORY_UNSPECIFIED};
      default_category.push_back(static_cast<std::uint16_t>(ndpi_get_proto_category(mod, p)));
    }
    for (int c = 0; c < NDPI_PROTOCOL_NUM_CATEGORIES; ++c) {
      categories.push_back(
          lower(ndpi_category_get_name(mod, static_cast<ndpi_protocol_category_t>(c))));
    }
    for (int c = 0; c < NDPI_CONFIDENCE_MAX; ++c) {
      const char* name = ndpi_confidence_get_name(static_cast<ndpi_confidence_t>(c));
      confidences.emplace_back(name == nullptr ? "Unknown" : name);
    }
  }
  [[nodiscard]] std::string_view protocol(std::uint16_t id) const noexcept {
    return id < protocols.size() ? std::string_view(protocols[id]) : std::string_view("unknown");
  }
  [[nodiscard]] std::string_view category(std::uint16_t id) const noexcept {
    return id < categories.size() ? std::string_view(categories[id])
                                  : std::string_view("unspecified");
  }
  [[nodiscard]] std::string_view category_of_proto(std::uint16_t id) const noexcept {
    return id < default_category.size() ? category(default_category[id]) : category(0);
  }
};

// nDPI flow structs, carved from huge-page chunks and recycled through a free list: a -r run
// creates one per flow (688 bytes in 4.2), and more than 100 k can be classifying at once, so
// malloc's per-chunk header, its heap growth and 4 KiB page faults were a tenth of the time.
class Classifier::DpiPool {
 public:
  DpiPool() = default;
  DpiPool(const DpiPool&) = delete;
  DpiPool& operator=(const DpiPool&) = delete;

  // A zeroed struct, or nullptr when no memory is left.
  ndpi_flow_struct* acquire() noexcept {
    void* p = free_;
    if (p != nullptr) {
      std::memcpy(&free_, p, sizeof free_);
    } else {
      if (chunk_left_ == 0 && !grow()) return nullptr;
      p = chunk_next_;
      chunk_next_ += kSlot;
      --chunk_left_;
    }
    std::memset(p, 0, SIZEOF_FLOW_STRUCT);
    return static_cast<ndpi_flow_struct*>(p);
  }
  // Frees what nDPI allocated inside the struct (ndpi_flow_free = this + freeing the struct) and
  // keeps the struct for the next flow.
  void release(ndpi_flow_struct* flow) noexcept {
    ndpi_free_flow_data(flow);
    std::memcpy(flow, &free_, sizeof free_);
    free_ = flow;
  }

 private:
  // Packed (8-byte aligned, 688 bytes in 4.2): cache-line padding would cost 2% more memory.
  static constexpr std::size_t kSlot = (SIZEOF_FLOW_STRUCT + 7) / 8 * 8;
  bool grow() noexcept {
    HugeRegion region(kHugePage);
    if (!region) return false;
    chunk_next_ = region.data();
    chunk_left_ = region.size() / kSlot;
    try {
      chunks_.push_back(std::move(region));
    } catch (...) {
      chunk_left_ = 0;
      return false;
    }
    return true;
  }
  void* free_ = nullptr;  // intrusive list through each free struct's first 8 bytes
  std::byte* chunk_next_ = nullptr;
  std::size_t chunk_left_ = 0;
  std::vector<HugeRegion> chunks_;
};

const char* to_string(EndReason reason) noexcept {
  switch (reason) {
    case EndReason::kIdle: return "idle";
    case EndReason::kEvicted: return "evicted";
    case EndReason::kFlushed: return "flushed";
  }
  return "?";
}

void Classifier::ModuleDeleter::operator()(ndpi_detection_module_struct* m) const noexcept {
  ndpi_exit_detection_module(m);
}

namespace {

Expected<files::Fd> protos_copy(const std::string& path) {
  using Result = Expected<files::Fd>;
  auto text =
      files::read_all(path, files::privileged_policy("protos file", defaults::kMaxProtosFileBytes));
  if (!text) return Result::failure(text.errors());
  files::Fd fd(::memfd_create("ctlabeld-protos", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return Result::failure(path + ": memfd_create: " + std::strerror(errno));
  std::string_view rest = text.value();
  while (!rest.empty()) {
    const ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return Result::failure(path + ": copying the protos file: " + std::strerror(errno));
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  (void)::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  return fd;
}

}  // namespace

Expected<std::unique_ptr<Classifier>> Classifier::create(const ClassifierConfig& given) {
  ClassifierConfig config = given;
  if (!config.hash_secret) {
    // Never an unkeyed table: without a secret from the caller, draw one.
    auto secrets = random_hash_secrets();
    if (!secrets) return Expected<std::unique_ptr<Classifier>>::failure(secrets.errors());
    config.hash_secret = secrets->flows;
  }
  std::unique_ptr<ndpi_detection_module_struct, ModuleDeleter> mod;
  {
    std::lock_guard<std::mutex> lock(init_mutex());
    mod.reset(ndpi_init_detection_module(ndpi_no_prefs));
    if (!mod)
      return Expected<std::unique_ptr<Classifier>>::failure(
          "nDPI: ndpi_init_detection_module failed (out of memory?)");
    NDPI_PROTOCOL_BITMASK all;
    NDPI_BITMASK_SET_ALL(all);
    ndpi_set_protocol_detection_bitmask2(mod.get(), &all);
    if (!config.protos_file.empty()) {
      // Read once through the file policy (regular file, size cap, owner and mode), then handed
      // to nDPI, which wants a path, as a sealed in-memory copy: nDPI never opens the user's
      // path, so a FIFO or /dev/zero there cannot block or spin start-up.
      auto copy = protos_copy(config.protos_file);
      if (!copy) return Expected<std::unique_ptr<Classifier>>::failure(copy.errors());
      const std::string fd_path = "/proc/self/fd/" + std::to_string(copy->get());
      if (ndpi_load_protocols_file(mod.get(), fd_path.c_str()) < 0) {
        return Expected<std::unique_ptr<Classifier>>::failure(
            config.protos_file +
            ": nDPI could not load this protocols file; check that it exists, is readable "
            "and uses nDPI's format (e.g. host:\"example.com\"@Example or "
            "ip:192.0.2.0/24@Example)");
      }
    }
    ndpi_finalize_initialization(mod.get());
  }
  // The rules name applications by nDPI's names, so verdicts and categories stay nDPI's.
  std::vector<std::uint16_t> rule_app_ids;
  if (config.app_rules) {
    Errors errors;
    for (const auto& app : config.app_rules->apps()) {
      std::string name = app.name;
      const int id = ndpi_get_protocol_id(mod.get(), name.data());
      if (id <= 0) {
        errors.push_back(config.app_rules->source() + ": application '" + app.name +
                         "' is not an nDPI protocol name; use nDPI's name (e.g. zoom, teams)");
      }
      rule_app_ids.push_back(static_cast<std::uint16_t>(id < 0 ? 0 : id));
    }
    if (!errors.empty()) return Expected<std::unique_ptr<Classifier>>::failure(std::move(errors));
  }
  auto names = std::make_unique<Names>(mod.get());
  auto classifier =
      std::unique_ptr<Classifier>(new Classifier(config, std::move(mod), std::move(names)));
  if (config.app_rules) {
    classifier->rules_ = config.app_rules;
    classifier->rule_app_ids_ = std::move(rule_app_ids);
    const auto& apps = config.app_rules->apps();
    const bool learns =
        std::any_of(apps.begin(), apps.end(), [](const AppDefinition& a) { return a.learns(); });
    if (learns) {
      classifier->endpoints_ =
          config.endpoints ? config.endpoints : std::make_shared<EndpointTable>();
    }
  }
  return classifier;
}

Classifier::Classifier(const ClassifierConfig& config,
                       std::unique_ptr<ndpi_detection_module_struct, ModuleDeleter> mod,
                       std::unique_ptr<Names> names)
    : config_(config),
      mod_(std::move(mod)),
      names_(std::move(names)),
      dpi_pool_(std::make_unique<DpiPool>()),
      table_(config.max_flows, *config.hash_secret) {}

Classifier::~Classifier() {
  table_.for_each([this](FlowRecord& r) {
    if (r.dpi != nullptr) dpi_pool_->release(r.dpi);
    std::free(r.hostname);
    r.dpi = nullptr;
    r.hostname = nullptr;
  });
}

std::uint64_t Classifier::idle_limit_us(TimeoutClass cls) const noexcept {
  switch (cls) {
    case TimeoutClass::kTcp: return to_us(config_.tcp_idle);
    case TimeoutClass::kTcpClosed: return to_us(config_.tcp_closed_idle);
    case TimeoutClass::kUdp: return to_us(config_.udp_idle);
    case TimeoutClass::kOther: return to_us(config_.other_idle);
  }
  return to_us(config_.other_idle);
}

void Classifier::process(const capture::DecodedPacket& packet, std::uint32_t source,
                         FlowEvents& events) noexcept {
  bool sender_is_lo = false;
  const FlowKey key = make_key(packet.tuple, sender_is_lo);
  const std::uint64_t hash = table_.hash(key);
  FlowRecord* flow = table_.find(key, hash);
  if (flow == nullptr) {
    flow = &admit(packet, key, hash, sender_is_lo, source, events);
  } else {
    table_.touch(*flow);
  }
  if (packet.has_src_mac || packet.nflog) note_link(*flow, packet, sender_is_lo);
  ++stats_.packets;
  stats_.bytes += packet.wire_len;
  ++flow->packets;
  flow->bytes += packet.wire_len;
  if (packet.ts_us > flow->last_seen_us) flow->last_seen_us = packet.ts_us;
  if (packet.tuple.ip_protocol == kProtoTcp && (packet.tcp_flags & (kTcpFin | kTcpRst)) != 0) {
    table_.reclassify(*flow, TimeoutClass::kTcpClosed);
  }
  if (flow->app_flags & (kAppLearnLo | kAppLearnHi)) app_rules_refresh(*flow, packet.ts_us);
  if ((flow->state & kStateFinal) != 0) return;  // the fast path: nDPI is done with this flow
  inspect(*flow, packet, events);
}

FlowRecord& Classifier::admit(const capture::DecodedPacket& packet, const FlowKey& key,
                              std::uint64_t hash, bool sender_is_lo, std::uint32_t source,
                              FlowEvents& events) noexcept {
  FlowRecord& flow = table_.insert(key, hash, class_for(key.ip_protocol), [&](FlowRecord& victim) {
    release(victim, EndReason::kEvicted, events);
  });
  const FlowTuple& t = packet.tuple;
  const bool reversed = sent_by_responder(t, packet.tcp_flags);
  flow.initiator_is_lo = reversed ? !sender_is_lo : sender_is_lo;
  if (is_icmp(t.ip_protocol)) {
    flow.icmp_type = icmp_request_type(t.ip_protocol, t.icmp_type);
    flow.icmp_code = t.icmp_code;
  }
  flow.first_seen_us = packet.ts_us;
  flow.last_seen_us = packet.ts_us;
  flow.source = source;
  flow.dpi = dpi_pool_->acquire();
  if (flow.dpi == nullptr) {
    ++stats_.dpi_alloc_failures;
    flow.state = kStateFinal;  // nothing to classify with: the record stays "unknown"
  } else {
    if (++stats_.dpi_active > stats_.dpi_peak) stats_.dpi_peak = stats_.dpi_active;
    table_.dpi_link(flow);
  }
  return flow;
}

void Classifier::inspect(FlowRecord& flow, const capture::DecodedPacket& packet,
                         FlowEvents& events) noexcept {
  events.on_dpi_start(table_.id_of(flow));
  const ndpi_protocol p = ndpi_detection_process_packet(mod_.get(), flow.dpi, packet.l3,
                                                        packet.l3_len, packet.ts_us / 1000);
  ++stats_.dpi_packets;
  if (flow.dpi_packets < 255) ++flow.dpi_packets;
  const bool enough = flow.dpi_packets >= config_.max_dpi_packets;
  if (rules_) app_rules_packet(flow, packet);
  const bool unknown =
      p.app_protocol == NDPI_PROTOCOL_UNKNOWN && p.master_protocol == NDPI_PROTOCOL_UNKNOWN;
  if (enough || (!unknown && ndpi_extra_dissection_possible(mod_.get(), flow.dpi) == 0)) {
    finalize(flow, events);
    return;
  }
  // Known already but nDPI wants more (a certificate, a DNS answer), or named by the application
  // rules while nDPI goes on: announce early so the label goes on now, and again if it changes.
  std::uint16_t master = p.master_protocol;
  std::uint16_t app = p.app_protocol;
  if (rules_) app_rules_overlay(flow, master, app, flow.dpi->host_server_name, false);
  if (master == NDPI_PROTOCOL_UNKNOWN && app == NDPI_PROTOCOL_UNKNOWN) return;
  const bool changed =
      app != flow.app_proto || master != flow.master_proto || (flow.state & kStateVerdict) == 0;
  if (changed) {
    flow.app_proto = app;
    flow.master_proto = master;
    flow.category = flow.detected_by != static_cast<std::uint8_t>(DetectedBy::kDpi)
                        ? names_->default_category[app]
                        : static_cast<std::uint16_t>(p.category);
    flow.confidence = static_cast<std::uint8_t>(flow.dpi->confidence);
    flow.state |= kStateVerdict;
    const Verdict verdict = verdict_of(flow);
    events.on_verdict(view_of(flow, verdict), false);
  }
  if (rules_) app_rules_learn(flow, packet.ts_us);
}

void Classifier::finalize(FlowRecord& flow, FlowEvents& events) noexcept {
  ndpi_flow_struct* dpi = flow.dpi;
  if (dpi == nullptr) {
    // A flow that never had nDPI state (allocation failed) still gets its one final verdict.
    if ((flow.state & kStateAnnounced) == 0) announce_final(flow, events);
    return;
  }
  ndpi_protocol p{static_cast<u_int16_t>(dpi->detected_protocol_stack[1]),
                  static_cast<u_int16_t>(dpi->detected_protocol_stack[0]), dpi->category};
  if (p.app_protocol == NDPI_PROTOCOL_UNKNOWN) {
    u_int8_t guessed = 0;
    p = ndpi_detection_giveup(mod_.get(), dpi, 1, &guessed);
    ++stats_.giveups;
    if (guessed != 0) flow.state |= kStateGuessed;
  }
  flow.master_proto = p.master_protocol;
  flow.app_proto = p.app_protocol;
  // The application rules see nDPI's last answer (and its host name) before the state goes.
  if (rules_) {
    app_rules_overlay(flow, flow.master_proto, flow.app_proto, dpi->host_server_name, true);
    if (flow.detected_by != static_cast<std::uint8_t>(DetectedBy::kDpi)) {
      flow.state &= static_cast<std::uint8_t>(~kStateGuessed);
      p.category = static_cast<ndpi_protocol_category_t>(names_->default_category[flow.app_proto]);
      ++stats_.app_rule_verdicts;
    }
  }
  flow.category = static_cast<std::uint16_t>(p.category);
  flow.confidence = static_cast<std::uint8_t>(dpi->confidence);
  flow.risks = dpi->risk;
  if (flow.risks != 0) {
    u_int16_t client = 0;
    u_int16_t server = 0;
    flow.risk_score = ndpi_risk2score(flow.risks, &client, &server);
  }
  if (dpi->host_server_name[0] != '\0' && flow.hostname == nullptr) {
    flow.hostname = strndup(dpi->host_server_name, sizeof dpi->host_server_name);
  }
  dpi_pool_->release(dpi);
  flow.dpi = nullptr;
  table_.dpi_unlink(flow);
  --stats_.dpi_active;
  flow.state |= kStateFinal | kStateVerdict;
  ++stats_.final_verdicts;
  if (rules_) app_rules_learn(flow, flow.last_seen_us);
  app_rules_explain(flow);
  announce_final(flow, events);
}

void Classifier::announce_final(FlowRecord& flow, FlowEvents& events) noexcept {
  flow.state |= kStateAnnounced;
  const Verdict verdict = verdict_of(flow);
  events.on_verdict(view_of(flow, verdict), true);
}

void Classifier::release(FlowRecord& flow, EndReason reason, FlowEvents& events) noexcept {
  finalize(flow, events);
  const Verdict verdict = verdict_of(flow);
  events.on_end(view_of(flow, verdict), reason);
  std::free(flow.hostname);
  flow.hostname = nullptr;
}

void Classifier::end_flow(FlowRecord& flow, EndReason reason, FlowEvents& events) noexcept {
  release(flow, reason, events);
  table_.erase(flow);
}

void Classifier::expire(std::uint64_t now_us, FlowEvents& events) noexcept {
  for (std::size_t c = 0; c < kTimeoutClasses; ++c) {
    const auto cls = static_cast<TimeoutClass>(c);
    const std::uint64_t limit = idle_limit_us(cls);
    // Each class's LRU list is ordered by last activity: stop at the first live flow.
    for (FlowRecord* flow = table_.oldest(cls);
         flow != nullptr && now_us > flow->last_seen_us && now_us - flow->last_seen_us > limit;
         flow = table_.oldest(cls)) {
      end_flow(*flow, EndReason::kIdle, events);
      ++table_.stats().expired;
    }
  }
  // Flows still in nDPI but quiet: take its verdict now and free the state, so memory follows
  // the flows that are active, not every flow that stopped early without a FIN.
  const std::uint64_t dpi_limit = to_us(config_.dpi_idle);
  for (FlowRecord* flow = table_.dpi_oldest();
       flow != nullptr && now_us > flow->last_seen_us && now_us - flow->last_seen_us > dpi_limit;
       flow = table_.dpi_oldest()) {
    finalize(*flow, events);
    ++stats_.dpi_idle_giveups;
  }
}

void Classifier::flush(FlowEvents& events) noexcept {
  for (std::size_t c = 0; c < kTimeoutClasses; ++c) {
    const auto cls = static_cast<TimeoutClass>(c);
    while (FlowRecord* flow = table_.oldest(cls)) end_flow(*flow, EndReason::kFlushed, events);
  }
}

Verdict Classifier::verdict_of(const FlowRecord& flow) const noexcept {
  Verdict v;
  const std::uint16_t master = flow.master_proto;
  const std::uint16_t app = flow.app_proto;
  // "TLS.Zoom": protocol tls, app zoom. "DNS" alone: dns for both. Neither: unknown.
  const std::uint16_t app_id = app != NDPI_PROTOCOL_UNKNOWN ? app : master;
  const std::uint16_t proto_id = master != NDPI_PROTOCOL_UNKNOWN ? master : app;
  v.app = names_->protocol(app_id);
  v.protocol = names_->protocol(proto_id);
  v.category = names_->category(flow.category);
  v.app_category = names_->category_of_proto(app_id);
  v.protocol_category = names_->category_of_proto(proto_id);
  v.confidence = flow.confidence < names_->confidences.size()
                     ? std::string_view(names_->confidences[flow.confidence])
                     : std::string_view("Unknown");
  v.hostname = flow.hostname != nullptr ? std::string_view(flow.hostname)
               : flow.dpi != nullptr    ? std::string_view(flow.dpi->host_server_name)
                                        : std::string_view();
  v.risks = flow.risks;
  v.risk_score = flow.risk_score;
  v.guessed = (flow.state & kStateGuessed) != 0 ||
              flow.confidence == NDPI_CONFIDENCE_MATCH_BY_PORT ||
              flow.confidence == NDPI_CONFIDENCE_MATCH_BY_IP;
  const auto by = static_cast<DetectedBy>(flow.detected_by);
  if (by != DetectedBy::kDpi) {
    // The rules' evidence: a server network is an address match, the rest is payload.
    const auto conf =
        by == DetectedBy::kNetwork ? NDPI_CONFIDENCE_MATCH_BY_IP : NDPI_CONFIDENCE_DPI;
    v.confidence = names_->confidences[static_cast<std::size_t>(conf)];
    v.guessed = by == DetectedBy::kNetwork;
  }
  v.detected_by = by != DetectedBy::kDpi            ? to_string(by)
                  : app_id != NDPI_PROTOCOL_UNKNOWN ? "dpi"
                                                    : "none";
  v.complete = (flow.state & kStateFinal) != 0;
  return v;
}

// Each side's MAC as first seen (a packet's source MAC is its sender's; on Ethernet its
// destination MAC is the other side's next hop), and the initiator's in/out interfaces.
void Classifier::note_link(FlowRecord& flow, const capture::DecodedPacket& packet,
                           bool sender_is_lo) noexcept {
  const bool from_initiator = sender_is_lo == flow.initiator_is_lo;
  const std::uint8_t sender_bit = from_initiator ? kLinkInitiatorMac : kLinkResponderMac;
  const std::uint8_t receiver_bit = from_initiator ? kLinkResponderMac : kLinkInitiatorMac;
  Mac& sender = from_initiator ? flow.initiator_mac : flow.responder_mac;
  Mac& receiver = from_initiator ? flow.responder_mac : flow.initiator_mac;
  if (packet.has_src_mac && (flow.link_flags & sender_bit) == 0) {
    sender = packet.src_mac;
    flow.link_flags |= sender_bit;
  }
  if (packet.has_dst_mac && (flow.link_flags & receiver_bit) == 0) {
    receiver = packet.dst_mac;
    flow.link_flags |= receiver_bit;
  }
  if (packet.nflog) {
    flow.link_flags |= kLinkNflog;
    if ((flow.link_flags & kLinkInterfaces) == 0 &&
        (packet.in_ifindex != 0 || packet.out_ifindex != 0)) {
      // A reply arrives where the initiator's packets leave.
      flow.in_ifindex = from_initiator ? packet.in_ifindex : packet.out_ifindex;
      flow.out_ifindex = from_initiator ? packet.out_ifindex : packet.in_ifindex;
      flow.link_flags |= kLinkInterfaces;
    }
  }
}

FlowView Classifier::view_of(const FlowRecord& flow, const Verdict& verdict) const noexcept {
  FlowView view;
  view.id = table_.id_of(flow);
  const std::string_view iface = flow.source < config_.source_names.size()
                                     ? std::string_view(config_.source_names[flow.source])
                                     : std::string_view();
  view.src_mac = flow.initiator_mac;
  view.dst_mac = flow.responder_mac;
  view.has_src_mac = (flow.link_flags & kLinkInitiatorMac) != 0;
  view.has_dst_mac = (flow.link_flags & kLinkResponderMac) != 0;
  if ((flow.link_flags & kLinkNflog) == 0) {
    view.in_iface = iface;
  } else {
    view.in_iface = interface_name(flow.in_ifindex);
    view.out_iface = interface_name(flow.out_ifindex);
  }
  view.tuple = flow.initiator_tuple();
  view.verdict = &verdict;
  view.packets = flow.packets;
  view.bytes = flow.bytes;
  if (flow.source < config_.source_names.size()) view.iface = config_.source_names[flow.source];
  view.first_seen_us = flow.first_seen_us;
  view.last_seen_us = flow.last_seen_us;
  return view;
}

Expected<KnownNames> known_names(const std::string& protos_file) {
  ClassifierConfig config;
  config.protos_file = protos_file;
  config.max_flows = 16;  // the names are wanted, not a flow table
  auto made = Classifier::create(config);
  if (!made) return Expected<KnownNames>::failure(made.errors());
  return made.value()->known_names();
}

KnownNames Classifier::known_names() const {
  KnownNames out;
  for (const auto& p : names_->protocols) {
    if (!p.empty() &&
        std::find(out.protocols.begin(), out.protocols.end(), p) == out.protocols.end()) {
      out.protocols.push_back(p);
    }
  }
  for (const auto& c : names_->categories) {
    if (!c.empty()) out.categories.push_back(c);  // nDPI leaves ids 33-98 unnamed
  }
  return out;
}

std::optional<unsigned> risk_bit_by_name(std::string_view name) {
  const std::string wanted = normalise_risk(name);
  const RiskTable& t = risk_table();
  for (std::size_t i = 0; i < t.normalised.size(); ++i) {
    if (!t.normalised[i].empty() && t.normalised[i] == wanted) return static_cast<unsigned>(i);
  }
  return std::nullopt;
}

std::string_view risk_name(unsigned bit) {
  const RiskTable& t = risk_table();
  return bit < t.names.size() ? std::string_view(t.names[bit]) : std::string_view();
}

}  // namespace ctlabeld::classify
