// SPDX-License-Identifier: GPL-3.0-or-later
// Capture files: classic pcap parsed from read() blocks, everything else through libpcap.
#include "ctlabeld/capture/file_reader.hpp"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace ctlabeld::capture {
namespace {

// Big enough that read() syscalls are rare, small enough to stay warm in the last-level cache
// while the frames in it are classified.
constexpr std::size_t kBlockBytes = std::size_t{1} << 20;

// Classic pcap magic numbers as this host reads them: microsecond and nanosecond timestamps.
constexpr std::uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr std::uint32_t kMagicNano = 0xa1b23c4d;

// read() until `len` bytes or the end of the file; the byte count, or -1 with errno set.
ssize_t read_full(int fd, std::uint8_t* dst, std::size_t len) {
  std::size_t done = 0;
  while (done < len) {
    const ssize_t n = ::read(fd, dst + done, len - done);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    done += static_cast<std::size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

}  // namespace

FileReader::FileReader(FileReader&&) noexcept = default;
FileReader& FileReader::operator=(FileReader&&) noexcept = default;
FileReader::~FileReader() = default;

Expected<FileReader> FileReader::open(const std::string& path) {
  // libpcap judges the header (and names what is wrong with it) for both paths.
  auto source = PacketSource::open_file(path);
  if (!source) return Expected<FileReader>::failure(source.errors());
  FileReader reader;
  reader.path_ = path;
  reader.dlt_ = source.value().datalink();
  const int snaplen = source.value().snapshot();
  reader.snaplen_ = snaplen > 0 && static_cast<std::uint32_t>(snaplen) < kMaxCaplen
                        ? static_cast<std::uint32_t>(snaplen)
                        : kMaxCaplen;

  auto opened = files::open_read(path, capture_file_policy());
  if (!opened) return Expected<FileReader>::failure(opened.errors());
  files::Fd fd = std::move(opened->fd);
  std::uint8_t header[kFileHeaderBytes] = {};
  std::uint32_t magic = 0;
  if (fd.get() >= 0 &&
      read_full(fd.get(), header, sizeof header) == static_cast<ssize_t>(sizeof header)) {
    std::memcpy(&magic, header, sizeof magic);
  }
  std::uint16_t version[2] = {0, 0};
  std::memcpy(version, header + 4, sizeof version);
  // Before version 2.4 the two length fields may be swapped (libpcap sorts that out).
  const bool current_version = version[0] == 2 && version[1] >= 4;
  if ((magic != kMagicMicro && magic != kMagicNano) || !current_version) {
    // pcapng, a byte-swapped, modified or pre-2.4 pcap, or a file that changed under us: libpcap
    // reads it.
    reader.fallback_.emplace(std::move(source.value()));
    return reader;
  }
  (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  reader.nanoseconds_ = magic == kMagicNano;
  reader.fd_ = std::move(fd);
  reader.capacity_ = kBlockBytes + kMaxCaplen + kRecordHeaderBytes;  // a whole record always fits
  reader.buffer_ = std::make_unique_for_overwrite<std::uint8_t[]>(
      reader.capacity_);  // pages untouched until read into
  return reader;
}

std::int64_t FileReader::fill(std::size_t need) {
  if (begin_ > 0) {
    // Keep the partial record, drop what was parsed.
    std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  while (end_ < need && !eof_) {
    const std::size_t want = std::min(kBlockBytes, capacity_ - end_);
    const ssize_t n = read_full(fd_.get(), buffer_.get() + end_, want);
    if (n < 0) {
      fail(std::string("read failed at byte ") + std::to_string(offset_ + end_) + ": " +
           std::strerror(errno));
      return -1;
    }
    if (static_cast<std::size_t>(n) < want) eof_ = true;
    end_ += static_cast<std::size_t>(n);
  }
  return static_cast<std::int64_t>(end_ - begin_);
}

ReadStatus FileReader::fail(std::string why) {
  error_ = std::move(why);
  return ReadStatus::kError;
}

ReadStatus FileReader::read_fallback(const PacketSource::FrameFn& fn, std::uint32_t max_frames) {
  std::uint32_t delivered = 0;
  const ReadStatus status = fallback_->dispatch(
      [&](const RawFrame& f) {
        ++delivered;
        fn(f);
      },
      static_cast<int>(max_frames));
  frames_ += delivered;
  return status;
}

std::string FileReader::last_error() const {
  if (fallback_) return fallback_->last_error();
  return path_ + ": " + (error_.empty() ? std::string("no error") : error_);
}

}  // namespace ctlabeld::capture
