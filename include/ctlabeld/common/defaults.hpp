// SPDX-License-Identifier: GPL-3.0-or-later
// Every tunable in one place, units in the type. Config structs default to these.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace ctlabeld::defaults {

// capture/
inline constexpr int kSnaplen = 65535;
inline constexpr int kPcapBufferBytes = 8 * 1024 * 1024;
inline constexpr std::chrono::milliseconds kPcapTimeout{100};
inline constexpr std::size_t kQueueCapacity = 8192;  // packets per worker queue
inline constexpr std::chrono::seconds kInterfaceRetryMin{1};
inline constexpr std::chrono::seconds kInterfaceRetryMax{30};

// classify/
inline constexpr std::uint32_t kMaxDpiPackets = 32;  // give up on nDPI after this many packets
inline constexpr std::size_t kMaxFlows = 262144;     // per worker; LRU eviction beyond
inline constexpr std::chrono::seconds kTcpIdle{300};
inline constexpr std::chrono::seconds kTcpClosedIdle{10};
inline constexpr std::chrono::seconds kUdpIdle{60};
inline constexpr std::chrono::seconds kOtherIdle{30};
// nDPI gives its verdict on a flow it still inspects once the flow is quiet this long.
inline constexpr std::chrono::seconds kDpiIdle{30};
inline constexpr std::chrono::seconds kExpiryScanInterval{1};
// Application rules (etc/ctlabeld/app_rules.conf): loaded when present unless set otherwise.
inline constexpr const char* kAppRulesFile = "/etc/ctlabeld/app_rules.conf";
inline constexpr const char* kProtosFile = "/etc/ctlabeld/protos.txt";
// Learned client endpoints (Zoom's H4), shared by all workers: 40 bytes a slot.
inline constexpr std::size_t kEndpointSlots = 4096;
inline constexpr std::chrono::seconds kEndpointTtl{120};

// conntrack/
inline constexpr std::size_t kWriterQueueCapacity = 65536;
inline constexpr std::size_t kWriterBatch = 256;  // messages per sendmsg
// The scheduler slice a writer thread asks for (see common/thread_latency.hpp): its wake-up
// preempts busy threads, which keeps the p99 of the hand-off low on a loaded machine.
inline constexpr std::chrono::microseconds kWriterSlice{100};
inline constexpr std::uint32_t kMaxLabelBit = 127;
inline constexpr const char* kConnlabelConf = "/etc/xtables/connlabel.conf";
inline constexpr const char* kNftConnlabelConf = "/etc/connlabel.conf";

// flowlog/ (log targets): what one file may hold; records beyond either cap are counted as
// dropped, so a flood of matches costs bounded memory and disk per interval.
inline constexpr std::size_t kLogMaxRecordsPerFile = 100000;
inline constexpr std::size_t kLogMaxFileBytes = 32 * 1024 * 1024;
inline constexpr std::size_t kLogQueueCapacity = 16384;  // records in flight to the log writer
// The log writer looks at the wall clock at least this often (intervals end on time even when
// the clock is stepped).
inline constexpr std::chrono::milliseconds kLogTick{500};

// control/ (the control socket, `ctlabeld ctl` and the metrics file)
inline constexpr const char* kControlSocket = "/run/ctlabeld/ctlabeld.sock";
inline constexpr unsigned kControlSocketMode = 0660;
inline constexpr std::size_t kControlMaxClients = 64;
inline constexpr std::size_t kControlMaxRequestBytes = 4096;           // one request line
inline constexpr std::size_t kControlClientOutputBytes = 1024 * 1024;  // per client, then dropped
// Unread replies past which a client's next requests wait (watch events have no such brake).
inline constexpr std::size_t kControlReplyBackpressureBytes = 64 * 1024;
inline constexpr std::chrono::seconds kControlIdleTimeout{60};   // connected, no request
inline constexpr std::chrono::seconds kControlReadTimeout{5};    // a request line left unfinished
inline constexpr std::chrono::seconds kControlWriteTimeout{10};  // a reply not read at all
inline constexpr std::size_t kControlWatchQueue = 4096;  // watch events in flight, all watchers
inline constexpr std::size_t kControlFlowsLimit = 1000;  // `flows` without --limit
inline constexpr std::size_t kControlFlowsMaxLimit = 100000;

// daemon
inline constexpr const char* kConfigFile = "/etc/ctlabeld/actions.json";
inline constexpr std::chrono::seconds kStatsInterval{60};
inline constexpr const char* kAddressGroupsFile = "/etc/netifyd/address-groups.json";
inline constexpr const char* kNamesFile = "/etc/ctlabeld/netify-names.tsv";

// Files ctlabeld reads (common/file_policy): size caps, far above any real file.
inline constexpr std::uint64_t kMaxActionsFileBytes = 16 * 1024 * 1024;
inline constexpr std::uint64_t kMaxConnlabelBytes = 1024 * 1024;
inline constexpr std::uint64_t kMaxProtosFileBytes = 64 * 1024 * 1024;
// JSON nesting deeper than this is refused before parsing (a Netify file nests about 5 deep).
inline constexpr std::size_t kMaxJsonDepth = 64;

}  // namespace ctlabeld::defaults
