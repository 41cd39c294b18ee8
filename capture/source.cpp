// SPDX-License-Identifier: GPL-3.0-or-later
// libpcap packet sources: files and live devices, opened the long way with every error named.
#include "ctlabeld/capture/source.hpp"

#include <pcap/pcap.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string_view>
#include <utility>
#include <vector>

#include "ctlabeld/capture/packet.hpp"
#include "ctlabeld/common/logger.hpp"

namespace ctlabeld::capture {
namespace {

constexpr std::size_t kFileBufferBytes = 1u << 20;

std::shared_ptr<spdlog::logger> logger() { return cached_stage_logger<"capture">(); }

// Owns a compiled filter program until pcap_setfilter has copied it.
class BpfProgram {
 public:
  BpfProgram() = default;
  BpfProgram(const BpfProgram&) = delete;
  BpfProgram& operator=(const BpfProgram&) = delete;
  ~BpfProgram() {
    if (compiled_) pcap_freecode(&program_);
  }
  bpf_program* get() noexcept { return &program_; }
  void mark_compiled() noexcept { compiled_ = true; }

 private:
  bpf_program program_{};
  bool compiled_ = false;
};

// Compiles and installs `filter` on `p`; an error names the source and the filter text.
Status apply_filter(pcap_t* p, const std::string& source, const std::string& filter) {
  if (filter.empty()) return ok_status();
  BpfProgram program;
  // The netmask only matters for "ip broadcast"; "any" and files have none to look up.
  if (pcap_compile(p, program.get(), filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    return Status::failure(source + ": BPF filter '" + filter + "' does not compile: " +
                           pcap_geterr(p) + "; fix the expression (syntax: man 7 pcap-filter)");
  }
  program.mark_compiled();
  if (pcap_setfilter(p, program.get()) != 0) {
    return Status::failure(source + ": pcap_setfilter('" + filter + "') failed: " + pcap_geterr(p));
  }
  return ok_status();
}

void warn_if_unsupported_link(pcap_t* p, const std::string& source) {
  const int dlt = pcap_datalink(p);
  if (is_supported_link(dlt)) return;
  const char* dlt_name = pcap_datalink_val_to_name(dlt);
  logger()->warn("{}: link type {} ({}) is not decoded; its frames are counted as unsupported_link",
                 source, dlt, dlt_name != nullptr ? dlt_name : "unknown");
}

// What to try when pcap_activate fails, by its status.
const char* activate_hint(int status) {
  switch (status) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
      return "no such interface; check `ip link` (or `tcpdump -D`) for the name";
    case PCAP_ERROR_PERM_DENIED:
      return "needs CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode) or root";
    case PCAP_ERROR_PROMISC_PERM_DENIED:
      return "promiscuous mode needs CAP_NET_ADMIN; run with it or turn promiscuous off";
    case PCAP_ERROR_IFACE_NOT_UP:
      return "the interface is down; bring it up with `ip link set DEV up`";
    case PCAP_ERROR_RFMON_NOTSUP: return "monitor mode is not supported on this interface";
    default: return "libpcap's reason is in parentheses";
  }
}

// NFLOG group numbers from "nflog" / "nflog:N[,M...]"; nothing for other devices. `error` is
// set when the text after "nflog:" is not a list of groups 0-65535.
std::vector<unsigned long> nflog_groups(const std::string& device, std::string& error) {
  std::vector<unsigned long> groups;
  if (device == "nflog") return {0};
  if (device.rfind("nflog:", 0) != 0) return groups;
  std::string_view rest = std::string_view(device).substr(6);
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const bool digits = !item.empty() && item.size() <= 9 &&
                        item.find_first_not_of("0123456789") == std::string_view::npos;
    if (!digits || std::stoul(std::string(item)) > 65535) {
      error = "capture source '" + device + "': NFLOG group '" + std::string(item) +
              "' is not a number from 0 to 65535; use the group of your nft rule's "
              "`log group N` (for example -i nflog:5)";
      return {};
    }
    groups.push_back(std::stoul(std::string(item)));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return groups;
}

// The netlink port that has bound NFLOG group `group` in this network namespace, from
// /proc/net/netfilter/nfnetlink_log ("group portid ..."); 0 when none or unknown.
unsigned long nflog_owner(unsigned long group) {
  std::FILE* f = std::fopen("/proc/net/netfilter/nfnetlink_log", "re");
  if (f == nullptr) return 0;
  unsigned long g = 0, port = 0;
  unsigned long owner = 0;
  char rest[256];
  while (std::fscanf(f, "%lu %lu", &g, &port) == 2) {
    if (g == group) owner = port;
    if (std::fgets(rest, sizeof rest, f) == nullptr) break;
  }
  std::fclose(f);
  return owner;
}

std::string nflog_busy(const std::string& device, unsigned long group, unsigned long port) {
  return "capture source '" + device + "': NFLOG group " + std::to_string(group) +
         " is already bound by another program" +
         (port != 0 ? " (netlink port " + std::to_string(port) + ")" : std::string()) +
         " — another ctlabeld, ulogd or `tcpdump -i nflog:" + std::to_string(group) +
         "`? The kernel gives a group to one reader only: stop that program, or log to another "
         "group (nft `log group N`) and capture that";
}

// Each pcap_set_* before activation can only fail with PCAP_ERROR_ACTIVATED or a bad value.
Status check_set(int rc, pcap_t* p, const std::string& device, const char* call) {
  if (rc == 0) return ok_status();
  return Status::failure("interface '" + device + "': " + call +
                         " failed: " + pcap_statustostr(rc) + " " + pcap_geterr(p));
}

struct DispatchContext {
  const PacketSource::FrameFn* fn;
  pcap_t* handle;
  std::string* callback_error;
};

void on_frame(u_char* user, const pcap_pkthdr* header, const u_char* bytes) noexcept {
  auto* ctx = reinterpret_cast<DispatchContext*>(user);
  // The frame goes on even when caplen > len or the time is nonsense: decode() judges bytes, and
  // a time before 1970 or beyond what microseconds in 64 bits hold (pcapng allows it) becomes 0.
  std::int64_t us = 0;
  if (__builtin_mul_overflow(static_cast<std::int64_t>(header->ts.tv_sec), std::int64_t{1'000'000},
                             &us) ||
      __builtin_add_overflow(us, static_cast<std::int64_t>(header->ts.tv_usec), &us)) {
    us = 0;
  }
  const RawFrame frame{bytes, header->caplen, header->len,
                       us > 0 ? static_cast<std::uint64_t>(us) : 0};
  try {
    (*ctx->fn)(frame);
  } catch (const std::exception& e) {
    // Unwinding through libpcap's C frames is undefined: stop the loop and report instead.
    *ctx->callback_error = std::string("frame callback threw: ") + e.what();
    pcap_breakloop(ctx->handle);
  } catch (...) {
    *ctx->callback_error = "frame callback threw a non-standard exception";
    pcap_breakloop(ctx->handle);
  }
}

}  // namespace

Status check_source(const std::string& name, bool live) {
  if (!live) {
    auto opened = files::open_read(name, capture_file_policy());
    if (!opened) return Status::failure(opened.errors());
    return ok_status();
  }
  std::string error;
  const auto groups = nflog_groups(name, error);
  if (!error.empty()) return Status::failure(std::move(error));
  if (groups.empty()) return ok_status();
  // Bind the groups once, here, so a group taken by another program is an error at start
  // instead of a daemon that says "started" and captures nothing.
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  std::unique_ptr<pcap, PacketSource::Closer> probe(pcap_create(name.c_str(), errbuf));
  if (!probe) return Status::failure("capture source '" + name + "': pcap_create: " + errbuf);
  if (pcap_activate(probe.get()) >= 0) return ok_status();
  const std::string detail = pcap_geterr(probe.get());
  for (const unsigned long g : groups) {
    if (const unsigned long port = nflog_owner(g); port != 0) {
      return Status::failure(nflog_busy(name, g, port));
    }
  }
  if (detail.find("Operation not permitted") != std::string::npos) {
    // Root has CAP_NET_ADMIN here, so EPERM means the group is taken (the owner is unknown when
    // /proc/net is hidden, as under the unit's ProcSubset=pid).
    if (::geteuid() == 0) return Status::failure(nflog_busy(name, groups.front(), 0));
    return Status::failure("capture source '" + name + "': cannot bind the NFLOG group (" + detail +
                           "): another program has bound it (ulogd, tcpdump, another "
                           "ctlabeld?), or ctlabeld lacks CAP_NET_ADMIN");
  }
  return Status::failure("capture source '" + name + "': cannot bind it: " + detail);
}

files::ReadPolicy capture_file_policy() {
  files::ReadPolicy policy;
  policy.what = "capture file";
  policy.why_regular =
      "every worker reads the whole file from its start, and a pipe can be read "
      "only once";
  return policy;
}

void PacketSource::Closer::operator()(pcap* p) const noexcept { pcap_close(p); }

PacketSource::PacketSource(std::unique_ptr<pcap, Closer> handle, std::string name, bool live)
    : handle_(std::move(handle)), name_(std::move(name)), live_(live) {}
PacketSource::PacketSource(PacketSource&&) noexcept = default;
PacketSource& PacketSource::operator=(PacketSource&& other) noexcept {
  // The old handle closes (and fcloses) before its FILE's buffer goes.
  handle_ = std::move(other.handle_);
  file_buffer_ = std::move(other.file_buffer_);
  name_ = std::move(other.name_);
  live_ = other.live_;
  callback_error_ = std::move(other.callback_error_);
  return *this;
}
PacketSource::~PacketSource() = default;

Expected<PacketSource> PacketSource::open_file(const std::string& path,
                                               const std::string& bpf_filter) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  auto failure = [&path](const std::string& why) {
    return Expected<PacketSource>::failure(path + ": cannot read as a pcap or pcapng capture: " +
                                           why + "; check the path and that it is a capture file");
  };
  // We open the FILE ourselves to give it a large buffer: libpcap reads a file with two
  // fread()s per record, and stdio's default st_blksize buffer (4 KiB) turns those into a read()
  // syscall every few packets, a sixth of the -r profile on a virtual machine.
  // Through the file policy: a pipe (-r /dev/stdin), a device or a directory is refused with
  // what it is, before libpcap reads a byte.
  auto opened = files::open_read(path, capture_file_policy());
  if (!opened) return Expected<PacketSource>::failure(opened.errors());
  std::FILE* fp = ::fdopen(opened->fd.get(), "rb");
  if (fp == nullptr) return failure(path + ": " + std::strerror(errno));
  (void)opened->fd.release();  // the FILE owns it now
  auto buffer = std::make_unique_for_overwrite<char[]>(kFileBufferBytes);
  if (std::setvbuf(fp, buffer.get(), _IOFBF, kFileBufferBytes) != 0)
    buffer.reset();  // default buffer
  std::unique_ptr<pcap, Closer> handle(
      pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, errbuf));
  if (!handle) {
    std::fclose(fp);  // on failure libpcap leaves the FILE to us
    return failure(errbuf);
  }
  if (auto filtered = apply_filter(handle.get(), path, bpf_filter); !filtered) {
    return Expected<PacketSource>::failure(filtered.errors());
  }
  warn_if_unsupported_link(handle.get(), path);
  PacketSource source(std::move(handle), path, false);
  source.file_buffer_ = std::move(buffer);
  return source;
}

Expected<PacketSource> PacketSource::open_live(const std::string& device,
                                               const LiveOptions& options) {
  using Result = Expected<PacketSource>;
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  std::unique_ptr<pcap, Closer> handle(pcap_create(device.c_str(), errbuf));
  if (!handle) {
    return Result::failure("interface '" + device + "': pcap_create failed: " + errbuf);
  }
  pcap_t* p = handle.get();
  const auto timeout_ms = static_cast<int>(options.timeout.count());
  Errors errors;
  const std::pair<int, const char*> sets[] = {
      {pcap_set_snaplen(p, options.snaplen), "pcap_set_snaplen"},
      {pcap_set_promisc(p, options.promiscuous ? 1 : 0), "pcap_set_promisc"},
      {pcap_set_timeout(p, timeout_ms), "pcap_set_timeout"},
      {pcap_set_buffer_size(p, options.buffer_bytes), "pcap_set_buffer_size"},
      {pcap_set_immediate_mode(p, options.immediate ? 1 : 0), "pcap_set_immediate_mode"},
  };
  for (const auto& [rc, call] : sets) {
    if (auto st = check_set(rc, p, device, call); !st) errors.push_back(st.errors().front());
  }
  if (!errors.empty()) return Result::failure(std::move(errors));

  const int status = pcap_activate(p);
  if (status < 0) {
    // For PCAP_ERROR the detail is in pcap_geterr; for the specific codes it may add to it.
    const std::string detail = pcap_geterr(p);
    const std::string summary = pcap_statustostr(status);
    std::string error;
    const auto groups = nflog_groups(device, error);
    if (!error.empty()) return Result::failure(std::move(error));
    for (const unsigned long g : groups) {
      if (const unsigned long port = nflog_owner(g); port != 0) {
        return Result::failure(nflog_busy(device, g, port));
      }
    }
    std::string message = "interface '" + device + "': pcap_activate failed: " + summary;
    if (!detail.empty() && detail != summary) message += " (" + detail + ")";
    message += "; ";
    if (!groups.empty() && detail.find("Operation not permitted") != std::string::npos) {
      message +=
          "the NFLOG group is bound by another program (ulogd, tcpdump, another "
          "ctlabeld?), or ctlabeld lacks CAP_NET_ADMIN";
    } else {
      message += activate_hint(status);
    }
    return Result::failure(std::move(message));
  }
  if (status > 0) {
    std::string detail = pcap_geterr(p);
    logger()->warn("interface '{}': pcap_activate warning: {}{}", device, pcap_statustostr(status),
                   detail.empty() ? std::string() : " (" + detail + ")");
  }
  if (auto filtered = apply_filter(p, "interface '" + device + "'", options.bpf_filter);
      !filtered) {
    return Result::failure(filtered.errors());
  }
  warn_if_unsupported_link(p, "interface '" + device + "'");
  logger()->info(
      "interface '{}': capturing, link type {}, snaplen {}, buffer {} bytes{}{}", device,
      pcap_datalink(p), pcap_snapshot(p), options.buffer_bytes,
      options.promiscuous ? ", promiscuous" : "",
      options.bpf_filter.empty() ? std::string() : ", filter '" + options.bpf_filter + "'");
  return PacketSource(std::move(handle), device, true);
}

ReadStatus PacketSource::dispatch(const FrameFn& fn, int max_frames) {
  callback_error_.clear();
  DispatchContext ctx{&fn, handle_.get(), &callback_error_};
  const int cnt = max_frames > 0 ? max_frames : -1;
  const int rc = pcap_dispatch(handle_.get(), cnt, &on_frame, reinterpret_cast<u_char*>(&ctx));
  if (!callback_error_.empty()) return ReadStatus::kError;
  if (rc > 0) return ReadStatus::kOk;
  switch (rc) {
    case 0:
      // A savefile returns 0 only at its end; a live device returns 0 when the timeout passed.
      return live_ ? ReadStatus::kOk : ReadStatus::kEnd;
    case PCAP_ERROR_BREAK: return ReadStatus::kBroken;
    case PCAP_ERROR: return ReadStatus::kError;
    default:
      // libpcap documents no other return; treat one as an error rather than loop on it.
      callback_error_ = "pcap_dispatch returned unexpected " + std::to_string(rc);
      return ReadStatus::kError;
  }
}

void PacketSource::break_loop() noexcept { pcap_breakloop(handle_.get()); }

int PacketSource::datalink() const noexcept { return pcap_datalink(handle_.get()); }

int PacketSource::snapshot() const noexcept { return pcap_snapshot(handle_.get()); }

std::string PacketSource::last_error() const {
  const std::string detail = callback_error_.empty() ? pcap_geterr(handle_.get()) : callback_error_;
  return name_ + ": " + (detail.empty() ? "unknown libpcap error" : detail);
}

bool PacketSource::stats(SourceStats& out) const {
  if (!live_) return false;
  pcap_stat st{};
  if (pcap_stats(handle_.get(), &st) != 0) return false;
  out.received = st.ps_recv;
  out.dropped = st.ps_drop;
  out.if_dropped = st.ps_ifdrop;
  return true;
}

int PacketSource::selectable_fd() const noexcept {
  return live_ ? pcap_get_selectable_fd(handle_.get()) : -1;
}

}  // namespace ctlabeld::capture
