// SPDX-License-Identifier: GPL-3.0-or-later
// nftables set elements over netlink: libnftnl builds the messages, libmnl carries the batches.
#include "ctlabeld/nftset/set_writer.hpp"

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <string>

#include "common/mnl_socket.hpp"
#include "ctlabeld/common/c_handle.hpp"
#include "nftset/logger.hpp"

namespace ctlabeld::nftset {

namespace {

using NftSetPtr = CHandle<nftnl_set, nftnl_set_free>;
using ElemPtr = CHandle<nftnl_set_elem, nftnl_set_elem_free>;
using TablePtr = CHandle<nftnl_table, nftnl_table_free>;

// Room for one element message: headers, names (up to 256 bytes each) and a 64-byte key.
constexpr std::size_t kMaxMessageBytes = 1024;

std::optional<std::uint16_t> nfproto_of(std::string_view family) {
  if (family == "inet") return NFPROTO_INET;
  if (family == "ip") return NFPROTO_IPV4;
  if (family == "ip6") return NFPROTO_IPV6;
  if (family == "bridge") return NFPROTO_BRIDGE;
  if (family == "netdev") return NFPROTO_NETDEV;
  if (family == "arp") return NFPROTO_ARP;
  return std::nullopt;
}

std::string where(const SetSpec& spec) {
  return "nft set '" + spec.table_family + " " + spec.table + " " + spec.set + "'";
}

std::string fields_text(const SetSpec& spec) {
  std::string text = "[";
  for (const Field f : spec.fields) {
    if (text.size() > 1) text += ", ";
    text += field_name(f);
  }
  return text + "]";
}

std::string create_command(const SetSpec& spec) {
  const KeyLayout layout = key_layout(spec.fields, spec.family);
  return "nft add table " + spec.table_family + " " + spec.table + "; nft add set " +
         spec.table_family + " " + spec.table + " " + spec.set + " '{ type " + layout.text + ";" +
         (spec.timeout ? " flags timeout;" : "") + " size " + std::to_string(spec.size) + "; }'";
}

// One netlink exchange's buffer: messages appended one after another.
class Batch {
 public:
  explicit Batch(std::size_t capacity) : buffer_(capacity) {}
  void clear() noexcept { used_ = 0; }
  [[nodiscard]] char* tail() noexcept { return reinterpret_cast<char*>(buffer_.data() + used_); }
  void commit(const nlmsghdr* nlh) noexcept { used_ += NLMSG_ALIGN(nlh->nlmsg_len); }
  [[nodiscard]] const std::byte* data() const noexcept { return buffer_.data(); }
  [[nodiscard]] std::size_t size() const noexcept { return used_; }
  void grow(std::size_t capacity) {
    if (buffer_.size() < capacity) buffer_.resize(capacity);
  }

 private:
  std::vector<std::byte> buffer_;
  std::size_t used_ = 0;
};

// The answers to one transaction: per message sequence number the errno (0 = none reported).
struct Answers {
  bool complete = false;    // the acknowledged last message was answered
  bool lost = false;        // ENOBUFS: some answers were dropped
  int batch_error = 0;      // the kernel refused the batch as a whole
  int send_error = 0;       // sendmsg failed
  std::vector<int> errors;  // indexed by seq - first message seq
  std::uint64_t syscalls = 0;
};

// Sends `batch` (begin, count messages numbered first..first+count-1 with the last asking for an
// acknowledgement, end) and collects the answers. nfnetlink handles the batch inside sendmsg and
// reports every failing message before it aborts the transaction, so once the last message's
// acknowledgement is read every error is in.
Answers exchange(mnl_socket* socket, const Batch& batch, std::uint32_t begin_seq,
                 std::uint32_t first, std::size_t count, std::chrono::milliseconds timeout) {
  Answers answers;
  answers.errors.assign(count, 0);
  ++answers.syscalls;
  if (mnl_socket_sendto(socket, batch.data(), batch.size()) < 0) {
    answers.send_error = errno;
    return answers;
  }
  const std::uint32_t last = first + static_cast<std::uint32_t>(count) - 1;
  std::array<char, 64 * 1024> buffer{};
  answers.lost = mnl::read_errors(
      socket, buffer, std::chrono::steady_clock::now() + timeout, answers.syscalls,
      [&](const nlmsghdr* nlh) {
        const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        const std::uint32_t seq = nlh->nlmsg_seq;
        if (seq == begin_seq) {
          answers.batch_error = -err->error;
          answers.complete = true;
        } else if (seq - first < count) {  // unsigned: right across the wrap of the counter
          answers.errors[seq - first] = -err->error;
          if (seq == last) answers.complete = true;
        }
        return answers.complete;
      });
  return answers;
}

// A single request/answer exchange outside a batch (GETSET): calls `on_reply` for each data
// message and returns the errno of the acknowledgement.
template <typename OnReply>
int query(mnl_socket* socket, const nlmsghdr* request, std::uint32_t seq, OnReply on_reply) {
  if (mnl_socket_sendto(socket, request, request->nlmsg_len) < 0) return errno;
  std::array<char, 64 * 1024> buffer{};
  for (int rounds = 0; rounds < 10000; ++rounds) {
    const ssize_t n = mnl_socket_recvfrom(socket, buffer.data(), buffer.size());
    if (n < 0) return errno == EINTR ? 0 : errno;
    auto remaining = static_cast<int>(n);
    for (const auto* nlh = reinterpret_cast<const nlmsghdr*>(buffer.data());
         mnl_nlmsg_ok(nlh, remaining); nlh = mnl_nlmsg_next(nlh, &remaining)) {
      if (nlh->nlmsg_seq != seq) continue;
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        return -static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh))->error;
      }
      if (nlh->nlmsg_type == NLMSG_DONE) return 0;
      on_reply(nlh);
    }
  }
  return ETIMEDOUT;
}

// Appends one NEWSETELEM/DELSETELEM for one element: table, set, and a one-element list built
// by libnftnl from `elem`.
nlmsghdr* put_element(char* at, std::uint16_t type, std::uint16_t nfproto, std::uint16_t flags,
                      std::uint32_t seq, const std::string& table, const std::string& set,
                      nftnl_set_elem* elem) {
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(at, type, nfproto, flags, seq);
  mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table.c_str());
  mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set.c_str());
  nlattr* list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
  nlattr* one = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
  nftnl_set_elem_nlmsg_build_payload(nlh, elem);
  mnl_attr_nest_end(nlh, one);
  mnl_attr_nest_end(nlh, list);
  return nlh;
}

// Sends a small control batch (table/set creation, flush, deletion) and returns the first error.
template <typename Build>
int control(mnl_socket* socket, std::uint32_t& seq, std::size_t messages, Build build) {
  Batch batch(64 * 1024);
  const std::uint32_t begin = seq++;
  batch.commit(nftnl_batch_begin(batch.tail(), begin));
  const std::uint32_t first = seq;
  for (std::size_t i = 0; i < messages; ++i) batch.commit(build(batch.tail(), i, seq++));
  batch.commit(nftnl_batch_end(batch.tail(), seq++));
  const Answers answers =
      exchange(socket, batch, begin, first, messages, std::chrono::milliseconds(2000));
  if (answers.send_error != 0) return answers.send_error;
  if (answers.batch_error != 0) return answers.batch_error;
  for (const int e : answers.errors) {
    if (e != 0) return e;
  }
  return answers.complete ? 0 : ETIMEDOUT;
}

nlmsghdr* put_table(char* at, std::uint16_t type, std::uint16_t nfproto, std::uint16_t flags,
                    std::uint32_t seq, const std::string& name) {
  TablePtr table(nftnl_table_alloc());
  nftnl_table_set_str(table.get(), NFTNL_TABLE_NAME, name.c_str());
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(at, type, nfproto, flags, seq);
  nftnl_table_nlmsg_build_payload(nlh, table.get());
  return nlh;
}

nlmsghdr* put_set(char* at, std::uint16_t nfproto, std::uint32_t seq, const std::string& table,
                  const std::string& name, std::uint32_t key_type, std::uint32_t key_len,
                  bool timeout, std::uint32_t size) {
  NftSetPtr set(nftnl_set_alloc());
  nftnl_set_set_str(set.get(), NFTNL_SET_TABLE, table.c_str());
  nftnl_set_set_str(set.get(), NFTNL_SET_NAME, name.c_str());
  nftnl_set_set_u32(set.get(), NFTNL_SET_KEY_TYPE, key_type);
  nftnl_set_set_u32(set.get(), NFTNL_SET_KEY_LEN, key_len);
  nftnl_set_set_u32(set.get(), NFTNL_SET_ID, seq);
  if (timeout) nftnl_set_set_u32(set.get(), NFTNL_SET_FLAGS, NFT_SET_TIMEOUT);
  if (size > 0) nftnl_set_set_u32(set.get(), NFTNL_SET_DESC_SIZE, size);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(at, NFT_MSG_NEWSET, nfproto, NLM_F_CREATE | NLM_F_ACK, seq);
  nftnl_set_nlmsg_build_payload(nlh, set.get());
  return nlh;
}

// DELSETELEM without an element list empties the set.
nlmsghdr* put_flush(char* at, std::uint16_t nfproto, std::uint32_t seq, const std::string& table,
                    const std::string& name) {
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(at, NFT_MSG_DELSETELEM, nfproto, NLM_F_ACK, seq);
  mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table.c_str());
  mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, name.c_str());
  return nlh;
}

struct SetInfo {
  std::uint32_t key_type = 0;
  std::uint32_t key_len = 0;
  std::uint32_t flags = 0;
  std::uint32_t size = 0;
};

// GETSET: the set's key and flags, or the errno (ENOENT: no such table or set).
int get_set(mnl_socket* socket, std::uint32_t& seq, std::uint16_t nfproto, const std::string& table,
            const std::string& name, SetInfo& info) {
  std::array<char, 4096> buffer{};
  NftSetPtr request(nftnl_set_alloc());
  nftnl_set_set_str(request.get(), NFTNL_SET_TABLE, table.c_str());
  nftnl_set_set_str(request.get(), NFTNL_SET_NAME, name.c_str());
  const std::uint32_t my_seq = seq++;
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buffer.data(), NFT_MSG_GETSET, nfproto, NLM_F_ACK, my_seq);
  nftnl_set_nlmsg_build_payload(nlh, request.get());
  bool seen = false;
  const int error = query(socket, nlh, my_seq, [&](const nlmsghdr* reply) {
    NftSetPtr set(nftnl_set_alloc());
    if (nftnl_set_nlmsg_parse(reply, set.get()) < 0) return;
    info.key_type = nftnl_set_get_u32(set.get(), NFTNL_SET_KEY_TYPE);
    info.key_len = nftnl_set_get_u32(set.get(), NFTNL_SET_KEY_LEN);
    info.flags = nftnl_set_is_set(set.get(), NFTNL_SET_FLAGS)
                     ? nftnl_set_get_u32(set.get(), NFTNL_SET_FLAGS)
                     : 0;
    info.size = nftnl_set_is_set(set.get(), NFTNL_SET_DESC_SIZE)
                    ? nftnl_set_get_u32(set.get(), NFTNL_SET_DESC_SIZE)
                    : 0;
    seen = true;
  });
  if (error != 0) return error;
  return seen ? 0 : ENOENT;
}

MemberOutcome outcome_of(SetOp op, int error) noexcept {
  switch (error) {
    case 0: return MemberOutcome::kApplied;
    case ENOENT: return op == SetOp::kDelete ? MemberOutcome::kAbsent : MemberOutcome::kNoSet;
    case ENFILE: return MemberOutcome::kSetFull;
    case EINVAL:
    case ERANGE:
    case EOPNOTSUPP:
    case EEXIST: return MemberOutcome::kRejected;
    default: return MemberOutcome::kFailed;
  }
}

}  // namespace

struct SetWriter::State {
  struct Attached {
    SetSpec spec;
    std::uint16_t nfproto = 0;
    bool full_logged = false;
  };
  Options options;
  mnl::SocketPtr socket;
  std::uint32_t seq = 1;
  bool refresh_in_place = true;
  std::vector<Attached> sets;
  Counters counters;
  ElemPtr elem{nftnl_set_elem_alloc()};
  Batch batch{4096};

  // One element message of the batch being built: which request, and whether it is the delete
  // half of a delete+add refresh.
  struct Message {
    std::uint32_t request;
    bool refresh_delete;
  };
  std::vector<Message> messages;
  std::vector<Message> retry;

  std::vector<std::uint8_t> failed;  // per request of apply(): answered with an error

  void count(MemberOutcome outcome) {
    switch (outcome) {
      case MemberOutcome::kApplied: ++counters.applied; break;
      case MemberOutcome::kAbsent: ++counters.absent; break;
      case MemberOutcome::kSetFull: ++counters.set_full; break;
      case MemberOutcome::kNoSet: ++counters.no_set; break;
      case MemberOutcome::kRejected: ++counters.rejected; break;
      case MemberOutcome::kFailed: ++counters.failed; break;
    }
  }

  void note_full(Attached& set) {
    if (set.full_logged) return;
    set.full_logged = true;
    logger()->warn(
        "{} is full (size {}): further elements are refused and counted (set_full); raise the "
        "target's max_elements (managed sets: delete the set so it is created again) or lower "
        "its ttl",
        where(set.spec), set.spec.size);
  }

  // Builds and sends one transaction of `batch_messages`; sets results of the messages that
  // failed and moves the others to `retry` when the transaction was aborted. Returns true when
  // the transaction committed (every remaining message applied).
  bool send(std::span<const Request> requests, std::span<MemberResult> results,
            const std::vector<Message>& batch_messages, std::vector<Message>& again) {
    again.clear();
    batch.grow((batch_messages.size() + 2) * kMaxMessageBytes);
    batch.clear();
    const std::uint32_t begin = seq++;
    batch.commit(nftnl_batch_begin(batch.tail(), begin));
    const std::uint32_t first = seq;
    std::array<std::byte, kMaxKeyBytes> key{};
    for (std::size_t i = 0; i < batch_messages.size(); ++i) {
      const Message& m = batch_messages[i];
      const Request& r = requests[m.request];
      const Attached& set = sets[r.set];
      const std::size_t len = encode_key(set.spec.fields, set.spec.family, r.member, key.data());
      assert(len > 0);  // apply() answers members of the wrong family before sending
      nftnl_set_elem_set(elem.get(), NFTNL_SET_ELEM_KEY, key.data(),
                         static_cast<std::uint32_t>(len));
      const bool add = r.op != SetOp::kDelete && !m.refresh_delete;
      if (add && r.timeout.count() > 0) {
        nftnl_set_elem_set_u64(elem.get(), NFTNL_SET_ELEM_TIMEOUT,
                               static_cast<std::uint64_t>(r.timeout.count()) * 1000u);
      } else {
        nftnl_set_elem_unset(elem.get(), NFTNL_SET_ELEM_TIMEOUT);
      }
      std::uint16_t flags = add ? NLM_F_CREATE : 0;
      if (i + 1 == batch_messages.size()) flags |= NLM_F_ACK;
      batch.commit(put_element(batch.tail(), add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
                               set.nfproto, flags, seq++, set.spec.table, set.spec.set,
                               elem.get()));
    }
    batch.commit(nftnl_batch_end(batch.tail(), seq++));
    ++counters.transactions;
    const Answers answers =
        exchange(socket.get(), batch, begin, first, batch_messages.size(), options.timeout);
    counters.syscalls += answers.syscalls;

    const int whole = answers.send_error != 0 ? answers.send_error : answers.batch_error;
    if (whole != 0 || (!answers.complete && !answers.lost)) {
      // Nothing was applied and nothing says why per element: every request fails.
      const int error = whole != 0 ? whole : ETIMEDOUT;
      for (const Message& m : batch_messages) {
        if (m.refresh_delete) continue;
        results[m.request] = MemberResult{MemberOutcome::kFailed, error};
      }
      return false;
    }
    bool any_error = answers.lost;
    for (const int e : answers.errors) any_error = any_error || e != 0;
    if (!any_error) {
      for (const Message& m : batch_messages) {
        if (!m.refresh_delete) results[m.request] = MemberResult{MemberOutcome::kApplied, 0};
      }
      return true;
    }
    // The transaction was aborted. Answer the failed elements, keep the rest for a resend.
    for (std::size_t i = 0; i < batch_messages.size(); ++i) {
      const Message& m = batch_messages[i];
      const int e = answers.errors[i];
      if (e == 0) {
        again.push_back(m);
        continue;
      }
      if (m.refresh_delete) continue;  // nothing to delete: the add half still refreshes it
      const Request& r = requests[m.request];
      const MemberOutcome outcome = outcome_of(r.op, e);
      results[m.request] = MemberResult{outcome, outcome == MemberOutcome::kAbsent ? 0 : e};
      failed[m.request] = 1;
      if (outcome == MemberOutcome::kSetFull) note_full(sets[r.set]);
    }
    // A refresh whose add half failed must not keep its delete half.
    std::erase_if(again, [&](const Message& m) { return m.refresh_delete && failed[m.request]; });
    return false;
  }

  void run(std::span<const Request> requests, std::span<MemberResult> results,
           std::vector<Message> pending) {
    // Each resend drops at least one element, so this ends; the bound guards the invariant.
    const std::size_t bound = pending.size() + 1;
    for (std::size_t round = 0; !pending.empty(); ++round) {
      if (round > bound) std::abort();
      if (send(requests, results, pending, retry)) return;
      if (retry.size() == pending.size()) {
        // Answers were lost (ENOBUFS) without naming a failed element: halve and go on.
        const std::size_t half = pending.size() / 2;
        if (half == 0) {
          results[pending[0].request] = MemberResult{MemberOutcome::kFailed, ENOBUFS};
          return;
        }
        std::vector<Message> second(pending.begin() + static_cast<std::ptrdiff_t>(half),
                                    pending.end());
        pending.resize(half);
        ++counters.resends;
        run(requests, results, std::move(pending));
        run(requests, results, std::move(second));
        return;
      }
      if (!retry.empty()) ++counters.resends;
      pending.swap(retry);
    }
  }
};

SetWriter::SetWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
SetWriter::SetWriter(SetWriter&&) noexcept = default;
SetWriter& SetWriter::operator=(SetWriter&&) noexcept = default;
SetWriter::~SetWriter() = default;

Expected<SetWriter> SetWriter::open(const Options& options) {
  auto socket = mnl::open_netfilter("nftset", options.socket_buffer, true);
  if (!socket) return Expected<SetWriter>::failure(socket.errors());
  auto state = std::make_unique<State>();
  state->options = options;
  state->options.max_batch = std::clamp<std::size_t>(options.max_batch, 1, 1u << 16);
  state->socket = std::move(socket.value());
  state->seq = options.first_seq;
  if (!state->elem) return Expected<SetWriter>::failure("nftset: out of memory");
  if (options.refresh_in_place) {
    state->refresh_in_place = *options.refresh_in_place;
  } else {
    auto probed = probe_timeout_refresh(state->socket.get());
    if (!probed) return Expected<SetWriter>::failure(probed.errors());
    state->refresh_in_place = probed.value();
  }
  return SetWriter(std::move(state));
}

Expected<SetHandle> SetWriter::attach(const SetSpec& spec) {
  using Result = Expected<SetHandle>;
  State& s = *state_;
  const auto nfproto = nfproto_of(spec.table_family);
  if (!nfproto) {
    return Result::failure("nftset: table family '" + spec.table_family + "' of " + where(spec) +
                           " is not one of inet, ip, ip6, bridge, netdev, arp: fix table_family");
  }
  // NFT_NAME_MAXLEN; also what keeps an element message inside its kMaxMessageBytes.
  constexpr std::size_t kMaxName = 255;
  if (spec.table.empty() || spec.table.size() > kMaxName || spec.set.empty() ||
      spec.set.size() > kMaxName) {
    return Result::failure("nftset: table_name and set_name (family suffix included) of " +
                           where(spec) + " need 1 to 255 characters: fix them");
  }
  if (spec.fields.empty() || spec.fields.size() > 4 ||
      key_layout(spec.fields, spec.family).key_len > kMaxKeyBytes) {
    return Result::failure("nftset: the type " + fields_text(spec) + " of " + where(spec) +
                           " needs 1 to 4 fields whose key fits 64 bytes: shorten the type");
  }
  if (s.sets.size() >= 0xffff) return Result::failure("nftset: too many sets attached");
  const KeyLayout want = key_layout(spec.fields, spec.family);
  bool created = false;
  if (spec.managed) {
    const int error =
        control(s.socket.get(), s.seq, 2, [&](char* at, std::size_t i, std::uint32_t seq) {
          if (i == 0) {
            return put_table(at, NFT_MSG_NEWTABLE, *nfproto, NLM_F_CREATE | NLM_F_ACK, seq,
                             spec.table);
          }
          return put_set(at, *nfproto, seq, spec.table, spec.set, want.key_type, want.key_len,
                         spec.timeout, spec.size);
        });
    if (error == EPERM) {
      return Result::failure("nftset: creating " + where(spec) +
                             ": permission denied: ctlabeld needs CAP_NET_ADMIN");
    }
    // EEXIST: the set exists with other settings; the check below names the difference.
    if (error != 0 && error != EEXIST) {
      return Result::failure("nftset: creating " + where(spec) + ": " + std::strerror(error) +
                             ": check the target's table_family, table_name and set_name");
    }
    created = true;
  }
  SetInfo info;
  const int error = get_set(s.socket.get(), s.seq, *nfproto, spec.table, spec.set, info);
  if (error == ENOENT) {
    return Result::failure("nftset: " + where(spec) + " does not exist: create it with `" +
                           create_command(spec) + "`, or set \"managed\": true in the target");
  }
  if (error != 0) {
    return Result::failure("nftset: reading " + where(spec) + ": " + std::strerror(error) +
                           (error == EPERM ? ": ctlabeld needs CAP_NET_ADMIN" : ""));
  }
  if (info.key_type != want.key_type || info.key_len != want.key_len) {
    return Result::failure(
        "nftset: " + where(spec) + " has key type '" + describe_key_type(info.key_type) + "' (" +
        std::to_string(info.key_len) + " bytes) but the target's type " + fields_text(spec) +
        " needs '" + want.text + "' (" + std::to_string(want.key_len) +
        " bytes): delete the set (`nft delete set " + spec.table_family + " " + spec.table + " " +
        spec.set + "`) and create it with that type" +
        (spec.managed ? " (a managed set is created again at start-up)" : "") +
        ", or change the target's type to the fields, in order, that the set's rules use");
  }
  if (spec.timeout && (info.flags & NFT_SET_TIMEOUT) == 0) {
    return Result::failure("nftset: " + where(spec) +
                           " has no `timeout` flag but the target's ttl is not 0: create the "
                           "set with `flags timeout;`, or set the target's ttl to 0");
  }
  State::Attached attached;
  attached.spec = spec;
  attached.nfproto = *nfproto;
  s.sets.push_back(std::move(attached));
  const auto handle = static_cast<SetHandle>(s.sets.size() - 1);
  if (created && spec.flush_on_create) {
    if (auto flushed = flush(handle); !flushed) return Result::failure(flushed.errors());
  }
  return handle;
}

void SetWriter::apply(std::span<const Request> requests, std::span<MemberResult> results) {
  assert(results.size() >= requests.size());
  State& s = *state_;
  s.failed.assign(requests.size(), 0);
  std::vector<State::Message> pending;
  pending.reserve(std::min(requests.size(), s.options.max_batch) + 16);
  auto flush_pending = [&] {
    if (!pending.empty()) s.run(requests, results, std::move(pending));
    pending.clear();
  };
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const Request& r = requests[i];
    assert(r.set < s.sets.size());
    const auto& spec = s.sets[r.set].spec;
    if (r.member.ip_version != static_cast<std::uint8_t>(spec.family)) {
      results[i] = MemberResult{MemberOutcome::kRejected, EAFNOSUPPORT};
      continue;
    }
    const auto index = static_cast<std::uint32_t>(i);
    if (r.op == SetOp::kRefresh && !s.refresh_in_place) pending.push_back({index, true});
    pending.push_back({index, false});
    if (pending.size() >= s.options.max_batch) flush_pending();
  }
  flush_pending();
  for (std::size_t i = 0; i < requests.size(); ++i) {
    s.count(results[i].outcome);
  }
}

Status SetWriter::flush(SetHandle set) {
  State& s = *state_;
  const auto& attached = s.sets.at(set);
  const int error =
      control(s.socket.get(), s.seq, 1, [&](char* at, std::size_t, std::uint32_t seq) {
        return put_flush(at, attached.nfproto, seq, attached.spec.table, attached.spec.set);
      });
  if (error != 0) {
    return Status::failure("nftset: flushing " + where(attached.spec) + ": " +
                           std::strerror(error));
  }
  return ok_status();
}

Status SetWriter::shutdown() {
  return run_all(state_->sets.size(), [&](std::size_t i) {
    return state_->sets[i].spec.flush_on_destroy ? flush(static_cast<SetHandle>(i)) : ok_status();
  });
}

bool SetWriter::refreshes_in_place() const noexcept { return state_->refresh_in_place; }
const Counters& SetWriter::counters() const noexcept { return state_->counters; }
const SetSpec& SetWriter::spec(SetHandle set) const { return state_->sets.at(set).spec; }

Expected<bool> probe_timeout_refresh(mnl_socket* socket) {
  using Result = Expected<bool>;
  // A scratch table only this process uses; removed before returning.
  const std::string table = "ctlabeld_probe_" + std::to_string(::getpid());
  const std::string set = "p";
  std::uint32_t seq = 0x70000000;
  ElemPtr elem(nftnl_set_elem_alloc());
  const std::array<std::uint8_t, 4> key{192, 0, 2, 1};
  nftnl_set_elem_set(elem.get(), NFTNL_SET_ELEM_KEY, key.data(), key.size());
  auto add_with = [&](std::uint64_t timeout_ms) {
    nftnl_set_elem_set_u64(elem.get(), NFTNL_SET_ELEM_TIMEOUT, timeout_ms);
    return control(socket, seq, 1, [&](char* at, std::size_t, std::uint32_t s) {
      return put_element(at, NFT_MSG_NEWSETELEM, NFPROTO_INET, NLM_F_CREATE | NLM_F_ACK, s, table,
                         set, elem.get());
    });
  };
  int error = control(socket, seq, 2, [&](char* at, std::size_t i, std::uint32_t s) {
    if (i == 0)
      return put_table(at, NFT_MSG_NEWTABLE, NFPROTO_INET, NLM_F_CREATE | NLM_F_ACK, s, table);
    return put_set(at, NFPROTO_INET, s, table, set, 7 /* ipv4_addr */, 4, true, 0);
  });
  constexpr std::uint64_t kFirstMs = 3600u * 1000u;
  constexpr std::uint64_t kSecondMs = 2 * kFirstMs;
  if (error == 0) error = add_with(kFirstMs);
  if (error == 0) error = add_with(kSecondMs);
  std::uint64_t seen_ms = 0;
  if (error == 0) {
    std::array<char, 4096> buffer{};
    NftSetPtr request(nftnl_set_alloc());
    nftnl_set_set_str(request.get(), NFTNL_SET_TABLE, table.c_str());
    nftnl_set_set_str(request.get(), NFTNL_SET_NAME, set.c_str());
    const std::uint32_t my_seq = seq++;
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buffer.data(), NFT_MSG_GETSETELEM, NFPROTO_INET,
                                          NLM_F_DUMP | NLM_F_ACK, my_seq);
    nftnl_set_elems_nlmsg_build_payload(nlh, request.get());
    error = query(socket, nlh, my_seq, [&](const nlmsghdr* reply) {
      NftSetPtr got(nftnl_set_alloc());
      if (nftnl_set_elems_nlmsg_parse(reply, got.get()) < 0) return;
      nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(got.get());
      if (it == nullptr) return;
      for (nftnl_set_elem* e = nftnl_set_elems_iter_next(it); e != nullptr;
           e = nftnl_set_elems_iter_next(it)) {
        seen_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT);
      }
      nftnl_set_elems_iter_destroy(it);
    });
  }
  const int removed = control(socket, seq, 1, [&](char* at, std::size_t, std::uint32_t s) {
    return put_table(at, NFT_MSG_DELTABLE, NFPROTO_INET, NLM_F_ACK, s, table);
  });
  if (error != 0) {
    return Result::failure(std::string("nftset: probing the kernel's element timeouts on a "
                                       "scratch table: ") +
                           std::strerror(error) +
                           (error == EPERM ? ": ctlabeld needs CAP_NET_ADMIN" : ""));
  }
  if (removed != 0) {
    logger()->warn(
        "nftset: removing the scratch table inet {}: {}; remove it with `nft delete "
        "table inet {}`",
        table, std::strerror(removed), table);
  }
  return seen_ms == kSecondMs;
}

}  // namespace ctlabeld::nftset
