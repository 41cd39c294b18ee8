// SPDX-License-Identifier: GPL-3.0-or-later
// Packet sources over libpcap: capture files and live devices (including "any" and "nflog:N").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/file_policy.hpp"

struct pcap;  // libpcap's handle; only capture/ includes <pcap.h>

namespace ctlabeld::capture {

// Capture files (-r) are data, not configuration: any owner, no size cap, but a regular file.
files::ReadPolicy capture_file_policy();

// Start-up checks of one capture source, for mistakes that retrying could never fix: a capture
// file that is not a regular file (-r /dev/stdin when stdin is a pipe), an "nflog:N" group out
// of range (0-65535) or already bound by another program. Missing or down interfaces pass: the
// pipeline waits for them.
[[nodiscard]] Status check_source(const std::string& name, bool live);

struct LiveOptions {
  int snaplen = defaults::kSnaplen;
  int buffer_bytes = defaults::kPcapBufferBytes;
  bool promiscuous = false;
  std::chrono::milliseconds timeout = defaults::kPcapTimeout;
  std::string bpf_filter;  // empty: every packet
  // Off: the kernel batches frames until the buffer fills or `timeout` passes (throughput);
  // on: each frame wakes the reader at once (latency, more wake-ups).
  bool immediate = false;
};

// One raw frame as libpcap delivered it; valid only during the callback.
struct RawFrame {
  const std::uint8_t* data;
  std::uint32_t caplen;
  std::uint32_t wire_len;
  std::uint64_t ts_us;
};

enum class ReadStatus : std::uint8_t {
  kOk,      // zero or more frames delivered; call again
  kEnd,     // end of file (files only)
  kError,   // libpcap failed; last_error() says why
  kBroken,  // stopped by break_loop()
};

struct SourceStats {
  std::uint64_t received = 0;    // pcap_stats ps_recv (live)
  std::uint64_t dropped = 0;     // ps_drop: kernel buffer full
  std::uint64_t if_dropped = 0;  // ps_ifdrop
};

class PacketSource {
 public:
  using FrameFn = std::function<void(const RawFrame&)>;

  // Opens a pcap or pcapng file.
  static Expected<PacketSource> open_file(const std::string& path,
                                          const std::string& bpf_filter = {});
  // Opens a live device the long way (pcap_create, options, pcap_activate).
  static Expected<PacketSource> open_live(const std::string& device, const LiveOptions& options);

  PacketSource(PacketSource&&) noexcept;
  PacketSource& operator=(PacketSource&&) noexcept;
  ~PacketSource();

  // Delivers up to `max_frames` frames (0: as many as one pcap_dispatch gives: one kernel
  // buffer for a live device, the whole rest of a file). `fn` must not throw; if it does,
  // the dispatch stops and returns kError. Live sources return kOk with no frames on timeout.
  [[nodiscard]] ReadStatus dispatch(const FrameFn& fn, int max_frames = 0);
  // Makes a blocked dispatch() return kBroken; safe to call from another thread.
  void break_loop() noexcept;
  [[nodiscard]] int datalink() const noexcept;
  // The snapshot length: a file's header value (libpcap fixes 0 or oversized ones), a device's
  // setting.
  [[nodiscard]] int snapshot() const noexcept;
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] std::string last_error() const;
  // Kernel counters of a live source; false for files or when libpcap cannot tell.
  [[nodiscard]] bool stats(SourceStats& out) const;
  [[nodiscard]] bool is_live() const noexcept { return live_; }
  // The selectable fd for a live source (-1 for files).
  [[nodiscard]] int selectable_fd() const noexcept;

  struct Closer {
    void operator()(pcap* p) const noexcept;
  };

 private:
  PacketSource(std::unique_ptr<pcap, Closer> handle, std::string name, bool live);
  // A file's stdio buffer (setvbuf): declared before handle_ so it outlives pcap_close's fclose.
  std::unique_ptr<char[]> file_buffer_;
  std::unique_ptr<pcap, Closer> handle_;
  std::string name_;
  bool live_ = false;
  std::string callback_error_;  // set when the frame callback threw
};

}  // namespace ctlabeld::capture
