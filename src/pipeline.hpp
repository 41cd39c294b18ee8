// SPDX-License-Identifier: GPL-3.0-or-later
// Capture -> workers. Live: one capture thread per source decodes and routes each packet by its
// symmetric host-pair hash to a per-(source, worker) ring; workers drain their rings, and capture
// never blocks (a full ring is a drop). Files: every worker thread reads every file itself and
// keeps its own shard of the host pairs, so nothing is copied or handed over, and nothing is lost.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "byte_ring.hpp"
#include "ctlabeld/capture/file_reader.hpp"
#include "ctlabeld/capture/packet.hpp"
#include "ctlabeld/capture/source.hpp"
#include "ctlabeld/common/siphash.hpp"
#include "worker.hpp"

namespace ctlabeld::app {

struct SourceCounters {
  std::atomic<std::uint64_t> frames{0};
  std::atomic<std::uint64_t> bytes{0};
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(capture::DecodeStatus::kCount)>
      decode{};
  std::atomic<std::uint64_t> queue_full{0};    // live: dropped because a worker's ring was full
  std::atomic<std::uint64_t> kernel_drops{0};  // pcap_stats ps_drop
  std::atomic<std::uint64_t> if_drops{0};      // pcap_stats ps_ifdrop
  std::atomic<std::uint64_t> read_errors{
      0};                                 // libpcap read failures (file ended early, device gone)
  std::atomic<std::uint64_t> reopens{0};  // live: the device was (re)opened
  std::atomic<bool> up{false};            // live: currently capturing
};

struct SourceSnapshot {
  std::string name;
  std::uint64_t frames, bytes, queue_full, kernel_drops, if_drops, read_errors, reopens;
  bool up;
  std::array<std::uint64_t, static_cast<std::size_t>(capture::DecodeStatus::kCount)> decode;
};

struct PipelineOptions {
  bool live = false;
  capture::LiveOptions live_options;
  std::size_t ring_bytes = 4u << 20;  // per (source, worker)
  SipKey routing_secret;              // keys the worker choice (HashSecrets::routing)
};

class Pipeline {
 public:
  // `sources` are file paths or device names; workers are already built.
  Pipeline(std::vector<std::string> sources, std::vector<std::unique_ptr<Worker>> workers,
           PipelineOptions options);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Starts the threads. Files: every worker reads each file in turn.
  void start();
  // True once every file is read and every worker has drained (never true for live capture).
  [[nodiscard]] bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  // Stops capture, drains the rings, ends every flow, joins. Idempotent.
  void stop();
  // Errors that ended a file early (for the exit status and the summary).
  [[nodiscard]] std::vector<std::string> file_errors() const;

  [[nodiscard]] std::vector<SourceSnapshot> source_snapshots() const;
  [[nodiscard]] std::vector<WorkerSnapshot> worker_snapshots() const;
  [[nodiscard]] const std::vector<std::string>& source_names() const noexcept { return sources_; }

 private:
  struct WorkerSlot;
  // A file worker's thread: reads every file, handles the packets of shard `worker_index`.
  void read_files(std::size_t worker_index);
  void capture_live(std::size_t source_index);
  // Live: decodes one frame and stages it on its worker's ring (or counts it as a drop).
  void route(std::size_t source_index, int link, const capture::RawFrame& frame);
  void worker_loop(std::size_t worker_index);
  bool drain_once(std::size_t worker_index);
  void wake_workers() noexcept;
  void worker_finished() noexcept;
  // Makes every record producer `producer` staged visible to the workers.
  void publish_rings(std::size_t producer) noexcept;
  // The worker for a packet: by its host pair, so all flows between two hosts meet one nDPI module.
  [[nodiscard]] std::size_t shard_of(const Address& a, const Address& b) const noexcept;

  std::vector<std::string> sources_;
  std::vector<std::unique_ptr<SourceCounters>> source_counters_;
  std::vector<std::unique_ptr<WorkerSlot>> workers_;
  PipelineOptions options_;
  std::vector<std::thread> capture_threads_;
  std::vector<std::thread> worker_threads_;
  std::atomic<bool> stop_capture_{false};
  std::atomic<bool> capture_done_{false};
  std::atomic<bool> finished_{false};
  std::atomic<std::size_t> workers_done_{0};
  mutable std::mutex errors_mutex_;
  std::vector<std::string> file_errors_;
  std::mutex live_mutex_;  // guards the live sources' break_loop pointers
  std::vector<capture::PacketSource*> live_sources_;
  bool stopped_ = false;
};

}  // namespace ctlabeld::app
