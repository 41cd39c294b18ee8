// SPDX-License-Identifier: GPL-3.0-or-later
// Benchmark capture generator: builds large pcaps by replicating the shared captures' flows.
//
//   gen_pcap mixed    OUT.pcap [--packets N] [--pcaps DIR]   replicas of every usable capture
//   gen_pcap elephant OUT.pcap [--packets N] [--pcaps DIR]   a few long TCP flows, most packets
//   gen_pcap flood    OUT.pcap [--flows N]   [--pcaps DIR]   one SYN per flow (a scan)
//   gen_pcap random   OUT.pcap [--flows N]   [--pcaps DIR]   spoofed SYNs at one victim
//   gen_pcap collide  OUT.pcap [--flows N]   [--pcaps DIR] [--table-flows M]
//                     the same, crafted to collide under ctlabeld's old unkeyed flow hash
//                     (bench/old_flow_hash.hpp)
//
// Replica k rewrites every IP address through a map that depends only on (address, k), so both
// directions of a flow stay one flow and no two replicas share an address (see AddressMap).
// Checksums: IPv4 headers are recomputed; TCP/UDP/ICMPv6 checksums are adjusted incrementally
// (RFC 1624), which stays correct for snaplen-truncated packets whose payload we cannot see.
// Nothing is random: the same inputs always give the same bytes.
#include <pcap/pcap.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "old_flow_hash.hpp"

namespace ctlabeld::bench {
namespace {

namespace fs = std::filesystem;

// Files whose point is to be broken (decoder robustness tests), not to look like traffic.
constexpr std::array<std::string_view, 3> kSkippedNameParts{"fuzz", "malformed", "badpackets"};

constexpr std::uint32_t kV4Base = 0x0a000000;  // 10.0.0.0: replicas are laid out upwards from here
constexpr std::uint32_t kV4Multicast = 0xe0000000;  // 224/4 and above (incl. broadcast) kept as is
constexpr std::array<std::uint8_t, 8> kV6Prefix{0xfd, 0x62, 0x65, 0x6e, 0x63, 0x68, 0x00, 0x00};
constexpr std::int64_t kReplicaStaggerUs =
    20'000;                                    // mixed: replica k of a file starts k*20 ms later
constexpr std::int64_t kMaxGapUs = 5'000'000;  // gaps inside one capture are capped at 5 s
constexpr std::int64_t kElephantIntervalUs = 200;  // elephant: one packet per 200 us per flow
constexpr std::size_t kElephantFlows = 8;
constexpr double kElephantShortShare =
    0.02;  // elephant: share of packets from ordinary short flows
constexpr std::int64_t kFloodIntervalUs = 5;                    // flood: 200 k SYN/s
constexpr std::int64_t kStartUs = 1'700'000'000LL * 1'000'000;  // output timeline starts here
constexpr int kOutSnaplen = 262144;
constexpr std::uint8_t kTcp = 6, kUdp = 17, kIcmpV6 = 58, kIpIp = 4, kIpV6InIp = 41;
constexpr std::uint8_t kTcpSyn = 0x02, kTcpAck = 0x10, kTcpFin = 0x01, kTcpRst = 0x04;

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};
struct DumperCloser {
  void operator()(pcap_dumper_t* d) const { pcap_dump_close(d); }
};
using PcapPtr = std::unique_ptr<pcap_t, PcapCloser>;
using DumperPtr = std::unique_ptr<pcap_dumper_t, DumperCloser>;

std::uint16_t load16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
std::uint32_t load32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
void store16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void store32(std::uint8_t* p, std::uint32_t v) {
  store16(p, static_cast<std::uint16_t>(v >> 16));
  store16(p + 2, static_cast<std::uint16_t>(v));
}

std::uint16_t fold(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

std::uint16_t internet_checksum(const std::uint8_t* p, std::size_t len, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < len; i += 2) sum += load16(p + i);
  if (len % 2) sum += static_cast<std::uint32_t>(p[len - 1] << 8);
  return static_cast<std::uint16_t>(~fold(sum));
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for a run of 16-bit words changed from old to new.
class ChecksumDelta {
 public:
  void replace(const std::uint8_t* old_bytes, const std::uint8_t* new_bytes, std::size_t len) {
    for (std::size_t i = 0; i < len; i += 2) {
      sum_ += static_cast<std::uint16_t>(~load16(old_bytes + i));
      sum_ += load16(new_bytes + i);
    }
  }
  [[nodiscard]] std::uint16_t apply(std::uint16_t checksum) const {
    return static_cast<std::uint16_t>(~fold(static_cast<std::uint16_t>(~checksum) + sum_));
  }

 private:
  std::uint32_t sum_ = 0;
};

// One IP header inside a stored frame, found once at load time.
struct IpLayer {
  std::uint16_t offset = 0;     // of the IP header in the frame
  std::uint16_t l4_offset = 0;  // 0 when the packet carries no L4 header (later fragment)
  std::uint8_t version = 0;
  std::uint8_t proto = 0;
  std::uint32_t addr_index[2] = {0, 0};  // into AddressMap, per src/dst
};

struct StoredPacket {
  std::int64_t ts_us = 0;  // relative to the capture's first packet, gaps capped
  std::uint32_t wire_len = 0;
  std::size_t frame_offset = 0;  // into Capture::bytes_
  std::uint32_t caplen = 0;
  std::uint8_t layer_count = 0;  // 0 = not IP (copied unchanged), 2 = IP-in-IP
  std::array<IpLayer, 2> layers{};
};

struct Capture {
  std::string name;
  std::vector<std::uint8_t> bytes;
  std::vector<StoredPacket> packets;
  std::size_t flows = 0;  // distinct 5-tuples (innermost IP header), both directions folded
};

// Bijective per replica: the i-th distinct original address becomes base + k*count + i, so the
// replicas occupy disjoint address ranges. Multicast and broadcast addresses keep their value.
class AddressMap {
 public:
  static constexpr std::uint32_t kKeep = UINT32_MAX;

  std::uint32_t index_v4(std::uint32_t addr) {
    if (addr >= kV4Multicast) return kKeep;
    return v4_.try_emplace(addr, static_cast<std::uint32_t>(v4_.size())).first->second;
  }
  std::uint32_t index_v6(const std::uint8_t* addr) {
    if (addr[0] == 0xff) return kKeep;
    std::array<std::uint8_t, 16> key{};
    std::memcpy(key.data(), addr, key.size());
    return v6_.try_emplace(key, static_cast<std::uint32_t>(v6_.size())).first->second;
  }
  [[nodiscard]] std::uint32_t v4(std::uint32_t index, std::uint32_t replica) const {
    return kV4Base + replica * static_cast<std::uint32_t>(v4_.size()) + index;
  }
  void v6(std::uint32_t index, std::uint32_t replica, std::uint8_t* out) const {
    std::memcpy(out, kV6Prefix.data(), kV6Prefix.size());
    store32(out + 8, replica);
    store32(out + 12, index);
  }
  [[nodiscard]] std::uint32_t max_v4_replicas() const {
    return v4_.empty() ? UINT32_MAX
                       : (kV4Multicast - kV4Base) / static_cast<std::uint32_t>(v4_.size());
  }

 private:
  std::map<std::uint32_t, std::uint32_t> v4_;
  std::map<std::array<std::uint8_t, 16>, std::uint32_t> v6_;
};

// --- Loading: every supported link type becomes an Ethernet frame. ---

struct EthernetFrame {
  bool ok = false;
  std::size_t strip = 0;        // bytes of the original link header to drop
  std::uint16_t ethertype = 0;  // synthesised header's type; 0 = the frame is already Ethernet
};

EthernetFrame to_ethernet(int dlt, const std::uint8_t* p, std::size_t caplen) {
  auto by_version = [&](std::size_t off) -> EthernetFrame {
    if (caplen <= off) return {};
    const int v = p[off] >> 4;
    if (v == 4) return {true, off, 0x0800};
    if (v == 6) return {true, off, 0x86dd};
    return {};
  };
  switch (dlt) {
    case DLT_EN10MB: return {caplen >= 14, 0, 0};
    case DLT_LINUX_SLL:
      return caplen >= 16 ? EthernetFrame{true, 16, load16(p + 14)} : EthernetFrame{};
#ifdef DLT_LINUX_SLL2
    case DLT_LINUX_SLL2: return caplen >= 20 ? EthernetFrame{true, 20, load16(p)} : EthernetFrame{};
#endif
    case DLT_RAW:
#ifdef DLT_IPV4
    case DLT_IPV4:
    case DLT_IPV6:
#endif
      return by_version(0);
    case DLT_NULL:
    case DLT_LOOP: return by_version(4);
    default: return {};
  }
}

// Finds the IP header(s) of an Ethernet frame: VLAN/QinQ, PPPoE session and MPLS are walked.
class FrameParser {
 public:
  FrameParser(const std::uint8_t* frame, std::size_t caplen, AddressMap& map)
      : p_(frame), len_(caplen), map_(map) {}

  void parse(StoredPacket& out) {
    std::size_t off = 12;
    std::uint16_t type = load16(p_ + off);
    off += 2;
    while ((type == 0x8100 || type == 0x88a8 || type == 0x9100) && off + 4 <= len_) {
      type = load16(p_ + off + 2);
      off += 4;
    }
    if (type == 0x8864) {  // PPPoE session: 6-byte header, then the PPP protocol
      if (off + 8 > len_) return;
      const std::uint16_t ppp = load16(p_ + off + 6);
      off += 8;
      type = ppp == 0x0021 ? 0x0800 : ppp == 0x0057 ? 0x86dd : 0;
    } else if (type == 0x8847) {
      while (off + 4 <= len_ && !(p_[off + 2] & 0x01)) off += 4;
      off += 4;
      if (off >= len_) return;
      type = (p_[off] >> 4) == 4 ? 0x0800 : (p_[off] >> 4) == 6 ? 0x86dd : 0;
    }
    if (type != 0x0800 && type != 0x86dd) return;
    std::size_t next = parse_ip(off, out.layers[0]);
    if (out.layers[0].version == 0) return;
    out.layer_count = 1;
    if (next != 0) {
      parse_ip(next, out.layers[1]);
      if (out.layers[1].version != 0) out.layer_count = 2;
    }
  }

 private:
  // Returns the offset of an encapsulated IP header (IP-in-IP), else 0.
  std::size_t parse_ip(std::size_t off, IpLayer& layer) {
    if (off + 1 > len_) return 0;
    const int version = p_[off] >> 4;
    std::size_t l4 = 0;
    std::uint8_t proto = 0;
    if (version == 4) {
      const std::size_t ihl = std::size_t{p_[off] & 0x0fu} * 4;
      if (ihl < 20 || off + 20 > len_) return 0;
      layer.addr_index[0] = map_.index_v4(load32(p_ + off + 12));
      layer.addr_index[1] = map_.index_v4(load32(p_ + off + 16));
      proto = p_[off + 9];
      const bool first_fragment = (load16(p_ + off + 6) & 0x1fff) == 0;
      if (first_fragment) l4 = off + ihl;
    } else if (version == 6) {
      if (off + 40 > len_) return 0;
      layer.addr_index[0] = map_.index_v6(p_ + off + 8);
      layer.addr_index[1] = map_.index_v6(p_ + off + 24);
      proto = p_[off + 6];
      l4 = off + 40;
      // Extension headers: hop-by-hop, routing, destination options, fragment, AH.
      while (l4 != 0 && (proto == 0 || proto == 43 || proto == 60 || proto == 44 || proto == 51)) {
        if (l4 + 8 > len_) {
          l4 = 0;
          break;
        }
        const std::uint8_t next = p_[l4];
        std::size_t ext_len = 0;
        if (proto == 44) {
          ext_len = 8;
          if ((load16(p_ + l4 + 2) & 0xfff8) != 0) l4 = 0;  // not the first fragment
        } else if (proto == 51) {
          ext_len = (std::size_t{p_[l4 + 1]} + 2) * 4;
        } else {
          ext_len = (std::size_t{p_[l4 + 1]} + 1) * 8;
        }
        proto = next;
        if (l4 != 0) l4 += ext_len;
      }
    } else {
      return 0;
    }
    layer.version = static_cast<std::uint8_t>(version);
    layer.offset = static_cast<std::uint16_t>(off);
    layer.proto = proto;
    layer.l4_offset = static_cast<std::uint16_t>(l4 <= len_ ? l4 : 0);
    if (layer.l4_offset != 0 && (proto == kIpIp || proto == kIpV6InIp)) return layer.l4_offset;
    return 0;
  }

  const std::uint8_t* p_;
  std::size_t len_;
  AddressMap& map_;
};

// Flow identity for counting: innermost IP header's addresses and ports, direction folded.
std::string flow_key(const std::uint8_t* frame, std::size_t caplen, const StoredPacket& pkt) {
  const IpLayer& l = pkt.layers[pkt.layer_count - 1];
  const std::size_t alen = l.version == 4 ? 4 : 16;
  const std::size_t aoff = l.offset + (l.version == 4 ? 12u : 8u);
  std::string a(reinterpret_cast<const char*>(frame + aoff), alen);
  std::string b(reinterpret_cast<const char*>(frame + aoff + alen), alen);
  if ((l.proto == kTcp || l.proto == kUdp) && l.l4_offset != 0 && l.l4_offset + 4u <= caplen) {
    a.append(reinterpret_cast<const char*>(frame + l.l4_offset), 2);
    b.append(reinterpret_cast<const char*>(frame + l.l4_offset + 2), 2);
  }
  if (b < a) std::swap(a, b);
  return std::string(1, static_cast<char>(l.proto)) + a + b;
}

std::optional<Capture> load_capture(const fs::path& path, AddressMap& map, std::string& why) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  PcapPtr pcap{pcap_open_offline(path.c_str(), errbuf)};
  if (!pcap) {
    why = errbuf;
    return std::nullopt;
  }
  const int dlt = pcap_datalink(pcap.get());
  Capture cap;
  cap.name = path.filename().string();
  std::set<std::string> flows;
  std::int64_t first_us = -1, prev_us = 0, out_us = 0;
  pcap_pkthdr* hdr = nullptr;
  const std::uint8_t* data = nullptr;
  int rc = 0;
  while ((rc = pcap_next_ex(pcap.get(), &hdr, &data)) == 1) {
    const EthernetFrame eth = to_ethernet(dlt, data, hdr->caplen);
    if (!eth.ok) continue;
    const std::int64_t ts = std::int64_t{hdr->ts.tv_sec} * 1'000'000 + hdr->ts.tv_usec;
    if (first_us < 0) prev_us = first_us = ts;
    out_us += std::clamp<std::int64_t>(ts - prev_us, 0, kMaxGapUs);  // monotonic, gaps capped
    prev_us = ts;

    StoredPacket pkt;
    pkt.ts_us = out_us;
    pkt.frame_offset = cap.bytes.size();
    if (eth.ethertype != 0) {
      static constexpr std::array<std::uint8_t, 12> kMacs{0x02, 0, 0, 0, 0, 0x02,
                                                          0x02, 0, 0, 0, 0, 0x01};
      cap.bytes.insert(cap.bytes.end(), kMacs.begin(), kMacs.end());
      cap.bytes.push_back(static_cast<std::uint8_t>(eth.ethertype >> 8));
      cap.bytes.push_back(static_cast<std::uint8_t>(eth.ethertype));
    }
    cap.bytes.insert(cap.bytes.end(), data + eth.strip, data + hdr->caplen);
    const std::size_t header_delta = eth.ethertype != 0 ? 14 : 0;
    pkt.caplen = static_cast<std::uint32_t>(hdr->caplen - eth.strip + header_delta);
    pkt.wire_len = static_cast<std::uint32_t>(hdr->len - eth.strip + header_delta);
    const std::uint8_t* frame = cap.bytes.data() + pkt.frame_offset;
    FrameParser(frame, pkt.caplen, map).parse(pkt);
    if (pkt.layer_count != 0) flows.insert(flow_key(frame, pkt.caplen, pkt));
    cap.packets.push_back(pkt);
  }
  if (rc == PCAP_ERROR) {
    why = pcap_geterr(pcap.get());
    return std::nullopt;
  }
  if (cap.packets.empty()) {
    why = "no packet of a supported link type (link type " + std::to_string(dlt) + ")";
    return std::nullopt;
  }
  cap.flows = flows.size();
  return cap;
}

std::vector<Capture> load_all(const fs::path& dir, AddressMap& map) {
  std::vector<fs::path> paths;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const auto ext = entry.path().extension();
    if (ext != ".pcap" && ext != ".pcapng") continue;
    if (std::any_of(kSkippedNameParts.begin(), kSkippedNameParts.end(),
                    [&](std::string_view part) { return name.find(part) != std::string::npos; }))
      continue;
    paths.push_back(entry.path());
  }
  if (ec) {
    std::fprintf(stderr, "gen_pcap: cannot list %s: %s (pass --pcaps DIR)\n", dir.c_str(),
                 ec.message().c_str());
    std::exit(2);
  }
  std::sort(paths.begin(), paths.end());  // directory order is not deterministic
  std::vector<Capture> caps;
  for (const auto& path : paths) {
    std::string why;
    if (auto cap = load_capture(path, map, why)) {
      caps.push_back(std::move(*cap));
    } else {
      std::fprintf(stderr, "gen_pcap: skipping %s: %s\n", path.filename().c_str(), why.c_str());
    }
  }
  if (caps.empty()) {
    std::fprintf(stderr, "gen_pcap: no usable capture in %s\n", dir.c_str());
    std::exit(2);
  }
  return caps;
}

// --- Rewriting ---

void rewrite_layer(std::uint8_t* frame, std::size_t caplen, const IpLayer& l, std::uint32_t replica,
                   const AddressMap& map) {
  const std::size_t alen = l.version == 4 ? 4 : 16;
  std::uint8_t* addrs = frame + l.offset + (l.version == 4 ? 12 : 8);
  std::array<std::uint8_t, 32> old_addrs{};
  std::memcpy(old_addrs.data(), addrs, 2 * alen);
  for (int side = 0; side < 2; ++side) {
    if (l.addr_index[side] == AddressMap::kKeep) continue;
    std::uint8_t* a = addrs + static_cast<std::size_t>(side) * alen;
    if (l.version == 4) {
      store32(a, map.v4(l.addr_index[side], replica));
    } else {
      map.v6(l.addr_index[side], replica, a);
    }
  }
  if (l.version == 4) {
    const std::size_t ihl = std::size_t{frame[l.offset] & 0x0fu} * 4;
    if (l.offset + ihl <= caplen) {
      store16(frame + l.offset + 10, 0);
      store16(frame + l.offset + 10, internet_checksum(frame + l.offset, ihl));
    }
  }
  if (l.l4_offset == 0) return;
  std::size_t field = 0;
  if (l.proto == kTcp) {
    field = 16;
  } else if (l.proto == kUdp) {
    field = 6;
  } else if (l.proto == kIcmpV6) {
    field = 2;
  } else {
    return;  // ICMPv4 and the rest do not checksum the addresses
  }
  std::uint8_t* ck = frame + l.l4_offset + field;
  if (l.l4_offset + field + 2 > caplen) return;
  const std::uint16_t old_ck = load16(ck);
  if (l.proto == kUdp && l.version == 4 && old_ck == 0) return;  // "no checksum"
  ChecksumDelta delta;
  delta.replace(old_addrs.data(), addrs, 2 * alen);
  std::uint16_t new_ck = delta.apply(old_ck);
  if (l.proto == kUdp && new_ck == 0) new_ck = 0xffff;
  store16(ck, new_ck);
}

// Adds the given byte counts to a TCP segment's sequence and acknowledgement numbers.
void shift_tcp(std::uint8_t* frame, std::size_t caplen, const IpLayer& l, std::uint32_t seq_add,
               std::uint32_t ack_add) {
  std::uint8_t* tcp = frame + l.l4_offset;
  if (l.l4_offset + 18u > caplen) return;
  std::array<std::uint8_t, 8> before{};
  std::memcpy(before.data(), tcp + 4, 8);
  store32(tcp + 4, load32(tcp + 4) + seq_add);
  if (tcp[13] & kTcpAck) store32(tcp + 8, load32(tcp + 8) + ack_add);
  ChecksumDelta delta;
  delta.replace(before.data(), tcp + 4, 8);
  store16(tcp + 16, delta.apply(load16(tcp + 16)));
}

// --- Output ---

class PcapWriter {
 public:
  explicit PcapWriter(const std::string& path) {
    dead_.reset(pcap_open_dead(DLT_EN10MB, kOutSnaplen));
    file_ = std::fopen(path.c_str(), "wb");
    if (!dead_ || !file_) {
      std::fprintf(stderr, "gen_pcap: cannot create %s: %s\n", path.c_str(), std::strerror(errno));
      std::exit(2);
    }
    buffer_.resize(std::size_t{1} << 20);
    std::setvbuf(file_, buffer_.data(), _IOFBF, buffer_.size());
    dumper_.reset(pcap_dump_fopen(dead_.get(), file_));  // takes ownership of file_
    if (!dumper_) {
      std::fprintf(stderr, "gen_pcap: pcap_dump_fopen(%s): %s\n", path.c_str(),
                   pcap_geterr(dead_.get()));
      std::exit(2);
    }
  }
  void write(std::int64_t ts_us, const std::uint8_t* frame, std::uint32_t caplen,
             std::uint32_t wire_len) {
    pcap_pkthdr hdr{};
    hdr.ts.tv_sec = static_cast<time_t>(ts_us / 1'000'000);
    hdr.ts.tv_usec = static_cast<suseconds_t>(ts_us % 1'000'000);
    hdr.caplen = caplen;
    hdr.len = wire_len;
    pcap_dump(reinterpret_cast<u_char*>(dumper_.get()), &hdr, frame);
    ++packets_;
    bytes_ += wire_len;
    first_us_ = packets_ == 1 ? ts_us : first_us_;
    last_us_ = ts_us;
  }
  void close() {
    if (pcap_dump_flush(dumper_.get()) != 0) {
      std::fprintf(stderr, "gen_pcap: write failed (disk full?)\n");
      std::exit(2);
    }
    dumper_.reset();
  }
  [[nodiscard]] std::uint64_t packets() const { return packets_; }
  [[nodiscard]] std::uint64_t bytes() const { return bytes_; }
  [[nodiscard]] double span_s() const { return static_cast<double>(last_us_ - first_us_) / 1e6; }

 private:
  PcapPtr dead_;
  std::FILE* file_ = nullptr;
  std::vector<char> buffer_;  // declared before dumper_: must outlive the FILE it buffers
  DumperPtr dumper_;
  std::uint64_t packets_ = 0, bytes_ = 0;
  std::int64_t first_us_ = 0, last_us_ = 0;
};

// A time-ordered sequence of packets taken from one capture, rewritten as replica `replica`.
// `loop_*` repeat a body of TCP packets with shifted sequence numbers (the elephant flows).
struct Stream {
  const Capture* cap = nullptr;
  std::vector<std::uint32_t> order;  // indices into cap->packets
  std::uint32_t replica = 0;
  std::int64_t start_us = 0;
  // Elephant loops: order = prologue + body + epilogue; body is repeated `loops` times.
  std::size_t body_begin = 0, body_end = 0;
  std::uint32_t loops = 1;
  std::int64_t interval_us = 0;  // > 0: evenly spaced packets instead of the capture's times
  std::array<std::uint32_t, 2> body_bytes{};  // TCP payload per direction in one body
  std::uint32_t initiator_index = 0;          // address index of the SYN sender
  // Cursor.
  std::size_t pos = 0;
  std::uint32_t loop = 0;
  std::int64_t emitted = 0;

  [[nodiscard]] bool done() const { return pos >= order.size(); }
  [[nodiscard]] const StoredPacket& packet() const { return cap->packets[order[pos]]; }
  [[nodiscard]] std::uint32_t loop_of_cursor() const {
    return pos < body_begin ? 0 : pos < body_end ? loop : loops - 1;
  }
  [[nodiscard]] std::int64_t ts() const {
    return start_us + (interval_us > 0 ? emitted * interval_us : packet().ts_us);
  }
  void advance() {
    ++emitted;
    ++pos;
    if (pos == body_end && loop + 1 < loops) {
      ++loop;
      pos = body_begin;
    }
  }
};

struct Totals {
  std::uint64_t flows = 0;
};

// Merges the streams by timestamp, rewriting each packet for its replica.
void merge_streams(std::vector<Stream>& streams, const AddressMap& map, PcapWriter& out,
                   std::uint64_t packet_limit) {
  using Entry = std::tuple<std::int64_t, std::size_t>;  // (next timestamp, stream); ties by index
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
  for (std::size_t i = 0; i < streams.size(); ++i)
    if (!streams[i].done()) heap.emplace(streams[i].ts(), i);
  std::vector<std::uint8_t> frame(kOutSnaplen);
  while (!heap.empty() && out.packets() < packet_limit) {
    const auto [ts, index] = heap.top();
    heap.pop();
    Stream& s = streams[index];
    const StoredPacket& pkt = s.packet();
    std::memcpy(frame.data(), s.cap->bytes.data() + pkt.frame_offset, pkt.caplen);
    if (s.loops > 1 && s.loop_of_cursor() > 0 && pkt.layer_count != 0) {
      const IpLayer& l = pkt.layers[pkt.layer_count - 1];
      const int dir = l.addr_index[0] == s.initiator_index ? 0 : 1;
      const std::uint32_t n = s.loop_of_cursor();
      shift_tcp(frame.data(), pkt.caplen, l, n * s.body_bytes[static_cast<std::size_t>(dir)],
                n * s.body_bytes[static_cast<std::size_t>(1 - dir)]);
    }
    for (std::uint8_t i = 0; i < pkt.layer_count; ++i)
      rewrite_layer(frame.data(), pkt.caplen, pkt.layers[i], s.replica, map);
    out.write(kStartUs + ts, frame.data(), pkt.caplen, pkt.wire_len);
    s.advance();
    if (!s.done()) heap.emplace(s.ts(), index);
  }
}

std::vector<std::uint32_t> all_indices(const Capture& cap) {
  std::vector<std::uint32_t> v(cap.packets.size());
  for (std::uint32_t i = 0; i < v.size(); ++i) v[i] = i;
  return v;
}

// Replicas of every capture, all started within a few seconds so that their flows overlap.
std::uint64_t add_replicas(const std::vector<Capture>& caps, std::uint32_t first_replica,
                           std::uint32_t count, std::vector<Stream>& streams) {
  std::uint64_t flows = 0;
  for (const Capture& cap : caps) {
    for (std::uint32_t k = 0; k < count; ++k) {
      Stream s;
      s.cap = &cap;
      s.order = all_indices(cap);
      s.replica = first_replica + k;
      s.start_us = std::int64_t{k} * kReplicaStaggerUs;
      streams.push_back(std::move(s));
    }
    flows += std::uint64_t{cap.flows} * count;
  }
  return flows;
}

std::uint64_t packets_per_replica(const std::vector<Capture>& caps) {
  std::uint64_t n = 0;
  for (const auto& c : caps) n += c.packets.size();
  return n;
}

void check_replicas(const AddressMap& map, std::uint32_t replicas) {
  if (replicas > map.max_v4_replicas()) {
    std::fprintf(stderr,
                 "gen_pcap: %u replicas do not fit below 224.0.0.0 (max %u); ask for fewer\n",
                 replicas, map.max_v4_replicas());
    std::exit(2);
  }
}

void print_summary(const char* mode, const std::string& path, const PcapWriter& out,
                   std::uint64_t flows, const std::string& detail) {
  std::printf(
      "gen_pcap %s: %s\n  packets %llu\n  flows %llu\n  bytes %llu (on the wire)\n"
      "  span %.1f s\n  %s\n",
      mode, path.c_str(), static_cast<unsigned long long>(out.packets()),
      static_cast<unsigned long long>(flows), static_cast<unsigned long long>(out.bytes()),
      out.span_s(), detail.c_str());
}

void generate_mixed(const fs::path& dir, const std::string& path, std::uint64_t packets) {
  AddressMap map;
  const auto caps = load_all(dir, map);
  const std::uint64_t per_replica = packets_per_replica(caps);
  const auto replicas = static_cast<std::uint32_t>(
      std::max<std::uint64_t>(1, (packets + per_replica / 2) / per_replica));
  check_replicas(map, replicas);
  std::vector<Stream> streams;
  const std::uint64_t flows = add_replicas(caps, 0, replicas, streams);
  PcapWriter out(path);
  merge_streams(streams, map, out, UINT64_MAX);
  out.close();
  print_summary("mixed", path, out, flows,
                std::to_string(caps.size()) + " captures x " + std::to_string(replicas) +
                    " replicas, replicas interleaved (all concurrent)");
}

// A long TCP flow inside one capture: its packets in order, and who opened it.
struct LongFlow {
  const Capture* cap = nullptr;
  std::vector<std::uint32_t> packets;
  std::uint32_t initiator_index = AddressMap::kKeep;
  std::size_t data_packets = 0;
};

std::vector<LongFlow> find_long_tcp_flows(const std::vector<Capture>& caps, std::size_t count) {
  std::vector<LongFlow> found;
  for (const Capture& cap : caps) {
    std::map<std::string, LongFlow> flows;
    for (std::uint32_t i = 0; i < cap.packets.size(); ++i) {
      const StoredPacket& pkt = cap.packets[i];
      if (pkt.layer_count == 0) continue;
      const IpLayer& l = pkt.layers[pkt.layer_count - 1];
      if (l.proto != kTcp || l.l4_offset == 0 || l.l4_offset + 20u > pkt.caplen) continue;
      const std::uint8_t* frame = cap.bytes.data() + pkt.frame_offset;
      LongFlow& f = flows[flow_key(frame, pkt.caplen, pkt)];
      f.cap = &cap;
      f.packets.push_back(i);
      const std::uint8_t flags = frame[l.l4_offset + 13];
      if ((flags & (kTcpSyn | kTcpAck)) == kTcpSyn) f.initiator_index = l.addr_index[0];
      if (!(flags & (kTcpSyn | kTcpFin | kTcpRst))) ++f.data_packets;
    }
    for (auto& [key, f] : flows)
      if (f.initiator_index != AddressMap::kKeep) found.push_back(std::move(f));
  }
  std::stable_sort(found.begin(), found.end(), [](const LongFlow& a, const LongFlow& b) {
    return a.data_packets > b.data_packets;
  });
  if (found.size() > count) found.resize(count);
  return found;
}

// One elephant stream: the flow once, its SYN/FIN/RST-free middle repeated with growing
// sequence numbers until it carries `target` packets. Stray SYN/FIN/RST packets from the middle
// are moved to the end, before the flow's own FIN/RST.
Stream make_elephant(const LongFlow& f, std::uint32_t replica, std::uint64_t target) {
  Stream s;
  s.cap = f.cap;
  s.replica = replica;
  s.initiator_index = f.initiator_index;
  auto flags_of = [&](std::uint32_t i) {
    const StoredPacket& pkt = f.cap->packets[i];
    const IpLayer& l = pkt.layers[pkt.layer_count - 1];
    return f.cap->bytes[pkt.frame_offset + l.l4_offset + 13];
  };
  // Body = from the first packet after the handshake to the last packet before FIN/RST.
  std::size_t begin = 0, end = f.packets.size();
  while (begin < end && (flags_of(f.packets[begin]) & kTcpSyn)) ++begin;
  while (end > begin && (flags_of(f.packets[end - 1]) & (kTcpFin | kTcpRst))) --end;
  std::vector<std::uint32_t> body;
  std::vector<std::uint32_t> tail;
  for (std::size_t i = begin; i < end; ++i) {
    const auto flags = flags_of(f.packets[i]);
    // Stray SYN/FIN/RST inside the middle would restart or end the flow on every repetition.
    (flags & (kTcpSyn | kTcpFin | kTcpRst) ? tail : body).push_back(f.packets[i]);
  }
  s.order.assign(f.packets.begin(), f.packets.begin() + static_cast<std::ptrdiff_t>(begin));
  s.body_begin = s.order.size();
  s.order.insert(s.order.end(), body.begin(), body.end());
  s.body_end = s.order.size();
  s.order.insert(s.order.end(), tail.begin(), tail.end());
  s.order.insert(s.order.end(), f.packets.begin() + static_cast<std::ptrdiff_t>(end),
                 f.packets.end());
  for (std::uint32_t i : body) {
    const StoredPacket& pkt = f.cap->packets[i];
    const IpLayer& l = pkt.layers[pkt.layer_count - 1];
    const std::uint8_t* frame = f.cap->bytes.data() + pkt.frame_offset;
    // Payload length from the IP header, not the capture: the segments may be truncated.
    const long l4_len = l.version == 4
                            ? long{load16(frame + l.offset + 2)} - (l.l4_offset - l.offset)
                            : long{load16(frame + l.offset + 4)} + 40 - (l.l4_offset - l.offset);
    const long tcp_header = long{frame[l.l4_offset + 12] >> 4} * 4;
    const auto payload = static_cast<std::uint32_t>(std::max(0L, l4_len - tcp_header));
    s.body_bytes[l.addr_index[0] == f.initiator_index ? 0 : 1] += payload;
  }
  const std::uint64_t others = s.order.size() - body.size();
  s.loops = body.empty() ? 1
                         : static_cast<std::uint32_t>(std::max<std::uint64_t>(
                               1, (target > others ? target - others : 0) / body.size()));
  // A repeated body has no natural timeline (its idle gaps would add up to days), so the
  // elephants run side by side at a steady rate, like bulk transfers.
  s.interval_us = kElephantIntervalUs;
  return s;
}

void generate_elephant(const fs::path& dir, const std::string& path, std::uint64_t packets) {
  AddressMap map;
  const auto caps = load_all(dir, map);
  const auto long_flows = find_long_tcp_flows(caps, kElephantFlows);
  if (long_flows.empty()) {
    std::fprintf(stderr, "gen_pcap: no TCP flow with a handshake in %s\n", dir.c_str());
    std::exit(2);
  }
  // Short flows: whole replicas of every capture (replica numbers 1..), ~2% of the packets.
  const std::uint64_t per_replica = packets_per_replica(caps);
  const auto short_replicas = static_cast<std::uint32_t>(std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(static_cast<double>(packets) * kElephantShortShare) /
             per_replica));
  check_replicas(map, short_replicas + 1);
  std::vector<Stream> streams;
  const std::uint64_t short_flows = add_replicas(caps, 1, short_replicas, streams);
  const std::uint64_t short_packets = per_replica * short_replicas;
  const std::uint64_t each =
      (packets > short_packets ? packets - short_packets : 0) / long_flows.size();
  std::string detail = std::to_string(long_flows.size()) + " elephants (replica 0) from:";
  for (const LongFlow& f : long_flows) {
    streams.push_back(make_elephant(f, 0, each));
    detail += " " + f.cap->name + "(" + std::to_string(f.packets.size()) + " pkts x" +
              std::to_string(streams.back().loops) + ")";
  }
  detail += "; short flows: " + std::to_string(short_replicas) + " replica(s) of " +
            std::to_string(caps.size()) + " captures";
  PcapWriter out(path);
  merge_streams(streams, map, out, UINT64_MAX);
  out.close();
  print_summary("elephant", path, out, short_flows + long_flows.size(), detail);
}

// One SYN of the shared scan, rewritten for each flow of the synthetic floods.
class SynTemplate {
 public:
  explicit SynTemplate(const fs::path& dir) {
    AddressMap map;
    std::string why;
    const auto cap = load_capture(dir / "synscan.pcap", map, why);
    if (!cap) {
      std::fprintf(stderr, "gen_pcap: the floods need %s/synscan.pcap: %s\n", dir.c_str(),
                   why.c_str());
      std::exit(2);
    }
    // The template: the first complete IPv4 TCP SYN of the real scan.
    const StoredPacket* tmpl = nullptr;
    for (const StoredPacket& pkt : cap->packets) {
      if (pkt.layer_count != 1 || pkt.layers[0].version != 4 || pkt.layers[0].proto != kTcp)
        continue;
      const IpLayer& l = pkt.layers[0];
      if (l.l4_offset == 0 || pkt.caplen != pkt.wire_len || l.l4_offset + 20u > pkt.caplen)
        continue;
      if ((cap->bytes[pkt.frame_offset + l.l4_offset + 13] & (kTcpSyn | kTcpAck)) == kTcpSyn) {
        tmpl = &pkt;
        break;
      }
    }
    if (!tmpl) {
      std::fprintf(stderr, "gen_pcap: no complete IPv4 SYN in synscan.pcap\n");
      std::exit(2);
    }
    const IpLayer& l = tmpl->layers[0];
    ip_ = l.offset;
    tcp_ = l.l4_offset;
    ihl_ = std::size_t{cap->bytes[tmpl->frame_offset + l.offset] & 0x0fu} * 4;
    frame_.assign(
        cap->bytes.begin() + static_cast<std::ptrdiff_t>(tmpl->frame_offset),
        cap->bytes.begin() + static_cast<std::ptrdiff_t>(tmpl->frame_offset + tmpl->caplen));
    wire_len_ = tmpl->wire_len;
  }

  // Writes SYN number `i` of a flood (it sets the IP id and the sequence number) at its time.
  void write(PcapWriter& out, std::uint64_t i, std::uint32_t src, std::uint16_t sport,
             std::uint32_t dst, std::uint16_t dport) {
    std::uint8_t* ip = frame_.data() + ip_;
    std::uint8_t* tcp = frame_.data() + tcp_;
    const std::size_t tcp_len = frame_.size() - tcp_;
    store32(ip + 12, src);
    store32(ip + 16, dst);
    store16(ip + 4, static_cast<std::uint16_t>(i));  // IP id
    store16(ip + 10, 0);
    store16(ip + 10, internet_checksum(ip, ihl_));
    store16(tcp, sport);
    store16(tcp + 2, dport);
    store32(tcp + 4, static_cast<std::uint32_t>(i * 2654435761u));  // sequence numbers
    store16(tcp + 16, 0);
    std::array<std::uint8_t, 12> pseudo{};
    std::memcpy(pseudo.data(), ip + 12, 8);
    pseudo[9] = kTcp;
    store16(pseudo.data() + 10, static_cast<std::uint16_t>(tcp_len));
    std::uint32_t sum = 0;
    for (std::size_t j = 0; j < pseudo.size(); j += 2) sum += load16(pseudo.data() + j);
    store16(tcp + 16, internet_checksum(tcp, tcp_len, sum));
    out.write(static_cast<std::int64_t>(i) * kFloodIntervalUs + kStartUs, frame_.data(),
              static_cast<std::uint32_t>(frame_.size()), wire_len_);
  }

 private:
  std::vector<std::uint8_t> frame_;
  std::size_t ip_ = 0;
  std::size_t tcp_ = 0;
  std::size_t ihl_ = 0;
  std::uint32_t wire_len_ = 0;
};

// Flood: flow i is one SYN from a scanner to (10.0.0.0 + i / ports, kScanPorts[i % ports]).
void generate_flood(const fs::path& dir, const std::string& path, std::uint64_t flows) {
  static constexpr std::array<std::uint16_t, 16> kScanPorts{
      21, 22, 23, 25, 53, 80, 110, 135, 139, 143, 443, 445, 993, 3306, 3389, 8080};
  SynTemplate syn(dir);
  constexpr std::uint32_t kScanner = 0xc6120001;  // 198.18.0.1 (RFC 2544 benchmarking range)
  constexpr std::uint32_t kTargets = 0x0a000000;  // 10.0.0.0/8, from 10.0.0.1
  PcapWriter out(path);
  for (std::uint64_t i = 0; i < flows; ++i) {
    const auto target = static_cast<std::uint32_t>(kTargets + 1 + i / kScanPorts.size());
    syn.write(out, i, kScanner, static_cast<std::uint16_t>(40000 + i % 20000), target,
              kScanPorts[i % kScanPorts.size()]);
  }
  out.close();
  print_summary(
      "flood", path, out, flows,
      "one SYN per flow from 198.18.0.1 to 10.0.0.0/8 x 16 ports, template from synscan.pcap");
}

// Spoofed floods at one victim, 10.0.0.1:443: one SYN per flow from a spoofed source address in
// 198.18.0.0/15 and source port. Candidate c (a bijective scramble of c gives 17 address bits and
// 15 port bits, so no two candidates are the same flow) is the flow's (address, port).
//   random:  the first `flows` candidates, pseudo-random and unrelated to any hash.
//   collide: only candidates whose flow key the OLD unkeyed hash (bench/old_flow_hash.hpp) sends
//            to the first kCollideWindow home slots of a table holding `table_flows` flows, so
//            they pile into one probe cluster: the attack the keyed hash defeats.
constexpr std::uint32_t kVictim = 0x0a000001;  // 10.0.0.1
constexpr std::uint16_t kVictimPort = 443;
constexpr std::uint64_t kCollideWindow = 1024;

void generate_spoofed(const fs::path& dir, const std::string& path, std::uint64_t flows,
                      bool collide, std::uint64_t table_flows) {
  SynTemplate syn(dir);
  const std::uint64_t mask = table_mask(table_flows);
  const std::uint8_t victim[4] = {10, 0, 0, 1};
  PcapWriter out(path);
  std::uint64_t tried = 0;
  std::uint64_t written = 0;
  for (std::uint64_t c = 0; written < flows; ++c) {
    if (c > 0xffffffffULL) {
      std::fprintf(stderr, "gen_pcap: ran out of candidates after %llu flows\n",
                   static_cast<unsigned long long>(written));
      std::exit(2);
    }
    const auto scrambled = static_cast<std::uint32_t>(c * 0x9e3779b1u + 0x7f4a7c15u);
    const std::uint32_t src = 0xc6120000u | (scrambled & 0x1ffffu);  // 198.18.0.0/15
    const auto sport = static_cast<std::uint16_t>(1024 + (scrambled >> 17));
    ++tried;
    if (collide) {
      const std::uint8_t s4[4] = {
          static_cast<std::uint8_t>(src >> 24), static_cast<std::uint8_t>(src >> 16),
          static_cast<std::uint8_t>(src >> 8), static_cast<std::uint8_t>(src)};
      std::uint64_t w[5];
      ipv4_key_words(s4, sport, victim, kVictimPort, kTcp, w);
      if ((old_flow_hash(w) & 0xffffffffULL & mask) >= kCollideWindow) continue;
    }
    syn.write(out, written++, src, sport, kVictim, kVictimPort);
  }
  out.close();
  std::string detail = "one SYN per flow from spoofed 198.18.0.0/15 sources to 10.0.0.1:443";
  if (collide) {
    detail += "; crafted against the old unkeyed hash: every key's home slot is among the first " +
              std::to_string(kCollideWindow) + " of a table for " + std::to_string(table_flows) +
              " flows (" + std::to_string(tried) + " candidates tried)";
  }
  print_summary(collide ? "collide" : "random", path, out, flows, detail);
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: gen_pcap mixed    OUT.pcap [--packets N] [--pcaps DIR]\n"
               "       gen_pcap elephant OUT.pcap [--packets N] [--pcaps DIR]\n"
               "       gen_pcap flood    OUT.pcap [--flows N]   [--pcaps DIR]\n"
               "       gen_pcap random   OUT.pcap [--flows N]   [--pcaps DIR]\n"
               "       gen_pcap collide  OUT.pcap [--flows N]   [--pcaps DIR] [--table-flows M]\n"
               "defaults: --packets 2500000, --flows 2000000, --pcaps ../shared/pcaps,\n"
               "          --table-flows 262144 (ctlabeld's default max_flows)\n");
  std::exit(2);
}

std::uint64_t parse_count(std::string_view s) {
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || v == 0) {
    std::fprintf(stderr, "gen_pcap: '%.*s' is not a positive count\n", static_cast<int>(s.size()),
                 s.data());
    std::exit(2);
  }
  return v;
}

int run(int argc, char** argv) {
  if (argc < 3) usage();
  const std::string_view mode = argv[1];
  const std::string out = argv[2];
  std::uint64_t packets = 2'500'000, flows = 2'000'000, table_flows = 262'144;
  fs::path dir = "../shared/pcaps";
  for (int i = 3; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) usage();
    if (arg == "--packets") {
      packets = parse_count(argv[++i]);
    } else if (arg == "--flows") {
      flows = parse_count(argv[++i]);
    } else if (arg == "--table-flows") {
      table_flows = parse_count(argv[++i]);
    } else if (arg == "--pcaps") {
      dir = argv[++i];
    } else {
      usage();
    }
  }
  if (mode == "mixed") {
    generate_mixed(dir, out, packets);
  } else if (mode == "elephant") {
    generate_elephant(dir, out, packets);
  } else if (mode == "flood") {
    generate_flood(dir, out, flows);
  } else if (mode == "random" || mode == "collide") {
    generate_spoofed(dir, out, flows, mode == "collide", table_flows);
  } else {
    usage();
  }
  return 0;
}

}  // namespace
}  // namespace ctlabeld::bench

int main(int argc, char** argv) { return ctlabeld::bench::run(argc, argv); }
