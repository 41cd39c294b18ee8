// SPDX-License-Identifier: GPL-3.0-or-later
// PacketSource over real capture files, broken files, and the live loopback device.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "ctlabeld/capture/packet.hpp"
#include "ctlabeld/capture/source.hpp"

namespace ctlabeld::capture::test {
namespace {

namespace fs = std::filesystem;

// Tests run with the repository root as working directory (see ctlabeld_test).
const fs::path kPcapDir = "../shared/pcaps";

struct ReadResult {
  ReadStatus end = ReadStatus::kOk;
  std::string error;
  std::uint64_t frames = 0;
  std::map<DecodeStatus, std::uint64_t> by_status;
  int dispatch_calls = 0;

  std::uint64_t count(DecodeStatus s) const {
    const auto it = by_status.find(s);
    return it == by_status.end() ? 0 : it->second;
  }
};

// Reads a source to its end, decoding every frame, in batches of `batch` frames.
ReadResult read_all(PacketSource& source, int batch) {
  ReadResult r;
  const auto link = static_cast<LinkType>(source.datalink());
  const PacketSource::FrameFn fn = [&](const RawFrame& f) {
    ++r.frames;
    DecodedPacket out;
    ++r.by_status[decode(link, f.data, f.caplen, f.wire_len, f.ts_us, out)];
  };
  while (true) {
    ++r.dispatch_calls;
    const ReadStatus st = source.dispatch(fn, batch);
    if (st == ReadStatus::kOk) continue;
    r.end = st;
    if (st == ReadStatus::kError) r.error = source.last_error();
    return r;
  }
}

// MANIFEST.tsv: file -> packet count, as ndpiReader counted them.
std::map<std::string, std::uint64_t> manifest_packets() {
  std::map<std::string, std::uint64_t> out;
  std::ifstream in(kPcapDir / "MANIFEST.tsv");
  std::string line;
  std::getline(in, line);  // header: file, size_bytes, packets, ...
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string file, size, packets;
    if (std::getline(fields, file, '\t') && std::getline(fields, size, '\t') &&
        std::getline(fields, packets, '\t')) {
      out[file] = std::stoull(packets);
    }
  }
  return out;
}

fs::path make_temp_dir() {
  std::random_device rd;
  const fs::path dir =
      fs::temp_directory_path() / ("ctlabeld-capture-test-" + std::to_string(rd()));
  fs::create_directories(dir);
  return dir;
}

struct TempDir {
  fs::path path = make_temp_dir();
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("source: every shared capture reads to a clean end and decodes without crashing",
          "[capture][source][files]") {
  REQUIRE(fs::is_directory(kPcapDir));
  const auto manifest = manifest_packets();
  REQUIRE(manifest.size() > 50);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(kPcapDir)) {
    const std::string name = entry.path().filename().string();
    const std::string ext = entry.path().extension().string();
    if (ext == ".tsv" || ext == ".md") continue;
    ++files;
    INFO("file " << name);
    auto source = PacketSource::open_file(entry.path().string());
    REQUIRE(source.ok());
    CHECK(source->name() == entry.path().string());
    CHECK(source->selectable_fd() == -1);
    SourceStats stats;
    CHECK_FALSE(source->stats(stats));
    const ReadResult r = read_all(*source, 256);

    CHECK(r.end == ReadStatus::kEnd);
    REQUIRE(manifest.count(name) == 1);
    CHECK(r.frames == manifest.at(name));
    if (is_supported_link(source->datalink())) {
      CHECK(r.by_status.count(DecodeStatus::kUnsupportedLink) == 0);
      CHECK(r.count(DecodeStatus::kOk) > 0);
    } else {
      CHECK(r.count(DecodeStatus::kUnsupportedLink) == r.frames);
    }
    if (name == "zoom_v4.2.pcap") {
      CHECK(r.frames == 700);
      CHECK(r.count(DecodeStatus::kOk) + r.count(DecodeStatus::kNotIp) == 700);
    }
  }
  CHECK(files == 84);
}

TEST_CASE("source: a record with a nonsense wire length is still delivered",
          "[capture][source][files]") {
  // fuzz-2021-06-07-c6c72a0a56.pcap: one record whose wire length is 4,093,509,168 and whose
  // microseconds field is 4e9. libpcap 1.10 checks only caplen (48 here), so the frame arrives
  // and decode() judges its bytes; the file then ends normally.
  auto source = PacketSource::open_file((kPcapDir / "fuzz-2021-06-07-c6c72a0a56.pcap").string());
  REQUIRE(source.ok());
  std::vector<RawFrame> frames;
  const PacketSource::FrameFn fn = [&](const RawFrame& f) { frames.push_back(f); };
  REQUIRE(source->dispatch(fn) == ReadStatus::kOk);
  CHECK(source->dispatch(fn) == ReadStatus::kEnd);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].caplen == 48);
  CHECK(frames[0].wire_len == 4093509168u);
}

TEST_CASE("source: an invalid record header mid-file is a clean error",
          "[capture][source][files]") {
  // A valid file header and record, then a record claiming more bytes than any snaplen allows.
  std::string bytes;
  const auto put32le = [&](std::uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  put32le(0xa1b2c3d4);
  put32le(0x00040002);  // version 2.4
  put32le(0);
  put32le(0);
  put32le(65535);  // snaplen
  put32le(1);      // Ethernet
  put32le(1'600'000'000);
  put32le(1);
  put32le(60);
  put32le(60);
  bytes.append(60, '\0');
  put32le(1'600'000'001);
  put32le(2);
  put32le(0x7fffffff);  // caplen
  put32le(0x7fffffff);
  bytes.append(100, '\x55');
  TempDir dir;
  const fs::path path = dir.path / "bad-record.pcap";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  auto source = PacketSource::open_file(path.string());
  REQUIRE(source.ok());
  const ReadResult r = read_all(*source, 0);
  CHECK(r.frames == 1);
  CHECK(r.end == ReadStatus::kError);
  CHECK(r.error.find(path.string()) == 0);
  CHECK(r.error.size() > path.string().size() + 10);
}

TEST_CASE("source: batch size does not change what is delivered", "[capture][source][files]") {
  const std::string path = (kPcapDir / "zoom_v4.2.pcap").string();
  auto all = PacketSource::open_file(path);
  auto one = PacketSource::open_file(path);
  REQUIRE(all.ok());
  REQUIRE(one.ok());
  const ReadResult a = read_all(*all, 0);
  const ReadResult b = read_all(*one, 1);
  CHECK(a.end == ReadStatus::kEnd);
  CHECK(b.end == ReadStatus::kEnd);
  CHECK(a.frames == 700);
  CHECK(b.frames == 700);
  CHECK(b.dispatch_calls == 701);
  CHECK(a.by_status == b.by_status);
}

TEST_CASE("source: timestamps and lengths come through", "[capture][source][files]") {
  auto source = PacketSource::open_file((kPcapDir / "zoom_v4.2.pcap").string());
  REQUIRE(source.ok());
  CHECK(source->datalink() == 1);
  std::uint64_t first_ts = 0;
  std::uint64_t last_ts = 0;
  bool lengths_sane = true;
  const PacketSource::FrameFn fn = [&](const RawFrame& f) {
    if (first_ts == 0) first_ts = f.ts_us;
    last_ts = f.ts_us;
    lengths_sane = lengths_sane && f.caplen <= f.wire_len && f.caplen > 0;
  };
  while (source->dispatch(fn) == ReadStatus::kOk) {
  }
  // The capture was taken in 2020-2021; microseconds since the epoch.
  CHECK(first_ts > 1'500'000'000'000'000ULL);
  CHECK(first_ts < 1'700'000'000'000'000ULL);
  CHECK(last_ts >= first_ts);
  CHECK(lengths_sane);
}

TEST_CASE("source: a pcapng time beyond 64-bit microseconds becomes 0, not an overflow",
          "[capture][source][files]") {
  // Found by fuzz_pcap_file: an Enhanced Packet Block stamped 2^64 - 1 microseconds. (UBSan, in
  // the sanitizer build, caught the signed overflow in seconds * 1,000,000.)
  std::vector<std::uint8_t> file;
  auto put32 = [&](std::uint32_t v) {
    const auto* b = reinterpret_cast<const std::uint8_t*>(&v);
    file.insert(file.end(), b, b + 4);
  };
  auto put16 = [&](std::uint16_t v) {
    const auto* b = reinterpret_cast<const std::uint8_t*>(&v);
    file.insert(file.end(), b, b + 2);
  };
  // Section header block: type, length, byte-order magic, version 1.0, section length unknown.
  put32(0x0a0d0d0a), put32(28), put32(0x1a2b3c4d), put16(1), put16(0), put32(0xffffffff),
      put32(0xffffffff), put32(28);
  // Interface description block: Ethernet, no snapshot limit, microsecond timestamps.
  put32(1), put32(20), put16(1), put16(0), put32(0), put32(20);
  // Enhanced packet block: interface 0, the largest time, 60 captured bytes of 60.
  put32(6), put32(92), put32(0), put32(0xffffffff), put32(0xffffffff), put32(60), put32(60);
  file.insert(file.end(), 60, 0);
  put32(92);
  TempDir dir;
  const fs::path path = dir.path / "far-future.pcapng";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(file.data()),
              static_cast<std::streamsize>(file.size()));
  }
  auto source = PacketSource::open_file(path.string());
  REQUIRE(source.ok());
  std::vector<std::uint64_t> times;
  while (source->dispatch([&](const RawFrame& f) { times.push_back(f.ts_us); }) ==
         ReadStatus::kOk) {
  }
  REQUIRE(times.size() == 1);
  CHECK(times[0] == 0);
}

TEST_CASE("source: a BPF filter on a file selects frames; a bad one names itself",
          "[capture][source][files]") {
  const std::string path = (kPcapDir / "zoom_v4.2.pcap").string();
  auto udp_only = PacketSource::open_file(path, "udp");
  REQUIRE(udp_only.ok());
  std::uint64_t frames = 0;
  std::uint64_t udp = 0;
  const auto link = static_cast<LinkType>(udp_only->datalink());
  const PacketSource::FrameFn fn = [&](const RawFrame& f) {
    ++frames;
    DecodedPacket out;
    if (decode(link, f.data, f.caplen, f.wire_len, f.ts_us, out) == DecodeStatus::kOk &&
        out.tuple.ip_protocol == kProtoUdp) {
      ++udp;
    }
  };
  while (udp_only->dispatch(fn) == ReadStatus::kOk) {
  }
  CHECK(frames > 0);
  CHECK(frames < 700);
  CHECK(udp == frames);

  auto bad = PacketSource::open_file(path, "udp and nonsense((");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error_text().find("udp and nonsense((") != std::string::npos);
  CHECK(bad.error_text().find(path) != std::string::npos);
}

TEST_CASE("source: a file of random bytes fails to open, naming the path",
          "[capture][source][files]") {
  TempDir dir;
  const fs::path path = dir.path / "random.bin";
  {
    std::mt19937 rng(12345);
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>(rng() & 0xff));
  }
  auto source = PacketSource::open_file(path.string());
  REQUIRE_FALSE(source.ok());
  CHECK(source.error_text().find(path.string()) != std::string::npos);

  auto missing = PacketSource::open_file((dir.path / "does-not-exist.pcap").string());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error_text().find("does-not-exist.pcap") != std::string::npos);
}

TEST_CASE("source: truncated copies of a real capture end cleanly", "[capture][source][files]") {
  std::ifstream in(kPcapDir / "zoom_v4.2.pcap", std::ios::binary);
  const std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(whole.size() > 100000);
  TempDir dir;
  // Inside the file header, at a record boundary-ish offset, and mid-record at several places.
  for (std::size_t cut : {std::size_t{10}, std::size_t{24}, std::size_t{30}, std::size_t{1000},
                          std::size_t{77777}, whole.size() - 1}) {
    INFO("cut at " << cut);
    const fs::path path = dir.path / ("cut-" + std::to_string(cut) + ".pcap");
    {
      std::ofstream out(path, std::ios::binary);
      out.write(whole.data(), static_cast<std::streamsize>(cut));
    }
    auto source = PacketSource::open_file(path.string());
    if (cut < 24) {  // not even a file header
      REQUIRE_FALSE(source.ok());
      CHECK(source.error_text().find(path.string()) != std::string::npos);
      continue;
    }
    REQUIRE(source.ok());
    const ReadResult r = read_all(*source, 64);
    CHECK(r.frames < 700);
    if (cut == 24) {
      CHECK(r.end == ReadStatus::kEnd);  // a header and no records is an empty capture
      CHECK(r.frames == 0);
    } else {
      // A record cut in the middle: libpcap reports the short read as an error.
      CHECK(r.end == ReadStatus::kError);
      CHECK(r.error.find("truncated") != std::string::npos);
    }
    if (cut == whole.size() - 1) CHECK(r.frames == 699);
  }
}

TEST_CASE("source: a throwing callback stops dispatch with an error", "[capture][source][files]") {
  auto source = PacketSource::open_file((kPcapDir / "zoom_v4.2.pcap").string());
  REQUIRE(source.ok());
  int calls = 0;
  const PacketSource::FrameFn fn = [&](const RawFrame&) {
    if (++calls == 3) throw std::runtime_error("boom");
  };
  CHECK(source->dispatch(fn) == ReadStatus::kError);
  CHECK(calls == 3);
  CHECK(source->last_error().find("boom") != std::string::npos);
}

TEST_CASE("source: break_loop stops a file read", "[capture][source][files]") {
  auto source = PacketSource::open_file((kPcapDir / "zoom_v4.2.pcap").string());
  REQUIRE(source.ok());
  int calls = 0;
  PacketSource* self = &*source;
  const PacketSource::FrameFn fn = [&](const RawFrame&) {
    if (++calls == 5) self->break_loop();
  };
  ReadStatus st = source->dispatch(fn);
  // libpcap returns the count when frames were delivered before the break, then -2.
  if (st == ReadStatus::kOk) st = source->dispatch(fn);
  CHECK(st == ReadStatus::kBroken);
  CHECK(calls == 5);
}

TEST_CASE("source: live capture on lo with a BPF filter", "[capture][source][live]") {
  if (geteuid() != 0) {
    WARN("not root: skipping the live loopback capture");
    return;
  }
  LiveOptions options;
  options.bpf_filter = "udp and dst port 39999";
  options.timeout = std::chrono::milliseconds(20);
  options.immediate = true;
  auto source = PacketSource::open_live("lo", options);
  REQUIRE(source.ok());
  CHECK(source->is_live());
  CHECK(source->datalink() == 1);
  CHECK(source->selectable_fd() >= 0);

  const int sock = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(sock >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const char msg[] = "ctlabeld";
  for (std::uint16_t port : {std::uint16_t{39998}, std::uint16_t{39999}}) {
    to.sin_port = htons(port);
    REQUIRE(::sendto(sock, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
            static_cast<ssize_t>(sizeof msg));
  }
  ::close(sock);

  int matched = 0;
  int other = 0;
  const PacketSource::FrameFn fn = [&](const RawFrame& f) {
    DecodedPacket out;
    if (decode(LinkType::kEthernet, f.data, f.caplen, f.wire_len, f.ts_us, out) ==
            DecodeStatus::kOk &&
        out.tuple.dst_port == 39999 && out.l4_payload_len == sizeof msg) {
      ++matched;
    } else {
      ++other;
    }
  };
  // Poll until the frame arrives (bounded), rather than sleeping a fixed time.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (matched == 0 && std::chrono::steady_clock::now() < deadline) {
    REQUIRE(source->dispatch(fn) == ReadStatus::kOk);
  }
  CHECK(matched == 1);
  CHECK(other == 0);  // the datagram to 39998 was filtered out in the kernel
  SourceStats stats;
  CHECK(source->stats(stats));
  CHECK(stats.received >= 1);
}

TEST_CASE("source: live capture on a missing interface names it", "[capture][source][live]") {
  const std::string device = "ctlnosuch0";
  auto source = PacketSource::open_live(device, LiveOptions{});
  REQUIRE_FALSE(source.ok());
  CHECK(source.error_text().find(device) != std::string::npos);
  if (geteuid() == 0) {
    // As root the only obstacle is the name, so the hint must point at it.
    CHECK(source.error_text().find("ip link") != std::string::npos);
  }
}

TEST_CASE("source: a bad live filter names the interface and the filter",
          "[capture][source][live]") {
  if (geteuid() != 0) {
    WARN("not root: skipping the live filter check");
    return;
  }
  LiveOptions options;
  options.bpf_filter = "port notaport";
  auto source = PacketSource::open_live("lo", options);
  REQUIRE_FALSE(source.ok());
  CHECK(source.error_text().find("'lo'") != std::string::npos);
  CHECK(source.error_text().find("port notaport") != std::string::npos);
}

}  // namespace ctlabeld::capture::test

namespace ctlabeld::capture::test {

// Not run by default (hidden tag): `test_capture "[.bench]"` prints decode throughput on frames
// already in memory, so the figure is the decoder's alone.
TEST_CASE("bench: decode throughput", "[.bench]") {
  std::vector<std::vector<std::uint8_t>> frames;
  std::vector<std::uint32_t> wire;
  for (const char* name : {"zoom_v4.2.pcap", "gnutella.pcap", "teams.pcap"}) {
    auto source = PacketSource::open_file((kPcapDir / name).string());
    REQUIRE(source.ok());
    REQUIRE(source->datalink() == 1);
    while (source->dispatch([&](const RawFrame& f) {
      frames.emplace_back(f.data, f.data + f.caplen);
      wire.push_back(f.wire_len);
    }) == ReadStatus::kOk) {
    }
  }
  constexpr int kRounds = 20;
  std::uint64_t ok = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      DecodedPacket out;
      ok += decode(LinkType::kEthernet, frames[i].data(),
                   static_cast<std::uint32_t>(frames[i].size()), wire[i], i,
                   out) == DecodeStatus::kOk;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double pps = static_cast<double>(frames.size()) * kRounds / seconds;
  WARN("decoded " << frames.size() * kRounds << " frames (" << ok << " ok) at " << pps / 1e6
                  << " Mpps");
  CHECK(ok > 0);
}

}  // namespace ctlabeld::capture::test
