// SPDX-License-Identifier: GPL-3.0-or-later
// Writes the fuzz_packet seed corpus from capture files: runs of consecutive frames in the
// target's input format, plus the same IP packets re-framed for every other link type (the
// shared captures are nearly all Ethernet). Seeds go to a build directory, never the repo.
// Usage: fuzz_packet_seeds OUT_DIR FILE...   (prints how many seeds it wrote)
#include <pcap/pcap.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "packet_input.hpp"
#include "../unit/capture/frame_builder.hpp"

namespace {

using namespace ctlabeld;
using Bytes = std::vector<std::uint8_t>;
using capture::LinkType;
using capture::test::put16;
using capture::test::put16_host;
using capture::test::put32;
using capture::test::put32_host;

constexpr std::size_t kFramesPerSeed = 4;
constexpr std::size_t kSeedsPerFile = 48;
constexpr std::size_t kMaxFrame = 1600;  // the fuzzer's -max_len must cover a few of these

struct PcapCloser {
  void operator()(pcap_t* p) const noexcept { pcap_close(p); }
};

// The IP packet inside an untagged Ethernet frame, or empty.
Bytes ip_of_ethernet(const Bytes& frame, bool& v6) {
  if (frame.size() < 15) return {};
  const unsigned type = (unsigned{frame[12]} << 8) | frame[13];
  if (type != 0x0800 && type != 0x86dd) return {};
  v6 = type == 0x86dd;
  return Bytes(frame.begin() + 14, frame.end());
}

// `ip` framed as `link` would carry it (as the decoder's unit tests build them).
Bytes reframe(LinkType link, const Bytes& ip, bool v6) {
  Bytes b;
  const std::uint16_t ethertype = v6 ? 0x86dd : 0x0800;
  switch (link) {
    case LinkType::kNull: put32_host(b, v6 ? 30u : 2u); break;
    case LinkType::kLoop: put32(b, v6 ? 24u : 2u); break;
    case LinkType::kPpp:
    case LinkType::kPppSerial:
      b = {0xff, 0x03};
      put16(b, v6 ? 0x0057 : 0x0021);
      break;
    case LinkType::kCHdlc:
      b = {0x0f, 0x00};
      put16(b, ethertype);
      break;
    case LinkType::kLinuxSll: b = capture::test::sll(ethertype); break;
    case LinkType::kLinuxSll2: b = capture::test::sll2(ethertype); break;
    case LinkType::kNflog: {
      b = capture::test::nflog_header(v6 ? 10 : 2);
      Bytes hw_proto;
      put16(hw_proto, ethertype);
      const Bytes tlv1 = capture::test::nflog_tlv(1, hw_proto);  // NFULA_PACKET_HDR (roughly)
      const Bytes tlv9 = capture::test::nflog_tlv(9, ip);        // NFULA_PAYLOAD
      b.insert(b.end(), tlv1.begin(), tlv1.end());
      b.insert(b.end(), tlv9.begin(), tlv9.end());
      return b;
    }
    case LinkType::kIpv4:
      if (v6) return {};
      break;
    case LinkType::kIpv6:
      if (!v6) return {};
      break;
    default: break;  // raw: the IP packet itself
  }
  b.insert(b.end(), ip.begin(), ip.end());
  return b;
}

class SeedWriter {
 public:
  explicit SeedWriter(std::filesystem::path dir) : dir_(std::move(dir)) {}
  void write(std::uint8_t selector, const std::vector<Bytes>& frames) {
    if (frames.empty()) return;
    Bytes seed{selector};
    for (const Bytes& f : frames) {
      put16(seed, static_cast<std::uint32_t>(f.size()));
      seed.insert(seed.end(), f.begin(), f.end());
    }
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a: identical seeds collapse to one file
    for (auto byte : seed) h = (h ^ byte) * 1099511628211ull;
    char name[32];
    std::snprintf(name, sizeof name, "p%016llx", static_cast<unsigned long long>(h));
    std::ofstream(dir_ / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(seed.data()),
               static_cast<std::streamsize>(seed.size()));
    ++written_;
  }
  [[nodiscard]] std::size_t written() const { return written_; }

 private:
  std::filesystem::path dir_;
  std::size_t written_ = 0;
};

bool extract(const char* file, SeedWriter& out) {
  char err[PCAP_ERRBUF_SIZE] = {};
  std::unique_ptr<pcap_t, PcapCloser> p(pcap_open_offline(file, err));
  if (!p) {
    std::fprintf(stderr, "fuzz_packet_seeds: %s: %s (skipped)\n", file, err);
    return false;
  }
  const auto link = static_cast<LinkType>(pcap_datalink(p.get()));
  const auto selector = fuzz::link_selector(link);
  if (!selector) return true;  // a link type decode() does not take: nothing to seed
  std::vector<Bytes> run;
  std::size_t seeds = 0;
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  while (seeds < kSeedsPerFile && pcap_next_ex(p.get(), &hdr, &data) == 1) {
    run.emplace_back(data, data + std::min<std::size_t>(hdr->caplen, kMaxFrame));
    if (run.size() < kFramesPerSeed) continue;
    out.write(*selector, run);
    if (link == LinkType::kEthernet) {
      // Each seed also appears under one other link type, in rotation.
      const auto other = fuzz::kFuzzLinks[1 + seeds % (fuzz::kFuzzLinks.size() - 2)];
      std::vector<Bytes> framed;
      for (const Bytes& f : run) {
        bool v6 = false;
        const Bytes ip = ip_of_ethernet(f, v6);
        if (ip.empty()) continue;
        Bytes g = reframe(other, ip, v6);
        if (!g.empty()) framed.push_back(std::move(g));
      }
      out.write(*fuzz::link_selector(other), framed);
    }
    run.clear();
    ++seeds;
  }
  if (!run.empty()) out.write(*selector, run);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s OUT_DIR CAPTURE...\n", argv[0]);
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(argv[1], ec);
  if (ec) {
    std::fprintf(stderr, "fuzz_packet_seeds: cannot create %s: %s\n", argv[1],
                 ec.message().c_str());
    return 1;
  }
  SeedWriter out(argv[1]);
  int opened = 0;
  for (int i = 2; i < argc; ++i) opened += extract(argv[i], out) ? 1 : 0;
  std::printf("fuzz_packet_seeds: %zu seeds from %d capture(s) in %s\n", out.written(), opened,
              argv[1]);
  return opened > 0 ? 0 : 1;
}
