// SPDX-License-Identifier: GPL-3.0-or-later
// The "limit" for bench/run.sh: read a capture with libpcap and hash each packet's 5-tuple, nothing
// else.
//
//   read_hash_limit [--siphash] FILE...
//
// --siphash hashes with SipHash-1-3 under a random key (what ctlabeld's flow tables use) instead
// of the plain mix: the difference of the two times is the keyed hash's cost per packet.
//
// It does what any pcap-fed classifier must do at the least (pcap_dispatch, find the IP header,
// hash the direction-independent 5-tuple into a table), so ctlabeld's time divided by this time
// says how much the rest of the pipeline costs.
#include <pcap/pcap.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "ctlabeld/common/siphash.hpp"

namespace ctlabeld::bench {
namespace {

constexpr std::size_t kBuckets = std::size_t{1} << 20;
constexpr int kBatch = 64;  // packets per pcap_dispatch call

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};
using PcapPtr = std::unique_ptr<pcap_t, PcapCloser>;

std::uint16_t load16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

struct Counters {
  int dlt = 0;
  bool siphash = false;
  SipKey key{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  std::uint64_t packets = 0;
  std::uint64_t not_ip = 0;
  std::vector<std::uint32_t> buckets = std::vector<std::uint32_t>(kBuckets);
};

// Folds (address, port) pairs so that both directions give the same hash.
std::uint64_t symmetric_hash(const Counters& c, const std::uint8_t* a, const std::uint8_t* b,
                             std::size_t len, std::uint16_t pa, std::uint16_t pb,
                             std::uint8_t proto) {
  const int cmp = std::memcmp(a, b, len);
  if (cmp > 0 || (cmp == 0 && pa > pb)) {
    std::swap(a, b);
    std::swap(pa, pb);
  }
  if (c.siphash) {
    // The canonical tuple as ctlabeld's flow table hashes it: addresses, ports, protocol.
    std::uint8_t key[37];
    std::memcpy(key, a, len);
    std::memcpy(key + len, b, len);
    std::memcpy(key + 2 * len, &pa, 2);
    std::memcpy(key + 2 * len + 2, &pb, 2);
    key[2 * len + 4] = proto;
    return siphash<1, 3>(c.key, key, 2 * len + 5);
  }
  std::uint64_t h = proto;
  std::uint64_t w = 0;
  for (std::size_t i = 0; i < len; i += 4) {
    std::memcpy(&w, a + i, 4);
    h = mix(h, w);
    std::memcpy(&w, b + i, 4);
    h = mix(h, w);
  }
  return mix(h, std::uint64_t{pa} << 16 | pb);
}

void on_packet(u_char* user, const pcap_pkthdr* hdr, const u_char* p) {
  auto& c = *reinterpret_cast<Counters*>(user);
  ++c.packets;
  const std::size_t len = hdr->caplen;
  std::size_t off = 0;
  std::uint16_t type = 0;
  if (c.dlt == DLT_EN10MB) {
    if (len < 14) return void(++c.not_ip);
    type = load16(p + 12);
    off = 14;
    while ((type == 0x8100 || type == 0x88a8) && off + 4 <= len) {
      type = load16(p + off + 2);
      off += 4;
    }
  } else if (c.dlt == DLT_LINUX_SLL) {
    if (len < 16) return void(++c.not_ip);
    type = load16(p + 14);
    off = 16;
  } else if (c.dlt == DLT_RAW && len > 0) {
    type = (p[0] >> 4) == 6 ? 0x86dd : 0x0800;
  }
  const std::uint8_t* a = nullptr;
  const std::uint8_t* b = nullptr;
  std::size_t alen = 0, l4 = 0;
  std::uint8_t proto = 0;
  if (type == 0x0800 && off + 20 <= len) {
    a = p + off + 12;
    b = p + off + 16;
    alen = 4;
    proto = p[off + 9];
    if ((load16(p + off + 6) & 0x1fff) == 0) l4 = off + std::size_t{p[off] & 0x0fu} * 4;
  } else if (type == 0x86dd && off + 40 <= len) {
    a = p + off + 8;
    b = p + off + 24;
    alen = 16;
    proto = p[off + 6];
    l4 = off + 40;
  } else {
    return void(++c.not_ip);
  }
  std::uint16_t pa = 0, pb = 0;
  if ((proto == 6 || proto == 17) && l4 != 0 && l4 + 4 <= len) {
    pa = load16(p + l4);
    pb = load16(p + l4 + 2);
  }
  ++c.buckets[symmetric_hash(c, a, b, alen, pa, pb, proto) & (kBuckets - 1)];
}

int run(int argc, char** argv) {
  Counters c;
  int first = 1;
  if (argc > 1 && std::strcmp(argv[1], "--siphash") == 0) {
    c.siphash = true;
    first = 2;
  }
  if (argc <= first) {
    std::fprintf(stderr, "usage: read_hash_limit [--siphash] FILE...\n");
    return 2;
  }
  std::vector<char> file_buffer(std::size_t{1} << 20);
  const auto start = std::chrono::steady_clock::now();
  for (int i = first; i < argc; ++i) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    // The same 1 MiB stdio buffer ctlabeld's file source uses, so the limit is not slowed by
    // read() syscalls that ctlabeld avoids.
    std::FILE* fp = std::fopen(argv[i], "rb");
    if (fp == nullptr) {
      std::fprintf(stderr, "read_hash_limit: %s: %s\n", argv[i], std::strerror(errno));
      return 1;
    }
    std::setvbuf(fp, file_buffer.data(), _IOFBF, file_buffer.size());
    PcapPtr pcap{pcap_fopen_offline(fp, errbuf)};
    if (!pcap) {
      std::fclose(fp);
      std::fprintf(stderr, "read_hash_limit: pcap_fopen_offline(%s): %s\n", argv[i], errbuf);
      return 1;
    }
    c.dlt = pcap_datalink(pcap.get());
    for (;;) {
      const int n = pcap_dispatch(pcap.get(), kBatch, on_packet, reinterpret_cast<u_char*>(&c));
      if (n > 0) continue;
      if (n == 0) break;  // end of file
      if (n == PCAP_ERROR) {
        std::fprintf(stderr, "read_hash_limit: pcap_dispatch(%s): %s\n", argv[i],
                     pcap_geterr(pcap.get()));
        return 1;
      }
      break;  // PCAP_ERROR_BREAK: not used here
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::size_t used = 0;
  for (std::uint32_t n : c.buckets) used += n != 0;
  std::printf("packets %llu\nnot_ip %llu\nbuckets_used %zu\nseconds %.3f\npackets/s %.0f\n",
              static_cast<unsigned long long>(c.packets), static_cast<unsigned long long>(c.not_ip),
              used, seconds, static_cast<double>(c.packets) / seconds);
  return 0;
}

}  // namespace
}  // namespace ctlabeld::bench

int main(int argc, char** argv) { return ctlabeld::bench::run(argc, argv); }
