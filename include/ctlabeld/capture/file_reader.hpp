// SPDX-License-Identifier: GPL-3.0-or-later
// Reading capture files fast enough that several workers can each read the whole file.
//
// libpcap reads a savefile with two fread() calls per record and copies every frame into its
// own buffer; on the benchmark's mixed file that is an eighth of ctlabeld's CPU, and it is paid
// again by every worker that walks the file. FileReader parses classic pcap records (the format
// tcpdump -w writes) straight out of large read() blocks instead. libpcap still opens every file
// first: it validates the header, maps the link type and gives the snapshot length, and it keeps
// reading whatever the fast path does not take (pcapng, byte-swapped or modified pcap). The unit
// tests compare the two readers frame by frame, truncations included.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "ctlabeld/capture/source.hpp"
#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/file_policy.hpp"

namespace ctlabeld::capture {

class FileReader {
 public:
  // Opens a pcap or pcapng file; the error names the file and what to check.
  static Expected<FileReader> open(const std::string& path);

  FileReader(FileReader&&) noexcept;
  FileReader& operator=(FileReader&&) noexcept;
  ~FileReader();

  // Calls fn(const RawFrame&) for up to `max_frames` frames (the frame is valid during the call).
  // kOk: call again; kEnd: the file is done; kError: the file is damaged, last_error() says where.
  template <typename Fn>
  ReadStatus read(Fn&& fn, std::uint32_t max_frames);

  [[nodiscard]] int datalink() const noexcept { return dlt_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  // "file: what went wrong" after kError.
  [[nodiscard]] std::string last_error() const;
  // True when records are parsed directly (classic pcap in this host's byte order).
  [[nodiscard]] bool fast_path() const noexcept { return !fallback_.has_value(); }
  // Frames delivered so far.
  [[nodiscard]] std::uint64_t frames() const noexcept { return frames_; }

  // Fixed by the classic pcap format (pcap-savefile(5)).
  static constexpr std::size_t kFileHeaderBytes = 24;
  static constexpr std::size_t kRecordHeaderBytes = 16;
  // libpcap's limit for every link type ctlabeld decodes (MAXIMUM_SNAPLEN).
  static constexpr std::uint32_t kMaxCaplen = 262144;

 private:
  FileReader() = default;
  // Makes at least `need` bytes available at begin_ unless the file ends first. Returns the
  // bytes available (less than `need` only at the end of the file); -1 on a read error.
  std::int64_t fill(std::size_t need);
  ReadStatus fail(std::string why);
  ReadStatus read_fallback(const PacketSource::FrameFn& fn, std::uint32_t max_frames);

  std::string path_;
  int dlt_ = 0;
  std::uint32_t snaplen_ = kMaxCaplen;
  bool nanoseconds_ = false;
  files::Fd fd_;
  std::unique_ptr<std::uint8_t[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;  // next unparsed byte in buffer_
  std::size_t end_ = 0;    // end of the valid bytes in buffer_
  bool eof_ = false;
  std::uint64_t frames_ = 0;
  std::uint64_t offset_ = kFileHeaderBytes;  // file offset of buffer_[begin_]
  std::string error_;
  std::optional<PacketSource> fallback_;
};

template <typename Fn>
ReadStatus FileReader::read(Fn&& fn, std::uint32_t max_frames) {
  if (fallback_) {
    const PacketSource::FrameFn wrapped = [&fn](const RawFrame& f) { fn(f); };
    return read_fallback(wrapped, max_frames);
  }
  if (!error_.empty()) return ReadStatus::kError;
  for (std::uint32_t n = 0; n < max_frames; ++n) {
    if (end_ - begin_ < kRecordHeaderBytes) {
      const std::int64_t got = fill(kRecordHeaderBytes);
      if (got < 0) return ReadStatus::kError;
      if (got == 0) return ReadStatus::kEnd;
      if (got < static_cast<std::int64_t>(kRecordHeaderBytes)) {
        return fail("truncated file: a record header needs " + std::to_string(kRecordHeaderBytes) +
                    " bytes, only " + std::to_string(got) + " remain");
      }
    }
    std::uint32_t h[4];
    std::memcpy(h, buffer_.get() + begin_, sizeof h);
    const std::uint32_t caplen = h[2];
    if (caplen > kMaxCaplen) {
      return fail("record " + std::to_string(frames_ + 1) + " has a captured length of " +
                  std::to_string(caplen) + ", bigger than the maximum of " +
                  std::to_string(kMaxCaplen) + " (the file is damaged)");
    }
    if (end_ - begin_ < kRecordHeaderBytes + caplen) {
      const std::int64_t got = fill(kRecordHeaderBytes + caplen);
      if (got < 0) return ReadStatus::kError;
      if (got < static_cast<std::int64_t>(kRecordHeaderBytes + caplen)) {
        return fail("truncated file: record " + std::to_string(frames_ + 1) + " needs " +
                    std::to_string(caplen) + " captured bytes, only " +
                    std::to_string(got - static_cast<std::int64_t>(kRecordHeaderBytes)) +
                    " remain");
      }
    }
    const std::uint8_t* data = buffer_.get() + begin_ + kRecordHeaderBytes;
    // The format's time fields are signed 32-bit (as libpcap reads them); nonsense times become 0,
    // as PacketSource makes them.
    const std::int64_t frac =
        nanoseconds_ ? static_cast<std::int32_t>(h[1]) / 1000 : static_cast<std::int32_t>(h[1]);
    const std::int64_t us = std::int64_t{static_cast<std::int32_t>(h[0])} * 1'000'000 + frac;
    // libpcap hands out at most the file's snapshot length of a longer record.
    const RawFrame frame{data, caplen < snaplen_ ? caplen : snaplen_, h[3],
                         us > 0 ? static_cast<std::uint64_t>(us) : 0};
    begin_ += kRecordHeaderBytes + caplen;
    offset_ += kRecordHeaderBytes + caplen;
    ++frames_;
    fn(frame);
  }
  return ReadStatus::kOk;
}

}  // namespace ctlabeld::capture
