// SPDX-License-Identifier: GPL-3.0-or-later
// Internal to conntrack/: ctnetlink messages (built with libnetfilter_conntrack) and one batched
// send-and-collect-replies exchange over a libmnl socket.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "ctlabeld/common/expected.hpp"
#include "ctlabeld/common/labels.hpp"
#include "ctlabeld/common/net.hpp"
#include "ctlabeld/conntrack/label_writer.hpp"

struct mnl_socket;

namespace ctlabeld::conntrack::netlink {

struct MnlSocketDeleter {
  void operator()(mnl_socket* socket) const noexcept;
};
using MnlSocketPtr = std::unique_ptr<mnl_socket, MnlSocketDeleter>;

// Room reserved for one message; real ones are under 200 bytes.
inline constexpr std::size_t kMaxMessageBytes = 512;

// Opens and binds a NETLINK_NETFILTER socket. `rcvbuf` 0 keeps the kernel default. Errors
// replies carry only the header (NETLINK_CAP_ACK), so a full batch of them fits the buffer.
[[nodiscard]] Expected<MnlSocketPtr> open_socket(int rcvbuf);

// Which tuple the kernel should look the connection up by.
enum class Lookup : std::uint8_t {
  kOriginal,  // the update's tuple is the entry's original tuple
  kReply,     // the update's tuple was captured on the NAT'd side: look up reversed(tuple)
              // as the entry's reply tuple
};

// Each put_* appends one message at `out` (which has kMaxMessageBytes of room) and returns its
// length, or 0 when the tuple cannot be expressed (unknown IP version, ICMP type without reply).
// `ack`: ask for an acknowledgement even on success (errors are always reported).

// IPCTNL_MSG_CT_NEW without NLM_F_CREATE: an update of labels under `update.mask` and, when
// `update.mark_mask` is not 0, of the mark under it (CTA_MARK + CTA_MARK_MASK). An empty label
// mask with a mark mask sends no CTA_LABELS.
[[nodiscard]] std::size_t put_label_update(std::byte* out, const LabelUpdate& update, Lookup lookup,
                                           std::uint32_t seq, bool ack);
// IPCTNL_MSG_CT_NEW with NLM_F_CREATE|NLM_F_EXCL.
[[nodiscard]] std::size_t put_create(std::byte* out, const FlowTuple& original,
                                     const FlowTuple& reply, std::uint32_t timeout_s,
                                     const std::optional<LabelBits>& labels,
                                     const std::optional<LabelBits>& mask, std::uint32_t seq,
                                     bool ack);
// IPCTNL_MSG_CT_DELETE by original tuple.
[[nodiscard]] std::size_t put_delete(std::byte* out, const FlowTuple& original, std::uint32_t seq,
                                     bool ack);

// Sets NLM_F_ACK on the message at `message` (the last of a batch).
void request_ack(std::byte* message) noexcept;

// The outcome of one batch: messages numbered first_seq.. first_seq+count-1, only the last
// asking for an acknowledgement. The kernel handles a netlink batch in order inside sendmsg,
// so the last acknowledgement proves every earlier message was handled, and each error arrives
// as its own reply: silence means success.
struct BatchReply {
  std::vector<int> errors;  // per message: 0 success, else a positive errno
  bool complete = false;    // the last message was answered: `errors` is exact
  bool enobufs = false;     // replies were dropped (socket buffer full): zeros may be unknown
  int send_errno = 0;       // sendmsg failed: nothing was handled
  std::uint64_t syscalls = 0;
};
[[nodiscard]] BatchReply exchange(mnl_socket* socket, std::span<const std::byte> messages,
                                  std::uint32_t first_seq, std::size_t count,
                                  std::chrono::milliseconds timeout);

// Parses the attributes of a message built by put_* back into a tuple view, for tests.
struct ParsedMessage {
  std::uint16_t nlmsg_type = 0;
  std::uint16_t nlmsg_flags = 0;
  std::uint8_t family = 0;
  bool has_original = false;
  bool has_reply = false;
  FlowTuple original{};
  FlowTuple reply{};
  std::optional<LabelBits> labels;
  std::optional<LabelBits> mask;
  std::optional<std::uint32_t> timeout_s;
  std::optional<std::uint32_t> mark;
  std::optional<std::uint32_t> mark_mask;
};
[[nodiscard]] std::optional<ParsedMessage> parse_message(std::span<const std::byte> message);

}  // namespace ctlabeld::conntrack::netlink
