// SPDX-License-Identifier: GPL-3.0-or-later
// Element adds and deletes on nftables sets in batched netlink transactions (libnftnl, libmnl),
// with per-element outcomes, managed table/set creation, flushes and start-up self-checks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/set_member.hpp"
#include "ctlabeld/nftset/set_spec.hpp"

struct mnl_socket;

namespace ctlabeld::nftset {

// A set attached to a writer.
using SetHandle = std::uint16_t;

struct Request {
  SetOp op = SetOp::kAdd;
  SetHandle set = 0;
  MemberFields member;
  std::chrono::seconds timeout{0};  // 0: the element never expires (adds and refreshes)
};

struct Counters {
  std::uint64_t transactions = 0;  // batches sent (resends included)
  std::uint64_t resends = 0;       // batches sent again without the elements that failed
  std::uint64_t applied = 0;
  std::uint64_t absent = 0;
  std::uint64_t set_full = 0;
  std::uint64_t no_set = 0;
  std::uint64_t rejected = 0;
  std::uint64_t failed = 0;
  std::uint64_t syscalls = 0;
};

struct Options {
  std::size_t max_batch =
      1024;  // element messages per transaction (larger: no faster, more memory)
  int socket_buffer = 16 << 20;             // send and receive buffer (SO_*BUFFORCE), bytes
  std::chrono::milliseconds timeout{2000};  // for the kernel's answer to a transaction
  // Refresh timeouts by re-adding the element (kernels that update an existing element's
  // timeout: Linux 6.12 on). Unset: probe the kernel at open (probe_timeout_refresh).
  std::optional<bool> refresh_in_place;
  std::uint32_t first_seq = 1;  // netlink sequence numbers start here (tests: near the wrap)
};

// Does this kernel restart an existing element's timeout when the element is added again?
// Checked on a scratch table created and removed here.
[[nodiscard]] Expected<bool> probe_timeout_refresh(mnl_socket* socket);

// Owned and called by one thread (the target's writer thread); not thread-safe.
class SetWriter {
 public:
  [[nodiscard]] static Expected<SetWriter> open(const Options& options = {});
  SetWriter(SetWriter&&) noexcept;
  SetWriter& operator=(SetWriter&&) noexcept;
  ~SetWriter();

  // Checks the set (creates table and set when managed and missing; flushes it when
  // flush_on_create) and returns its handle. Errors say what is wrong and how to fix it: a
  // missing set, a key type that does not match the fields, no `timeout` flag.
  [[nodiscard]] Expected<SetHandle> attach(const SetSpec& spec);
  // The checks of attach() again for an attached set (a reload): a managed set removed
  // meanwhile is created again (not flushed); a set gone or changed is reported.
  [[nodiscard]] Status recheck(SetHandle set);

  // Applies the requests in as few transactions as the batch size allows and writes one
  // result per request. A failing element does not lose the others: the kernel aborts the whole
  // transaction, so the failed ones are taken out and the rest sent again.
  void apply(std::span<const Request> requests, std::span<MemberResult> results);

  // Empties an attached set.
  [[nodiscard]] Status flush(SetHandle set);
  // Clean shutdown: flushes the sets attached with flush_on_destroy.
  [[nodiscard]] Status shutdown();

  [[nodiscard]] bool refreshes_in_place() const noexcept;
  [[nodiscard]] const Counters& counters() const noexcept;
  [[nodiscard]] const SetSpec& spec(SetHandle set) const;

 private:
  struct State;
  explicit SetWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace ctlabeld::nftset
