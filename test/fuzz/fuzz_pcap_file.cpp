// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: capture files through FileReader against libpcap itself. The input is a
// whole file (header and records, damaged or not); both readers must deliver the same frames
// (bytes, lengths, timestamps) and end the same way, or the target traps. The file is a regular
// file in a private directory (mode 0700) made once per run: the readers take capture files
// through the file policy, which refuses what is not a regular file reached by a real path (a
// memfd's /proc/self/fd/N link points at no path).
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "ctlabeld/capture/file_reader.hpp"
#include "ctlabeld/capture/source.hpp"

namespace {

using namespace ctlabeld::capture;

struct Frame {
  std::uint32_t caplen, wire_len;
  std::uint64_t ts_us;
  std::vector<std::uint8_t> bytes;
  bool operator==(const Frame&) const = default;
};

struct Outcome {
  std::vector<Frame> frames;
  ReadStatus end = ReadStatus::kOk;
  bool operator==(const Outcome&) const = default;
};

Frame copy_of(const RawFrame& f) {
  return {f.caplen, f.wire_len, f.ts_us, {f.data, f.data + f.caplen}};
}

// The private directory, removed at exit.
const std::string& input_path() {
  static const std::string path = [] {
    static char dir[] = "/tmp/ctlabeld-fuzz-pcap-XXXXXX";
    if (::mkdtemp(dir) == nullptr) __builtin_trap();
    std::atexit([] {
      ::unlink((std::string(dir) + "/input.pcap").c_str());
      ::rmdir(dir);
    });
    return std::string(dir) + "/input.pcap";
  }();
  return path;
}

// The input written to that file (replacing the previous one).
void write_input(const std::uint8_t* data, std::size_t size) {
  const int fd = ::open(input_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) __builtin_trap();
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) __builtin_trap();
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

}  // namespace

// The "link type is not decoded" warning would otherwise be printed for every such input.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  write_input(data, size);
  auto reader = FileReader::open(input_path());
  auto libpcap = PacketSource::open_file(input_path());
  if (static_cast<bool>(reader) != static_cast<bool>(libpcap)) __builtin_trap();
  if (!reader) return 0;
  Outcome mine;
  Outcome theirs;
  for (;;) {
    mine.end =
        reader.value().read([&](const RawFrame& f) { mine.frames.push_back(copy_of(f)); }, 7);
    if (mine.end != ReadStatus::kOk) break;
  }
  for (;;) {
    theirs.end = libpcap.value().dispatch(
        [&](const RawFrame& f) { theirs.frames.push_back(copy_of(f)); }, 7);
    if (theirs.end != ReadStatus::kOk) break;
  }
  if (!(mine == theirs)) __builtin_trap();
  return 0;
}
