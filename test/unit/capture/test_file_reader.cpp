// SPDX-License-Identifier: GPL-3.0-or-later
// FileReader against libpcap: every shared capture, every truncation of a small one, and damaged
// records must give the same frames (bytes, lengths, timestamps) and the same kind of ending.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ctlabeld/capture/file_reader.hpp"
#include "ctlabeld/capture/source.hpp"

namespace ctlabeld::capture::test {
namespace {

namespace fs = std::filesystem;

const fs::path kPcapDir = "../shared/pcaps";  // tests run from the repository root

struct Frame {
  std::uint32_t caplen, wire_len;
  std::uint64_t ts_us;
  std::vector<std::uint8_t> bytes;
  friend bool operator==(const Frame&, const Frame&) = default;
};

struct Outcome {
  std::vector<Frame> frames;
  ReadStatus end = ReadStatus::kOk;
  std::string error;
};

Frame copy_of(const RawFrame& f) {
  return {f.caplen, f.wire_len, f.ts_us, {f.data, f.data + f.caplen}};
}

Outcome read_with_libpcap(const std::string& path) {
  Outcome o;
  auto src = PacketSource::open_file(path);
  REQUIRE(src);
  for (;;) {
    const ReadStatus st =
        src.value().dispatch([&](const RawFrame& f) { o.frames.push_back(copy_of(f)); }, 100);
    if (st == ReadStatus::kOk) continue;
    o.end = st;
    if (st == ReadStatus::kError) o.error = src.value().last_error();
    return o;
  }
}

Outcome read_with_reader(FileReader& reader, std::uint32_t batch) {
  Outcome o;
  for (;;) {
    const ReadStatus st =
        reader.read([&](const RawFrame& f) { o.frames.push_back(copy_of(f)); }, batch);
    if (st == ReadStatus::kOk) continue;
    o.end = st;
    if (st == ReadStatus::kError) o.error = reader.last_error();
    return o;
  }
}

std::vector<char> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A scratch file removed when the test ends.
struct TempFile {
  std::string path;
  explicit TempFile(const std::vector<char>& bytes) {
    char name[] = "/tmp/ctlabeld-reader-XXXXXX";
    const int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    ::close(fd);
    path = name;
  }
  ~TempFile() { ::unlink(path.c_str()); }
};

void require_same(const Outcome& mine, const Outcome& theirs, const std::string& what) {
  INFO(what << ": reader " << mine.frames.size() << " frames, libpcap " << theirs.frames.size());
  INFO("reader error: " << mine.error << "; libpcap error: " << theirs.error);
  REQUIRE(mine.frames.size() == theirs.frames.size());
  for (std::size_t i = 0; i < mine.frames.size(); ++i) {
    INFO("frame " << i);
    REQUIRE(mine.frames[i] == theirs.frames[i]);
  }
  REQUIRE(mine.end == theirs.end);
}

// A classic pcap file: header, then records of (caplen, wire_len) filled with a counter.
std::vector<char> make_pcap(std::uint32_t magic, std::uint32_t snaplen,
                            const std::vector<std::pair<std::uint32_t, std::uint32_t>>& records,
                            std::uint16_t version_minor = 4) {
  std::vector<char> out;
  auto put = [&](std::uint64_t v, int bytes) {  // little-endian, magic included
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  auto put32 = [&](std::uint32_t v) { put(v, 4); };
  auto put16 = [&](std::uint16_t v) { put(v, 2); };
  put32(magic);
  put16(2);
  put16(version_minor);
  put32(0);
  put32(0);
  put32(snaplen);
  put32(1);  // Ethernet
  std::uint32_t t = 1'700'000'000;
  for (const auto& [caplen, wire] : records) {
    put32(t++);
    put32(magic == 0xa1b23c4d ? 123'456'789u : 123'456u);
    put32(caplen);
    put32(wire);
    for (std::uint32_t i = 0; i < caplen; ++i) out.push_back(static_cast<char>(i));
  }
  return out;
}

}  // namespace

TEST_CASE("FileReader gives libpcap's frames for every shared capture", "[reader]") {
  std::size_t fast = 0, files = 0;
  for (const auto& entry : fs::directory_iterator(kPcapDir)) {
    const auto ext = entry.path().extension();
    if (ext != ".pcap" && ext != ".pcapng") continue;
    auto reader = FileReader::open(entry.path().string());
    auto libpcap = PacketSource::open_file(entry.path().string());
    REQUIRE(static_cast<bool>(reader) == static_cast<bool>(libpcap));
    if (!reader) continue;
    ++files;
    if (reader.value().fast_path()) ++fast;
    CHECK(reader.value().datalink() == libpcap.value().datalink());
    const Outcome mine = read_with_reader(reader.value(), 512);
    require_same(mine, read_with_libpcap(entry.path().string()), entry.path().filename().string());
    CHECK(reader.value().frames() == mine.frames.size());
  }
  INFO(fast << " of " << files << " files on the fast path");
  CHECK(files > 50);
  CHECK(fast > files / 2);  // most shared captures are classic pcap
}

TEST_CASE("FileReader ends like libpcap at every truncation", "[reader]") {
  const auto bytes = slurp(kPcapDir / "zoom_v4.2.pcap");
  REQUIRE(bytes.size() > 4096);
  // Every cut in the first records and around the header, then a spread over the rest.
  std::vector<std::size_t> cuts;
  for (std::size_t c = 0; c < 700; ++c) cuts.push_back(c);
  for (std::size_t c = 700; c < bytes.size(); c += 997) cuts.push_back(c);
  cuts.push_back(bytes.size());
  for (const std::size_t cut : cuts) {
    const TempFile file({bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut)});
    auto reader = FileReader::open(file.path);
    auto libpcap = PacketSource::open_file(file.path);
    INFO("cut at " << cut);
    REQUIRE(static_cast<bool>(reader) == static_cast<bool>(libpcap));
    if (!reader) continue;
    REQUIRE(reader.value().fast_path());
    const Outcome mine = read_with_reader(reader.value(), 7);
    const Outcome theirs = read_with_libpcap(file.path);
    require_same(mine, theirs, "cut at " + std::to_string(cut));
    if (mine.end == ReadStatus::kError) {
      CHECK(mine.error.find(file.path) == 0);
      CHECK(mine.error.find("truncated") != std::string::npos);
    }
  }
}

TEST_CASE("FileReader: nanosecond files, long records, damaged lengths", "[reader]") {
  SECTION("nanosecond timestamps become microseconds") {
    const TempFile file(make_pcap(0xa1b23c4d, 65535, {{60, 60}, {100, 1500}}));
    auto reader = FileReader::open(file.path);
    REQUIRE(reader);
    REQUIRE(reader.value().fast_path());
    const Outcome mine = read_with_reader(reader.value(), 512);
    require_same(mine, read_with_libpcap(file.path), "nanoseconds");
    REQUIRE(mine.frames.size() == 2);
    CHECK(mine.frames[0].ts_us == 1'700'000'000ull * 1'000'000 + 123'456);
  }
  SECTION("a record longer than the snapshot length is cut to it, as libpcap does") {
    const TempFile file(make_pcap(0xa1b2c3d4, 128, {{60, 60}, {1000, 1000}, {64, 64}}));
    auto reader = FileReader::open(file.path);
    REQUIRE(reader);
    const Outcome mine = read_with_reader(reader.value(), 512);
    require_same(mine, read_with_libpcap(file.path), "caplen > snaplen");
    REQUIRE(mine.frames.size() == 3);
  }
  SECTION("a captured length beyond any snapshot length is an error naming the record") {
    const TempFile file(make_pcap(0xa1b2c3d4, 65535, {{60, 60}, {300000, 300000}}));
    auto reader = FileReader::open(file.path);
    REQUIRE(reader);
    const Outcome mine = read_with_reader(reader.value(), 512);
    require_same(mine, read_with_libpcap(file.path), "huge caplen");
    CHECK(mine.end == ReadStatus::kError);
    CHECK(mine.error.find("record 2") != std::string::npos);
  }
  SECTION("before version 2.4 the length fields may be swapped: libpcap reads such files") {
    // Found by fuzz_pcap_file: a 2.0 file whose record says caplen 0, len 3221226496.
    const TempFile file(make_pcap(0xa1b2c3d4, 65535, {{0, 60}, {60, 0}, {64, 64}}, 0));
    auto reader = FileReader::open(file.path);
    REQUIRE(reader);
    CHECK_FALSE(reader.value().fast_path());
    require_same(read_with_reader(reader.value(), 512), read_with_libpcap(file.path),
                 "version 2.0");
  }
  SECTION("a missing file is an error naming it") {
    auto reader = FileReader::open("/nonexistent/ctlabeld.pcap");
    REQUIRE_FALSE(reader);
    CHECK(reader.error_text().find("/nonexistent/ctlabeld.pcap") != std::string::npos);
  }
}

}  // namespace ctlabeld::capture::test
