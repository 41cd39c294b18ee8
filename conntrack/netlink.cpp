// SPDX-License-Identifier: GPL-3.0-or-later
// ctnetlink messages through libnetfilter_conntrack, and the batched exchange over libmnl.
#include "conntrack/netlink.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "ctlabeld/conntrack/table.hpp"

namespace ctlabeld::conntrack::netlink {

void MnlSocketDeleter::operator()(mnl_socket* socket) const noexcept { mnl_socket_close(socket); }

namespace {

struct NfctDeleter {
  void operator()(nf_conntrack* ct) const noexcept { nfct_destroy(ct); }
};
using NfctPtr = std::unique_ptr<nf_conntrack, NfctDeleter>;
struct BitmaskDeleter {
  void operator()(nfct_bitmask* mask) const noexcept { nfct_bitmask_destroy(mask); }
};
using BitmaskPtr = std::unique_ptr<nfct_bitmask, BitmaskDeleter>;

// libmnl's mnl_attr_for_each macros are C (void* arithmetic); this is the same walk in C++.
template <typename Visit>
void for_each_attr(const void* start, std::size_t length, Visit visit) {
  const auto* attr = static_cast<const nlattr*>(start);
  auto remaining = static_cast<int>(length);
  while (mnl_attr_ok(attr, remaining)) {
    visit(attr);
    remaining -= static_cast<int>(MNL_ALIGN(attr->nla_len));
    attr = mnl_attr_next(attr);
  }
}

void for_each_top_attr(const nlmsghdr* nlh, std::size_t extra, auto visit) {
  const std::size_t header = MNL_NLMSG_HDRLEN + MNL_ALIGN(extra);
  if (nlh->nlmsg_len < header) return;
  for_each_attr(reinterpret_cast<const std::byte*>(nlh) + header, nlh->nlmsg_len - header, visit);
}

void for_each_nested(const nlattr* nest, auto visit) {
  for_each_attr(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), visit);
}

std::uint8_t family_of(const FlowTuple& tuple) noexcept {
  if (tuple.ip_version == 4) return AF_INET;
  if (tuple.ip_version == 6) return AF_INET6;
  return 0;
}

BitmaskPtr to_bitmask(const LabelBits& bits) {
  BitmaskPtr mask(nfct_bitmask_new(static_cast<unsigned>(kMaxLabelBits - 1)));
  if (!mask) return mask;
  for (unsigned bit = 0; bit < kMaxLabelBits; ++bit) {
    if (bits.test(bit)) nfct_bitmask_set_bit(mask.get(), bit);
  }
  return mask;
}

// Sets `tuple` as the object's original tuple. libnetfilter_conntrack derives the reply ICMP
// type itself when the object is also given reply addresses.
void set_original(nf_conntrack* ct, const FlowTuple& tuple) {
  const std::uint8_t family = family_of(tuple);
  nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, family);
  if (family == AF_INET) {
    nfct_set_attr(ct, ATTR_ORIG_IPV4_SRC, tuple.src.bytes.data());
    nfct_set_attr(ct, ATTR_ORIG_IPV4_DST, tuple.dst.bytes.data());
  } else {
    nfct_set_attr(ct, ATTR_ORIG_IPV6_SRC, tuple.src.bytes.data());
    nfct_set_attr(ct, ATTR_ORIG_IPV6_DST, tuple.dst.bytes.data());
  }
  nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, tuple.ip_protocol);
  if (is_icmp(tuple.ip_protocol)) {
    nfct_set_attr_u8(ct, ATTR_ICMP_TYPE, tuple.icmp_type);
    nfct_set_attr_u8(ct, ATTR_ICMP_CODE, tuple.icmp_code);
    nfct_set_attr_u16(ct, ATTR_ICMP_ID, htons(tuple.icmp_id));
  } else {
    nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, htons(tuple.src_port));
    nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, htons(tuple.dst_port));
  }
}

void set_reply(nf_conntrack* ct, const FlowTuple& tuple) {
  const std::uint8_t family = family_of(tuple);
  nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, family);
  if (family == AF_INET) {
    nfct_set_attr(ct, ATTR_REPL_IPV4_SRC, tuple.src.bytes.data());
    nfct_set_attr(ct, ATTR_REPL_IPV4_DST, tuple.dst.bytes.data());
  } else {
    nfct_set_attr(ct, ATTR_REPL_IPV6_SRC, tuple.src.bytes.data());
    nfct_set_attr(ct, ATTR_REPL_IPV6_DST, tuple.dst.bytes.data());
  }
  nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, tuple.ip_protocol);
  if (!is_icmp(tuple.ip_protocol)) {
    nfct_set_attr_u16(ct, ATTR_REPL_PORT_SRC, htons(tuple.src_port));
    nfct_set_attr_u16(ct, ATTR_REPL_PORT_DST, htons(tuple.dst_port));
  }
}

// Labels are written under a mask: only the masked bits change, so bits set by others survive.
bool set_labels(nf_conntrack* ct, const LabelBits& bits, const LabelBits& mask) {
  BitmaskPtr value = to_bitmask(bits & mask);
  BitmaskPtr value_mask = to_bitmask(mask);
  if (!value || !value_mask) return false;
  nfct_set_attr(ct, ATTR_CONNLABELS, value.release());            // the object owns it now
  nfct_set_attr(ct, ATTR_CONNLABELS_MASK, value_mask.release());  // the object owns it now
  return true;
}

nlmsghdr* put_header(std::byte* out, std::uint8_t message, std::uint16_t flags, std::uint8_t family,
                     std::uint32_t seq) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(out);
  nlh->nlmsg_type = static_cast<std::uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | message);
  nlh->nlmsg_flags = flags;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = family;  // explicit: the kernel rejects AF_UNSPEC updates (EOPNOTSUPP)
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;
  return nlh;
}

std::size_t finish(nlmsghdr* nlh, const nf_conntrack* ct) {
  if (nfct_nlmsg_build(nlh, ct) < 0) return 0;
  if (nlh->nlmsg_len > kMaxMessageBytes) std::abort();  // a broken size invariant
  return nlh->nlmsg_len;
}

std::uint16_t request_flags(bool ack) {
  return static_cast<std::uint16_t>(NLM_F_REQUEST | (ack ? NLM_F_ACK : 0));
}

}  // namespace

Expected<MnlSocketPtr> open_socket(int rcvbuf) {
  MnlSocketPtr socket(mnl_socket_open(NETLINK_NETFILTER));
  if (!socket) {
    return Expected<MnlSocketPtr>::failure(
        std::string("conntrack: cannot open a NETLINK_NETFILTER socket: ") + std::strerror(errno) +
        "; the kernel needs nfnetlink (modprobe nf_conntrack_netlink)");
  }
  if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return Expected<MnlSocketPtr>::failure(
        std::string("conntrack: cannot bind the netlink socket: ") + std::strerror(errno));
  }
  int on = 1;
  // Error replies without the echoed request: smaller, so more of them fit the buffer.
  (void)mnl_socket_setsockopt(socket.get(), NETLINK_CAP_ACK, &on, sizeof on);
  if (rcvbuf > 0) {
    const int fd = mnl_socket_get_fd(socket.get());
    // FORCE passes rmem_max when we hold CAP_NET_ADMIN; otherwise the capped size is the best.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) {
      (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
  }
  return socket;
}

std::size_t put_label_update(std::byte* out, const LabelUpdate& update, Lookup lookup,
                             std::uint32_t seq, bool ack) {
  const std::uint8_t family = family_of(update.tuple);
  if (family == 0) return 0;
  FlowTuple tuple = update.tuple;
  // ICMP errors (unreachable, time exceeded) never own a conntrack entry: the kernel files them
  // under the connection they report on, and rejects such a tuple.
  if (is_icmp(tuple.ip_protocol) && !reversed(tuple)) return 0;
  if (lookup == Lookup::kReply) {
    auto reply = reversed(update.tuple);
    if (!reply) return 0;
    tuple = *reply;
  }
  NfctPtr ct(nfct_new());
  if (!ct) return 0;
  set_original(ct.get(), tuple);
  // A mark-only update (ctmark without ctlabel) leaves the labels alone: no CTA_LABELS, so an
  // entry without label storage takes the mark. With neither, the empty label write stays: the
  // probes use it (ENOSPC tells whether label storage exists).
  const bool mark_only = update.mask.none() && update.mark_mask != 0;
  if (!mark_only && !set_labels(ct.get(), update.bits, update.mask)) return 0;
  // No NLM_F_CREATE: an update of an existing entry, ENOENT when there is none.
  nlmsghdr* nlh = put_header(out, IPCTNL_MSG_CT_NEW, request_flags(ack), family, seq);
  if (finish(nlh, ct.get()) == 0) return 0;
  if (update.mark_mask != 0) {
    // libnetfilter_conntrack has no attribute for CTA_MARK_MASK. The kernel computes
    // mark = (mark & ~CTA_MARK_MASK) ^ CTA_MARK, so the value must stay within the mask.
    mnl_attr_put_u32(nlh, CTA_MARK, htonl(update.mark & update.mark_mask));
    mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(update.mark_mask));
    if (nlh->nlmsg_len > kMaxMessageBytes) std::abort();  // a broken size invariant
  }
  const std::size_t len = nlh->nlmsg_len;
  if (lookup == Lookup::kOriginal) return len;
  // libnetfilter_conntrack always emits the tuple it was given as CTA_TUPLE_ORIG (it insists on
  // an original L3 protocol). For a reply lookup the same nest, retagged CTA_TUPLE_REPLY, makes
  // the kernel find the entry by its reply tuple.
  bool retagged = false;
  for_each_top_attr(nlh, sizeof(nfgenmsg), [&](const nlattr* attr) {
    if (!retagged && mnl_attr_get_type(attr) == CTA_TUPLE_ORIG) {
      auto* writable = const_cast<nlattr*>(attr);  // our own buffer
      writable->nla_type =
          static_cast<std::uint16_t>((attr->nla_type & ~NLA_TYPE_MASK) | CTA_TUPLE_REPLY);
      retagged = true;
    }
  });
  return retagged ? len : 0;
}

std::size_t put_create(std::byte* out, const FlowTuple& original, const FlowTuple& reply,
                       std::uint32_t timeout_s, const std::optional<LabelBits>& labels,
                       const std::optional<LabelBits>& mask, std::uint32_t seq, bool ack) {
  const std::uint8_t family = family_of(original);
  if (family == 0 || family_of(reply) != family) return 0;
  NfctPtr ct(nfct_new());
  if (!ct) return 0;
  set_original(ct.get(), original);
  set_reply(ct.get(), reply);
  nfct_set_attr_u32(ct.get(), ATTR_TIMEOUT, timeout_s);
  if (labels && !set_labels(ct.get(), *labels, mask ? *mask : *labels)) return 0;
  const auto flags = static_cast<std::uint16_t>(request_flags(ack) | NLM_F_CREATE | NLM_F_EXCL);
  return finish(put_header(out, IPCTNL_MSG_CT_NEW, flags, family, seq), ct.get());
}

std::size_t put_delete(std::byte* out, const FlowTuple& original, std::uint32_t seq, bool ack) {
  const std::uint8_t family = family_of(original);
  if (family == 0) return 0;
  NfctPtr ct(nfct_new());
  if (!ct) return 0;
  set_original(ct.get(), original);
  return finish(put_header(out, IPCTNL_MSG_CT_DELETE, request_flags(ack), family, seq), ct.get());
}

void request_ack(std::byte* message) noexcept {
  reinterpret_cast<nlmsghdr*>(message)->nlmsg_flags |= NLM_F_ACK;
}

BatchReply exchange(mnl_socket* socket, std::span<const std::byte> messages,
                    std::uint32_t first_seq, std::size_t count, std::chrono::milliseconds timeout) {
  BatchReply reply;
  reply.errors.assign(count, 0);
  if (count == 0) {
    reply.complete = true;
    return reply;
  }
  ++reply.syscalls;
  if (mnl_socket_sendto(socket, messages.data(), messages.size()) < 0) {
    reply.send_errno = errno;
    return reply;
  }
  constexpr std::size_t kSlots = 64;
  constexpr std::size_t kSlotBytes = 1024;  // an error reply is 36 bytes with NETLINK_CAP_ACK
  std::array<std::array<std::byte, kSlotBytes>, kSlots> buffers;
  std::array<iovec, kSlots> iov{};
  std::array<mmsghdr, kSlots> headers{};
  const int fd = mnl_socket_get_fd(socket);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reply.complete) {
    for (std::size_t i = 0; i < kSlots; ++i) {
      iov[i] = iovec{buffers[i].data(), kSlotBytes};
      headers[i] = mmsghdr{};
      headers[i].msg_hdr.msg_iov = &iov[i];
      headers[i].msg_hdr.msg_iovlen = 1;
    }
    ++reply.syscalls;
    const int received = recvmmsg(fd, headers.data(), kSlots, MSG_DONTWAIT, nullptr);
    if (received < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        reply.enobufs = true;
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) break;
      // The kernel answered inside sendmsg; an empty queue after a drop means the last answer
      // was among the dropped ones. Otherwise give a slow kernel until the deadline.
      if (reply.enobufs) break;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd pfd{fd, POLLIN, 0};
      ++reply.syscalls;
      (void)poll(&pfd, 1, static_cast<int>(left.count()));
      continue;
    }
    for (int i = 0; i < received; ++i) {
      const auto* nlh =
          reinterpret_cast<const nlmsghdr*>(buffers[static_cast<std::size_t>(i)].data());
      int len = static_cast<int>(
          std::min<std::size_t>(headers[static_cast<std::size_t>(i)].msg_len, kSlotBytes));
      for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
        if (nlh->nlmsg_type != NLMSG_ERROR) continue;
        const std::uint32_t index = nlh->nlmsg_seq - first_seq;  // stale replies wrap past count
        if (index >= count) continue;
        if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(nlmsgerr))) continue;
        const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (err->error != 0) reply.errors[index] = -err->error;
        if (index == count - 1) reply.complete = true;
      }
    }
  }
  return reply;
}

namespace {

struct ParseState {
  ParsedMessage* out;
};

bool parse_tuple(const nlattr* nest, std::uint8_t family, FlowTuple& tuple) {
  tuple.ip_version = family == AF_INET6 ? 6 : 4;
  for_each_nested(nest, [&](const nlattr* attr) {
    const auto type = mnl_attr_get_type(attr);
    if (type == CTA_TUPLE_IP) {
      for_each_nested(attr, [&](const nlattr* ip) {
        const auto ip_type = mnl_attr_get_type(ip);
        const auto len = mnl_attr_get_payload_len(ip);
        const auto* data = static_cast<const std::uint8_t*>(mnl_attr_get_payload(ip));
        if ((ip_type == CTA_IP_V4_SRC && len == 4) || (ip_type == CTA_IP_V6_SRC && len == 16)) {
          std::memcpy(tuple.src.bytes.data(), data, len);
        } else if ((ip_type == CTA_IP_V4_DST && len == 4) ||
                   (ip_type == CTA_IP_V6_DST && len == 16)) {
          std::memcpy(tuple.dst.bytes.data(), data, len);
        }
      });
    } else if (type == CTA_TUPLE_PROTO) {
      for_each_nested(attr, [&](const nlattr* proto) {
        switch (mnl_attr_get_type(proto)) {
          case CTA_PROTO_NUM: tuple.ip_protocol = mnl_attr_get_u8(proto); break;
          case CTA_PROTO_SRC_PORT: tuple.src_port = ntohs(mnl_attr_get_u16(proto)); break;
          case CTA_PROTO_DST_PORT: tuple.dst_port = ntohs(mnl_attr_get_u16(proto)); break;
          case CTA_PROTO_ICMP_TYPE:
          case CTA_PROTO_ICMPV6_TYPE: tuple.icmp_type = mnl_attr_get_u8(proto); break;
          case CTA_PROTO_ICMP_CODE:
          case CTA_PROTO_ICMPV6_CODE: tuple.icmp_code = mnl_attr_get_u8(proto); break;
          case CTA_PROTO_ICMP_ID:
          case CTA_PROTO_ICMPV6_ID: tuple.icmp_id = ntohs(mnl_attr_get_u16(proto)); break;
          default: break;
        }
      });
    }
  });
  return true;
}

LabelBits bits_of(const nlattr* attr) {
  LabelBits bits;
  const auto len = mnl_attr_get_payload_len(attr);
  const auto* data = static_cast<const std::uint8_t*>(mnl_attr_get_payload(attr));
  // The kernel's layout: an array of host-order 32-bit words, bit i in word i/32.
  for (std::size_t word = 0; word * 4 + 4 <= len && word < kMaxLabelBits / 32; ++word) {
    std::uint32_t value = 0;
    std::memcpy(&value, data + word * 4, 4);
    for (unsigned bit = 0; bit < 32; ++bit) {
      if ((value >> bit) & 1U) bits.set(word * 32 + bit);
    }
  }
  return bits;
}

}  // namespace

std::optional<ParsedMessage> parse_message(std::span<const std::byte> message) {
  if (message.size() < sizeof(nlmsghdr)) return std::nullopt;
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(message.data());
  if (nlh->nlmsg_len > message.size() || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(nfgenmsg))) {
    return std::nullopt;
  }
  ParsedMessage out;
  out.nlmsg_type = nlh->nlmsg_type;
  out.nlmsg_flags = nlh->nlmsg_flags;
  const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  out.family = nfg->nfgen_family;
  for_each_top_attr(nlh, sizeof(nfgenmsg), [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
      case CTA_TUPLE_ORIG: out.has_original = parse_tuple(attr, out.family, out.original); break;
      case CTA_TUPLE_REPLY: out.has_reply = parse_tuple(attr, out.family, out.reply); break;
      case CTA_LABELS: out.labels = bits_of(attr); break;
      case CTA_LABELS_MASK: out.mask = bits_of(attr); break;
      case CTA_TIMEOUT: out.timeout_s = ntohl(mnl_attr_get_u32(attr)); break;
      case CTA_MARK: out.mark = ntohl(mnl_attr_get_u32(attr)); break;
      case CTA_MARK_MASK: out.mark_mask = ntohl(mnl_attr_get_u32(attr)); break;
      default: break;
    }
  });
  return out;
}

}  // namespace ctlabeld::conntrack::netlink
