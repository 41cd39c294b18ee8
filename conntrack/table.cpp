// SPDX-License-Identifier: GPL-3.0-or-later
// Batched creates and deletes, and a dump with labels: for tests, the benchmark and self-check.
#include "ctlabeld/conntrack/table.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "conntrack/netlink.hpp"
#include "ctlabeld/common/icmp.hpp"

namespace ctlabeld::conntrack {

namespace {

constexpr std::chrono::milliseconds kReplyTimeout{2000};

// Sends `count` messages produced by `put(out, seq, ack)` in batches and tallies the answers.
template <typename Put>
Expected<BatchResult> run_batches(std::size_t count, std::size_t batch, Put put) {
  auto socket = netlink::open_socket(static_cast<int>(batch * 2048));
  if (!socket) return Expected<BatchResult>::failure(socket.errors());
  if (batch == 0) batch = 1;
  std::vector<std::byte> buffer(batch * netlink::kMaxMessageBytes);
  BatchResult result;
  std::uint32_t seq = 1;
  for (std::size_t start = 0; start < count; start += batch) {
    const std::size_t n = std::min(batch, count - start);
    std::size_t used = 0;
    std::size_t built = 0;
    std::size_t last = 0;
    const std::uint32_t first_seq = seq;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t len = put(buffer.data() + used, start + i, seq, false);
      if (len == 0) {
        ++result.failed;
        ++result.errors_by_errno[EINVAL];
        continue;
      }
      last = used;
      used += len;
      ++built;
      ++seq;
    }
    if (built == 0) continue;
    netlink::request_ack(buffer.data() + last);
    auto reply = netlink::exchange(socket->get(), std::span(buffer.data(), used), first_seq, built,
                                   kReplyTimeout);
    if (reply.send_errno != 0) {
      return Expected<BatchResult>::failure(std::string("conntrack: sendmsg failed: ") +
                                            std::strerror(reply.send_errno));
    }
    for (std::size_t i = 0; i < built; ++i) {
      const int err = reply.errors[i];
      if (err == 0 && reply.complete) {
        ++result.ok;
      } else {
        ++result.failed;
        ++result.errors_by_errno[err == 0 ? ENOBUFS : err];
      }
    }
  }
  return result;
}

}  // namespace

std::optional<FlowTuple> reversed(const FlowTuple& tuple) noexcept {
  FlowTuple out = tuple;
  out.src = tuple.dst;
  out.dst = tuple.src;
  out.src_port = tuple.dst_port;
  out.dst_port = tuple.src_port;
  if (is_icmp(tuple.ip_protocol)) {
    auto type = icmp_partner(tuple.ip_protocol, tuple.icmp_type);
    if (!type) return std::nullopt;
    out.icmp_type = *type;
  }
  return out;
}

Expected<BatchResult> create_entries(const std::vector<EntrySpec>& entries, std::size_t batch) {
  return run_batches(
      entries.size(), batch,
      [&](std::byte* out, std::size_t i, std::uint32_t seq, bool ack) -> std::size_t {
        const EntrySpec& e = entries[i];
        const auto reply = e.reply ? e.reply : reversed(e.original);
        if (!reply) return 0;
        return netlink::put_create(out, e.original, *reply, e.timeout_s, e.labels, e.labels, seq,
                                   ack);
      });
}

Expected<BatchResult> delete_entries(const std::vector<FlowTuple>& originals, std::size_t batch) {
  return run_batches(originals.size(), batch,
                     [&](std::byte* out, std::size_t i, std::uint32_t seq, bool ack) {
                       return netlink::put_delete(out, originals[i], seq, ack);
                     });
}

namespace {

int collect_entry(const nlmsghdr* nlh, void* data) {
  auto* out = static_cast<std::vector<EntryLabels>*>(data);
  const std::size_t len = nlh->nlmsg_len;
  auto parsed = netlink::parse_message(std::span(reinterpret_cast<const std::byte*>(nlh), len));
  if (!parsed || !parsed->has_original) return MNL_CB_OK;
  EntryLabels entry;
  entry.original = parsed->original;
  entry.reply = parsed->reply;
  if (parsed->labels) {
    entry.has_labels = true;
    entry.labels = *parsed->labels;
  }
  entry.mark = parsed->mark.value_or(0);
  out->push_back(entry);
  return MNL_CB_OK;
}

}  // namespace

Expected<std::vector<EntryLabels>> dump_entries() {
  using Result = Expected<std::vector<EntryLabels>>;
  auto socket = netlink::open_socket(0);
  if (!socket) return Result::failure(socket.errors());
  std::array<std::byte, netlink::kMaxMessageBytes> request{};
  nlmsghdr* nlh = mnl_nlmsg_put_header(request.data());
  nlh->nlmsg_type = static_cast<std::uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET);
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = 1;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;  // a dump may span families; only updates need one
  nfg->version = NFNETLINK_V0;
  if (mnl_socket_sendto(socket->get(), nlh, nlh->nlmsg_len) < 0) {
    return Result::failure(std::string("conntrack: dump request failed: ") + std::strerror(errno));
  }
  std::vector<EntryLabels> entries;
  std::vector<std::byte> buffer(32768);  // libmnl's MNL_SOCKET_DUMP_SIZE (1.0.5+)
  const unsigned portid = mnl_socket_get_portid(socket->get());
  // Bounded: a dump ends with NLMSG_DONE; the cap only guards against a broken kernel.
  for (int rounds = 0; rounds < 1'000'000; ++rounds) {
    const ssize_t n = mnl_socket_recvfrom(socket->get(), buffer.data(), buffer.size());
    if (n < 0) {
      return Result::failure(std::string("conntrack: dump failed: ") + std::strerror(errno));
    }
    const int ret =
        mnl_cb_run(buffer.data(), static_cast<std::size_t>(n), 1, portid, collect_entry, &entries);
    if (ret == MNL_CB_STOP) return entries;
    if (ret < 0) {
      return Result::failure(std::string("conntrack: dump failed: ") + std::strerror(errno));
    }
  }
  return Result::failure("conntrack: dump did not end");
}

}  // namespace ctlabeld::conntrack
