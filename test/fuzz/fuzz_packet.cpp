// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: the packet path from raw bytes (decode, flow table, nDPI) for every link type
// decode() supports, against one long-lived classifier with a tiny flow table.
// Input layout: see packet_input.hpp.
// The classifier (nDPI module, flow table) is built once; every input ends with flush(), so a
// crash reproduces from its one input, and LeakSanitizer's check after each input sees no flow
// state: the flow table and nDPI's flow structs live in mmap'd regions that LSan does not scan,
// so live hostnames and nDPI buffers would read as leaks. Eviction (16-flow table, up to 64
// frames per input), expiry (the clock-jump bit) and the flushed path all run within one input.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "ctlabeld/capture/packet.hpp"
#include "ctlabeld/classify/classifier.hpp"
#include "packet_input.hpp"

namespace {

using namespace ctlabeld;

constexpr std::size_t kMaxFramesPerInput = 64;
constexpr std::uint64_t kFrameGapUs = 1000;

// Touches everything a consumer reads, so ASan sees any dangling name or hostname.
class Events final : public classify::FlowEvents {
 public:
  void on_verdict(const classify::FlowView& flow, bool final) override {
    consume(flow);
    if (final) ++finals_;
  }
  void on_end(const classify::FlowView& flow, classify::EndReason reason) override {
    consume(flow);
    checksum_ += static_cast<std::size_t>(reason);
  }

 private:
  void consume(const classify::FlowView& view) {
    const classify::Verdict& verdict = *view.verdict;
    for (std::string_view s : {verdict.app, verdict.protocol, verdict.category,
                               verdict.app_category, verdict.protocol_category, verdict.confidence,
                               verdict.hostname, verdict.detected_by, view.iface}) {
      for (char c : s) checksum_ += static_cast<unsigned char>(c);
    }
    checksum_ += view.packets + view.tuple.src_port + view.tuple.dst_port;
  }
  std::size_t checksum_ = 0;
  std::size_t finals_ = 0;
};

classify::Classifier& classifier() {
  static std::unique_ptr<classify::Classifier> instance = [] {
    classify::ClassifierConfig config;
    config.max_flows = 16;  // small: most inputs with several flows evict
    config.max_dpi_packets = 8;
    config.hash_secret = hash_secrets_from_seed(0).flows;  // reproducible table layouts
    // The shipped application rules (run from the repository root): the payload checks and the
    // learned-endpoint table see every input too.
    if (auto rules = classify::AppRules::load("etc/ctlabeld/app_rules.conf")) {
      config.app_rules = rules.value();
    }
    auto created = classify::Classifier::create(config);
    if (!created) std::abort();
    return std::move(created.value());
  }();
  return *instance;
}

std::uint16_t load_be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::uint64_t clock_us = 1'700'000'000'000'000;
  static Events events;
  if (size < 1) return 0;
  classify::Classifier& c = classifier();
  const capture::LinkType link = fuzz::kFuzzLinks[(data[0] & 0x0f) % fuzz::kFuzzLinks.size()];
  const bool jump_clock = (data[0] & fuzz::kJumpClockBit) != 0;

  std::size_t off = 1;
  for (std::size_t frames = 0; off + 2 <= size && frames < kMaxFramesPerInput; ++frames) {
    std::size_t len = load_be16(data + off);
    off += 2;
    if (len > size - off) len = size - off;
    const auto caplen = static_cast<std::uint32_t>(len);
    clock_us += kFrameGapUs;
    capture::DecodedPacket packet;
    // wire_len above caplen, as with a snaplen-truncated capture.
    if (capture::decode(link, data + off, caplen, caplen + 4, clock_us, packet) ==
        capture::DecodeStatus::kOk) {
      c.process(packet, /*source=*/0, events);
    }
    off += len;
  }
  if (jump_clock) clock_us += std::chrono::microseconds(std::chrono::hours(24)).count();
  c.expire(clock_us, events);
  c.flush(events);
  return 0;
}
