// SPDX-License-Identifier: GPL-3.0-or-later
// The threads of the pipeline and the rings between them.
#include "pipeline.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

#include "ctlabeld/common/logger.hpp"

namespace ctlabeld::app {

namespace {

// The record a ring carries: the decoded metadata, then the packet's IP bytes.
struct RingRecord {
  capture::DecodedPacket packet;
  std::uint32_t source;
};

constexpr std::size_t kDrainBatch = 256;  // records per ring before looking at the next ring
constexpr int kDispatchBatch = 512;       // frames per pcap_dispatch / FileReader::read call
constexpr auto kIdleWait = std::chrono::milliseconds(50);
constexpr auto kLivePollTimeout = std::chrono::milliseconds(100);

// Single-writer counters: a plain load+store avoids a locked instruction per packet.
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

std::uint64_t wall_us() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::shared_ptr<spdlog::logger> log() {
  static const std::shared_ptr<spdlog::logger> logger = stage_logger("capture");
  return logger;
}

}  // namespace

struct Pipeline::WorkerSlot {
  std::unique_ptr<Worker> worker;
  std::vector<std::unique_ptr<ByteRing>> rings;  // one per producer thread
  std::atomic<bool> sleeping{false};
  std::mutex mutex;
  std::condition_variable cv;
};

Pipeline::Pipeline(std::vector<std::string> sources, std::vector<std::unique_ptr<Worker>> workers,
                   PipelineOptions options)
    : sources_(std::move(sources)), options_(std::move(options)) {
  for (std::size_t i = 0; i < sources_.size(); ++i)
    source_counters_.push_back(std::make_unique<SourceCounters>());
  for (auto& worker : workers) {
    auto slot = std::make_unique<WorkerSlot>();
    slot->worker = std::move(worker);
    // Live capture hands packets over rings, one per (source, worker); files need none.
    if (options_.live) {
      for (std::size_t p = 0; p < sources_.size(); ++p)
        slot->rings.push_back(std::make_unique<ByteRing>(options_.ring_bytes));
    }
    workers_.push_back(std::move(slot));
  }
  live_sources_.assign(sources_.size(), nullptr);
}

Pipeline::~Pipeline() { stop(); }

void Pipeline::start() {
  for (std::size_t w = 0; w < workers_.size(); ++w) {
    if (options_.live) {
      worker_threads_.emplace_back([this, w] { worker_loop(w); });
    } else {
      worker_threads_.emplace_back([this, w] { read_files(w); });
    }
  }
  if (options_.live) {
    for (std::size_t s = 0; s < sources_.size(); ++s)
      capture_threads_.emplace_back([this, s] { capture_live(s); });
  }
}

void Pipeline::stop() {
  if (stopped_) return;
  stopped_ = true;
  stop_capture_.store(true, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(live_mutex_);
    for (auto* src : live_sources_) {
      if (src != nullptr) src->break_loop();
    }
  }
  for (auto& t : capture_threads_) t.join();
  capture_done_.store(true, std::memory_order_release);
  wake_workers();
  for (auto& t : worker_threads_) t.join();
}

void Pipeline::route(std::size_t source_index, int link, const capture::RawFrame& frame) {
  SourceCounters& c = *source_counters_[source_index];
  bump(c.frames);
  bump(c.bytes, frame.wire_len);
  capture::DecodedPacket p;
  const auto status = capture::decode(static_cast<capture::LinkType>(link), frame.data,
                                      frame.caplen, frame.wire_len, frame.ts_us, p);
  bump(c.decode[static_cast<std::size_t>(status)]);
  if (status != capture::DecodeStatus::kOk) return;
  WorkerSlot& slot = *workers_[shard_of(p.tuple.src, p.tuple.dst)];
  ByteRing& ring = *slot.rings[source_index];
  const std::size_t size = sizeof(RingRecord) + p.l3_len;
  if (std::uint8_t* dst = ring.reserve(size)) {
    RingRecord rec{p, static_cast<std::uint32_t>(source_index)};
    std::memcpy(dst, &rec, sizeof rec);
    std::memcpy(dst + sizeof rec, p.l3, p.l3_len);
    ring.stage();  // published once per dispatch batch (publish_rings)
    return;
  }
  bump(c.queue_full);  // capture never blocks: the packet is dropped and counted
}

namespace {

// A file reader's per-batch tallies, added to the shared counters once per batch.
struct FileTally {
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(capture::DecodeStatus::kCount)> decode{};

  void count(const capture::RawFrame& f, capture::DecodeStatus status) noexcept {
    ++frames;
    bytes += f.wire_len;
    ++decode[static_cast<std::size_t>(status)];
  }
  void flush_into(SourceCounters& c) noexcept {
    c.frames.fetch_add(frames, std::memory_order_relaxed);
    c.bytes.fetch_add(bytes, std::memory_order_relaxed);
    for (std::size_t d = 0; d < decode.size(); ++d) {
      if (decode[d] != 0) c.decode[d].fetch_add(decode[d], std::memory_order_relaxed);
    }
    *this = FileTally{};
  }
};

}  // namespace

void Pipeline::read_files(std::size_t w) {
  // Every worker reads every file and keeps the packets of its own shard: no hand-over, no copy,
  // no reader thread competing with the workers for the cores. Worker 0 also counts the frames
  // nobody owns (those that do not decode) and reports what goes wrong with a file.
  Worker& worker = *workers_[w]->worker;
  const bool reporter = w == 0;
  auto report = [&](const std::string& text) {
    if (!reporter) return;
    std::lock_guard<std::mutex> lock(errors_mutex_);
    file_errors_.push_back(text);
  };
  for (std::size_t i = 0; i < sources_.size() && !stop_capture_.load(); ++i) {
    auto opened = capture::FileReader::open(sources_[i]);
    if (!opened) {
      for (const auto& e : opened.errors()) report(e);
      continue;
    }
    capture::FileReader& reader = opened.value();
    const int link = reader.datalink();
    if (!capture::is_supported_link(link)) {
      report(sources_[i] + ": link-layer type " + std::to_string(link) +
             " is not supported (supported: Ethernet, Linux cooked v1/v2, raw IP, NFLOG, BSD "
             "loopback)");
      continue;
    }
    const auto source = static_cast<std::uint32_t>(i);
    FileTally tally;
    // Each frame is counted once, by one worker: the owner of its host pair when a cheap peek
    // finds the addresses, else the owner of the decoded packet, else (it does not decode) worker
    // 0.
    const auto lt = static_cast<capture::LinkType>(link);
    auto take = [&](const capture::RawFrame& f) {
      Address a;
      Address b;
      const bool peeked = capture::peek_addresses(lt, f.data, f.caplen, a, b);
      if (peeked && shard_of(a, b) != w) return;  // another worker's: not even decoded here
      capture::DecodedPacket p;
      const auto status = capture::decode(lt, f.data, f.caplen, f.wire_len, f.ts_us, p);
      if (status != capture::DecodeStatus::kOk) {
        if (peeked || reporter) tally.count(f, status);
        return;
      }
      if (!peeked && shard_of(p.tuple.src, p.tuple.dst) != w) return;
      tally.count(f, status);
      worker.handle(p, source);
    };
    for (;;) {
      const auto status = reader.read(take, kDispatchBatch);
      tally.flush_into(*source_counters_[i]);
      if (status == capture::ReadStatus::kOk) {
        worker.poll();
        if (stop_capture_.load(std::memory_order_relaxed)) break;
        continue;
      }
      if (status == capture::ReadStatus::kError && reporter) {
        bump(source_counters_[i]->read_errors);
        report(sources_[i] + ": read stopped after " + std::to_string(reader.frames()) +
               " packets: " + reader.last_error());
      }
      break;
    }
  }
  worker.finish();
  worker_finished();
}

std::size_t Pipeline::shard_of(const Address& a, const Address& b) const noexcept {
  if (workers_.size() == 1) return 0;
  return host_pair_hash(a, b, options_.routing_secret) % workers_.size();
}

void Pipeline::publish_rings(std::size_t producer) noexcept {
  for (auto& slot : workers_) {
    if (producer < slot->rings.size()) slot->rings[producer]->publish_writes();
  }
}

void Pipeline::worker_finished() noexcept {
  if (workers_done_.fetch_add(1) + 1 == workers_.size())
    finished_.store(true, std::memory_order_release);
}

void Pipeline::capture_live(std::size_t s) {
  SourceCounters& c = *source_counters_[s];
  const std::string& name = sources_[s];
  auto backoff =
      std::chrono::duration_cast<std::chrono::milliseconds>(defaults::kInterfaceRetryMin);
  std::string last_failure;
  while (!stop_capture_.load()) {
    auto opened = capture::PacketSource::open_live(name, options_.live_options);
    if (!opened) {
      // A missing or down interface is not fatal: retry with backoff, say so once per cause.
      if (opened.error_text() != last_failure) {
        last_failure = opened.error_text();
        log()->warn("{} (retrying every {}s at most)", opened.errors().front(),
                    defaults::kInterfaceRetryMax.count());
      }
      for (auto waited = std::chrono::milliseconds(0); waited < backoff && !stop_capture_.load();
           waited += std::chrono::milliseconds(100)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      backoff = std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(
                                          defaults::kInterfaceRetryMax));
      continue;
    }
    capture::PacketSource& src = opened.value();
    const int link = src.datalink();
    if (!capture::is_supported_link(link)) {
      log()->error("{}: link-layer type {} is not supported; not capturing on it", name, link);
      return;
    }
    last_failure.clear();
    backoff = std::chrono::duration_cast<std::chrono::milliseconds>(defaults::kInterfaceRetryMin);
    bump(c.reopens);
    c.up.store(true);
    log()->info("{}: capturing (link type {})", name, link);
    {
      std::lock_guard<std::mutex> lock(live_mutex_);
      live_sources_[s] = &src;
    }
    auto last_stats = std::chrono::steady_clock::now();
    capture::SourceStats base{};
    (void)src.stats(base);
    const int fd = src.selectable_fd();
    while (!stop_capture_.load(std::memory_order_relaxed)) {
      // Wait for packets ourselves: libpcap's nflog reader blocks in recv() and ignores both its
      // timeout and pcap_breakloop(), so only a bounded poll() lets a stop be noticed in time.
      if (fd >= 0) {
        pollfd pfd{fd, POLLIN, 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>(kLivePollTimeout.count()));
        if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
      }
      const auto status =
          src.dispatch([&](const capture::RawFrame& f) { route(s, link, f); }, kDispatchBatch);
      publish_rings(s);
      wake_workers();
      if (status == capture::ReadStatus::kError || status == capture::ReadStatus::kEnd) {
        bump(c.read_errors);
        log()->warn("{}: capture stopped: {}; reopening", name, src.last_error());
        break;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now - last_stats >= std::chrono::seconds(1)) {
        last_stats = now;
        capture::SourceStats st{};
        if (src.stats(st)) {
          c.kernel_drops.store(st.dropped, std::memory_order_relaxed);
          c.if_drops.store(st.if_dropped, std::memory_order_relaxed);
        }
      }
    }
    {
      std::lock_guard<std::mutex> lock(live_mutex_);
      live_sources_[s] = nullptr;
    }
    c.up.store(false);
  }
}

bool Pipeline::drain_once(std::size_t w) {
  WorkerSlot& slot = *workers_[w];
  bool any = false;
  for (auto& ring : slot.rings) {
    for (std::size_t n = 0; n < kDrainBatch; ++n) {
      std::size_t size = 0;
      const std::uint8_t* rec = ring->peek(size);
      if (rec == nullptr) break;
      RingRecord header;
      std::memcpy(&header, rec, sizeof header);
      header.packet.l3 = rec + sizeof header;
      slot.worker->handle(header.packet, header.source);
      ring->consume();
      any = true;
    }
    ring->publish_reads();  // once per batch: see ByteRing::stage
  }
  return any;
}

void Pipeline::worker_loop(std::size_t w) {
  WorkerSlot& slot = *workers_[w];
  auto rings_empty = [&] {
    for (auto& r : slot.rings) {
      if (!r->empty()) return false;
    }
    return true;
  };
  for (;;) {
    slot.worker->poll();
    if (drain_once(w)) continue;
    if (capture_done_.load(std::memory_order_acquire)) {
      if (rings_empty()) break;
      continue;
    }
    slot.sleeping.store(true);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (rings_empty() && !capture_done_.load()) {
      std::unique_lock<std::mutex> lock(slot.mutex);
      slot.cv.wait_for(lock, kIdleWait);
    }
    slot.sleeping.store(false);
    if (options_.live) slot.worker->tick(wall_us());
  }
  slot.worker->finish();
  worker_finished();
}

void Pipeline::wake_workers() noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (auto& slot : workers_) {
    if (slot->sleeping.load(std::memory_order_relaxed)) {
      std::lock_guard<std::mutex> lock(slot->mutex);
      slot->cv.notify_one();
    }
  }
}

std::vector<std::string> Pipeline::file_errors() const {
  std::lock_guard<std::mutex> lock(errors_mutex_);
  return file_errors_;
}

std::vector<SourceSnapshot> Pipeline::source_snapshots() const {
  std::vector<SourceSnapshot> out;
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    const SourceCounters& c = *source_counters_[i];
    SourceSnapshot s{};
    s.name = sources_[i];
    s.frames = c.frames.load(std::memory_order_relaxed);
    s.bytes = c.bytes.load(std::memory_order_relaxed);
    s.queue_full = c.queue_full.load(std::memory_order_relaxed);
    s.kernel_drops = c.kernel_drops.load(std::memory_order_relaxed);
    s.if_drops = c.if_drops.load(std::memory_order_relaxed);
    s.read_errors = c.read_errors.load(std::memory_order_relaxed);
    s.reopens = c.reopens.load(std::memory_order_relaxed);
    s.up = c.up.load(std::memory_order_relaxed);
    for (std::size_t d = 0; d < s.decode.size(); ++d)
      s.decode[d] = c.decode[d].load(std::memory_order_relaxed);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<WorkerSnapshot> Pipeline::worker_snapshots() const {
  std::vector<WorkerSnapshot> out;
  for (const auto& slot : workers_) out.push_back(slot->worker->snapshot());
  return out;
}

}  // namespace ctlabeld::app
