// SPDX-License-Identifier: GPL-3.0-or-later
// ipset members: libipset for creation, listing and flushes; the ipset netlink protocol over
// libmnl for batched adds and deletes (README: "nftset and ipset writers" has the measurement).
#include "ctlabeld/ipset/set_writer.hpp"

#include <arpa/inet.h>
#include <endian.h>
#include <libipset/ipset.h>
#include <libipset/linux_ip_set.h>
#include <libipset/linux_ip_set_hash.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "common/mnl_socket.hpp"
#include "ctlabeld/common/c_handle.hpp"
#include "ipset/logger.hpp"

namespace ctlabeld::ipset {

namespace {

using SessionPtr = CHandle<struct ipset_session, ipset_session_fini>;

// Room for one element's attributes: two IPv6 addresses, port, protocol, timeout, skbinfo, lineno.
constexpr std::size_t kMaxElementBytes = 160;
constexpr std::size_t kHeaderBytes = 128;  // nlmsghdr, nfgenmsg, protocol, set name, lineno

// Text that libipset prints (ipset -L -t) arrives here.
int capture(struct ipset_session*, void* p, const char* fmt, ...) {
  auto* out = static_cast<std::string*>(p);
  std::array<char, 4096> chunk{};
  va_list args;
  va_start(args, fmt);
  const int n = std::vsnprintf(chunk.data(), chunk.size(), fmt, args);
  va_end(args);
  if (n > 0)
    out->append(chunk.data(), std::min<std::size_t>(static_cast<std::size_t>(n), chunk.size() - 1));
  return n;
}

std::uint8_t nfproto_of(const SetSpec& spec) noexcept {
  if (spec.type == Type::kHashMac) return NFPROTO_UNSPEC;
  return spec.family == Family::kIpv4 ? NFPROTO_IPV4 : NFPROTO_IPV6;
}

const char* family_text(const SetSpec& spec) noexcept {
  return spec.family == Family::kIpv4 ? "inet" : "inet6";
}

std::string create_command(const SetSpec& spec) {
  std::string command = "ipset create " + spec.name + " " + std::string(type_name(spec.type));
  if (spec.type != Type::kHashMac) command += std::string(" family ") + family_text(spec);
  command += " maxelem " + std::to_string(spec.max_elements);
  if (spec.timeout) command += " timeout 0";
  if (spec.skb.any()) command += " skbinfo";
  return command;
}

std::string strip(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// The value after `key` in a "key value key value" header line ("family inet hashsize 1024").
std::string header_value(const std::string& header, const std::string& key) {
  const std::string padded = " " + header + " ";
  const auto at = padded.find(" " + key + " ");
  if (at == std::string::npos) return {};
  const auto start = at + key.size() + 2;
  return padded.substr(start, padded.find(' ', start) - start);
}

bool header_has(const std::string& header, const std::string& word) {
  return (" " + header + " ").find(" " + word + " ") != std::string::npos;
}

std::string line_after(const std::string& text, const std::string& prefix) {
  const auto at = text.find(prefix);
  if (at == std::string::npos) return {};
  const auto start = at + prefix.size();
  return text.substr(start, text.find('\n', start) - start);
}

MemberOutcome outcome_of(int error) noexcept {
  switch (error) {
    case 0: return MemberOutcome::kApplied;
    case ENOENT: return MemberOutcome::kNoSet;
    case IPSET_ERR_HASH_FULL: return MemberOutcome::kSetFull;
    case IPSET_ERR_HASH_ELEM:
    case IPSET_ERR_INVALID_PROTO:
    case IPSET_ERR_MISSING_PROTO:
    case IPSET_ERR_INVALID_FAMILY:
    case IPSET_ERR_PROTOCOL:
    case IPSET_ERR_SKBINFO:
    case IPSET_ERR_TIMEOUT:
    case EINVAL: return MemberOutcome::kRejected;
    default: return MemberOutcome::kFailed;
  }
}

void put_addr(nlmsghdr* nlh, std::uint16_t type, const Address& addr, Family family) {
  nlattr* nest = mnl_attr_nest_start(nlh, type);
  if (family == Family::kIpv4) {
    mnl_attr_put(nlh, IPSET_ATTR_IPADDR_IPV4 | NLA_F_NET_BYTEORDER, 4, addr.bytes.data());
  } else {
    mnl_attr_put(nlh, IPSET_ATTR_IPADDR_IPV6 | NLA_F_NET_BYTEORDER, 16, addr.bytes.data());
  }
  mnl_attr_nest_end(nlh, nest);
}

// One element's IPSET_ATTR_DATA: the type's fields, timeout, skbinfo and the line number the
// kernel names when this element fails.
void put_element(nlmsghdr* nlh, const SetSpec& spec, const Request& r, std::uint32_t lineno) {
  const MemberFields& m = r.member;
  nlattr* data = mnl_attr_nest_start(nlh, IPSET_ATTR_DATA);
  switch (spec.type) {
    case Type::kHashIp: put_addr(nlh, IPSET_ATTR_IP, m.other_addr, spec.family); break;
    case Type::kHashIpPort:
      put_addr(nlh, IPSET_ATTR_IP, m.other_addr, spec.family);
      mnl_attr_put_u16(nlh, IPSET_ATTR_PORT | NLA_F_NET_BYTEORDER, htons(m.other_port));
      mnl_attr_put_u8(nlh, IPSET_ATTR_PROTO, m.ip_protocol);
      break;
    case Type::kHashIpPortIp:
      put_addr(nlh, IPSET_ATTR_IP, m.local_addr, spec.family);
      mnl_attr_put_u16(nlh, IPSET_ATTR_PORT | NLA_F_NET_BYTEORDER, htons(m.other_port));
      mnl_attr_put_u8(nlh, IPSET_ATTR_PROTO, m.ip_protocol);
      put_addr(nlh, IPSET_ATTR_IP2, m.other_addr, spec.family);
      break;
    case Type::kHashMac: mnl_attr_put(nlh, IPSET_ATTR_ETHER, 6, m.local_mac.data()); break;
  }
  if (r.op != SetOp::kDelete) {
    if (r.timeout.count() > 0) {
      const auto seconds = static_cast<std::uint32_t>(
          std::min<std::int64_t>(r.timeout.count(), std::int64_t{0x7fffffff}));
      mnl_attr_put_u32(nlh, IPSET_ATTR_TIMEOUT | NLA_F_NET_BYTEORDER, htonl(seconds));
    }
    if (spec.skb.mark) {
      const std::uint64_t full = std::uint64_t{*spec.skb.mark} << 32 | spec.skb.mask;
      mnl_attr_put_u64(nlh, IPSET_ATTR_SKBMARK | NLA_F_NET_BYTEORDER, htobe64(full));
    }
    if (spec.skb.prio) {
      mnl_attr_put_u32(nlh, IPSET_ATTR_SKBPRIO | NLA_F_NET_BYTEORDER, htonl(*spec.skb.prio));
    }
    if (spec.skb.queue) {
      mnl_attr_put_u16(nlh, IPSET_ATTR_SKBQUEUE | NLA_F_NET_BYTEORDER, htons(*spec.skb.queue));
    }
  }
  mnl_attr_put_u32(nlh, IPSET_ATTR_LINENO, lineno);
  mnl_attr_nest_end(nlh, data);
}

// The line number the kernel wrote into its copy of our message when an element failed
// (ip_set_core.c call_ad): the top-level IPSET_ATTR_LINENO of the embedded request.
std::uint32_t failed_line(const nlmsgerr* err, std::size_t payload_len) {
  const auto* request = &err->msg;
  const std::size_t offset = sizeof(nlmsgerr);
  if (payload_len < offset + NLMSG_HDRLEN + sizeof(nfgenmsg)) return 0;
  const std::size_t available = payload_len - (offset - sizeof(nlmsghdr));
  const std::size_t len = std::min<std::size_t>(request->nlmsg_len, available);
  const std::size_t attrs_at = NLMSG_HDRLEN + MNL_ALIGN(sizeof(nfgenmsg));
  if (len <= attrs_at) return 0;
  const auto* attr =
      reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(request) + attrs_at);
  auto remaining = static_cast<int>(len - attrs_at);
  while (mnl_attr_ok(attr, remaining)) {
    if (mnl_attr_get_type(attr) == IPSET_ATTR_LINENO &&
        mnl_attr_get_payload_len(attr) >= sizeof(std::uint32_t)) {
      return mnl_attr_get_u32(attr);
    }
    remaining -= static_cast<int>(MNL_ALIGN(attr->nla_len));
    attr = mnl_attr_next(attr);
  }
  return 0;
}

std::once_flag types_loaded;

}  // namespace

struct SetWriter::State {
  Options options;
  mnl::SocketPtr socket;
  SessionPtr session;
  std::string output;  // libipset's printed text for the current command
  std::uint32_t seq = 1;
  std::vector<SetSpec> sets;
  std::vector<bool> full_logged;
  Counters counters;
  std::vector<std::byte> buffer;
  std::vector<char> in = std::vector<char>(256 * 1024);  // answers; an error copies its message

  // Runs one libipset command on `name` after `prepare` set its options; the report on failure.
  template <typename Prepare>
  std::optional<std::string> command(const std::string& name, enum ipset_cmd cmd, Prepare prepare) {
    output.clear();
    if (!session && !new_session()) return std::string("libipset session: out of memory");
    ipset_session_report_reset(session.get());
    ipset_data_reset(ipset_session_data(session.get()));
    if (ipset_parse_setname(session.get(), IPSET_SETNAME, name.c_str()) < 0 ||
        !prepare(session.get()) || ipset_cmd(session.get(), cmd, 0) < 0) {
      const char* report = ipset_session_report_msg(session.get());
      std::string text = strip(report != nullptr && *report != '\0' ? report : "libipset failed");
      // A failed dump can leave answers queued on libipset's socket, which the next command
      // would read as its own ("Internal protocol error"): start a fresh session.
      new_session();
      return text;
    }
    return std::nullopt;
  }

  bool new_session() {
    session.reset(ipset_session_init(capture, &output));
    if (!session) return false;
    ipset_envopt_set(session.get(), IPSET_ENV_EXIST);
    return true;
  }

  // One element through libipset: the per-command path the netlink path is measured against.
  MemberResult libipset_one(const SetSpec& spec, const Request& r) {
    const auto op = r.op == SetOp::kDelete ? IPSET_CMD_DEL : IPSET_CMD_ADD;
    const auto report = command(spec.name, op, [&](struct ipset_session* se) {
      if (ipset_type_get(se, op) == nullptr) return false;
      struct ipset_data* d = ipset_session_data(se);
      const auto& m = r.member;
      switch (spec.type) {
        case Type::kHashIp: ipset_data_set(d, IPSET_OPT_IP, m.other_addr.bytes.data()); break;
        case Type::kHashIpPort:
          ipset_data_set(d, IPSET_OPT_IP, m.other_addr.bytes.data());
          ipset_data_set(d, IPSET_OPT_PORT, &m.other_port);
          ipset_data_set(d, IPSET_OPT_PROTO, &m.ip_protocol);
          break;
        case Type::kHashIpPortIp:
          ipset_data_set(d, IPSET_OPT_IP, m.local_addr.bytes.data());
          ipset_data_set(d, IPSET_OPT_PORT, &m.other_port);
          ipset_data_set(d, IPSET_OPT_PROTO, &m.ip_protocol);
          ipset_data_set(d, IPSET_OPT_IP2, m.other_addr.bytes.data());
          break;
        case Type::kHashMac: ipset_data_set(d, IPSET_OPT_ETHER, m.local_mac.data()); break;
      }
      if (op == IPSET_CMD_ADD) {
        if (r.timeout.count() > 0) {
          const auto t = static_cast<std::uint32_t>(r.timeout.count());
          ipset_data_set(d, IPSET_OPT_TIMEOUT, &t);
        }
        if (spec.skb.mark) {
          const std::uint64_t full = std::uint64_t{*spec.skb.mark} << 32 | spec.skb.mask;
          ipset_data_set(d, IPSET_OPT_SKBMARK, &full);
        }
        if (spec.skb.prio) ipset_data_set(d, IPSET_OPT_SKBPRIO, &*spec.skb.prio);
        if (spec.skb.queue) ipset_data_set(d, IPSET_OPT_SKBQUEUE, &*spec.skb.queue);
      }
      return true;
    });
    ++counters.messages;
    if (!report) return {MemberOutcome::kApplied, 0};
    // libipset hands back text only; the kernel's reasons as ipset words them.
    if (report->find("does not exist") != std::string::npos) return {MemberOutcome::kNoSet, ENOENT};
    if (report->find("is full") != std::string::npos) {
      return {MemberOutcome::kSetFull, IPSET_ERR_HASH_FULL};
    }
    return {MemberOutcome::kFailed, EINVAL};
  }

  // Builds one ADD/DEL message for requests [begin, end) of `indices`, all to one set and op.
  nlmsghdr* put_message(char* at, const SetSpec& spec, bool del, std::span<const Request> requests,
                        std::span<const std::uint32_t> indices, std::uint32_t my_seq) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(at);
    nlh->nlmsg_type =
        static_cast<std::uint16_t>(NFNL_SUBSYS_IPSET << 8 | (del ? IPSET_CMD_DEL : IPSET_CMD_ADD));
    // No NLM_F_EXCL: the kernel applies -exist (flag_exist() in ip_set_core.c).
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = my_seq;
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = nfproto_of(spec);
    nfg->version = NFNETLINK_V0;
    nfg->res_id = 0;
    mnl_attr_put_u8(nlh, IPSET_ATTR_PROTOCOL, IPSET_PROTOCOL);
    mnl_attr_put_strz(nlh, IPSET_ATTR_SETNAME, spec.name.c_str());
    mnl_attr_put_u32(nlh, IPSET_ATTR_LINENO, 0);  // asks the kernel to name a failing element
    nlattr* adt = mnl_attr_nest_start(nlh, IPSET_ATTR_ADT);
    for (std::size_t i = 0; i < indices.size(); ++i) {
      put_element(nlh, spec, requests[indices[i]], static_cast<std::uint32_t>(i + 1));
    }
    mnl_attr_nest_end(nlh, adt);
    return nlh;
  }

  // A group: consecutive requests to one set with one direction, sent as one message.
  struct Group {
    SetHandle set;
    bool del;
    std::vector<std::uint32_t> indices;
  };

  // Sends the groups (each one message, all in one sendmsg) and answers their requests; the
  // elements after a failed one go back into `again` as a group.
  void send(std::span<const Request> requests, std::span<MemberResult> results,
            std::vector<Group>& groups, std::vector<Group>& again) {
    again.clear();
    std::size_t bytes = 0;
    for (const auto& g : groups) bytes += kHeaderBytes + g.indices.size() * kMaxElementBytes;
    if (buffer.size() < bytes) buffer.resize(bytes);
    std::size_t used = 0;
    const std::uint32_t first = seq;
    for (const auto& g : groups) {
      nlmsghdr* nlh = put_message(reinterpret_cast<char*>(buffer.data() + used), sets[g.set], g.del,
                                  requests, g.indices, seq++);
      used += NLMSG_ALIGN(nlh->nlmsg_len);
    }
    counters.messages += groups.size();
    ++counters.syscalls;
    std::vector<int> errors(groups.size(), 0);
    std::vector<std::uint32_t> lines(groups.size(), 0);
    std::vector<bool> answered(groups.size(), false);
    std::size_t pending = groups.size();
    int whole = 0;
    bool lost = false;
    if (mnl_socket_sendto(socket.get(), buffer.data(), used) < 0) whole = errno;
    auto on_error = [&](const nlmsghdr* nlh) {
      const std::size_t g = nlh->nlmsg_seq - first;  // unsigned: right across the wrap
      if (g >= groups.size() || answered[g]) return pending == 0;
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      errors[g] = -err->error;
      if (errors[g] != 0) lines[g] = failed_line(err, mnl_nlmsg_get_payload_len(nlh));
      answered[g] = true;
      --pending;
      return pending == 0;
    };
    if (whole == 0) {
      const auto deadline = std::chrono::steady_clock::now() + options.timeout;
      lost = mnl::read_errors(socket.get(), in, deadline, counters.syscalls, on_error);
    }
    for (std::size_t g = 0; g < groups.size(); ++g) {
      Group& group = groups[g];
      const int error =
          whole != 0 ? whole : (answered[g] ? errors[g] : (lost ? ENOBUFS : ETIMEDOUT));
      if (error == 0) {
        for (const auto i : group.indices) results[i] = {MemberOutcome::kApplied, 0};
        continue;
      }
      const std::uint32_t line = lines[g];
      if (line >= 1 && line <= group.indices.size()) {
        // Elements before the failed one are in; the failed one is answered; the rest again.
        for (std::size_t k = 0; k + 1 < line; ++k) {
          results[group.indices[k]] = {MemberOutcome::kApplied, 0};
        }
        const auto failed_index = group.indices[line - 1];
        results[failed_index] = {outcome_of(error), error};
        if (error == IPSET_ERR_HASH_FULL) note_full(group.set);
        if (line < group.indices.size()) {
          again.push_back(
              {group.set, group.del,
               std::vector<std::uint32_t>(group.indices.begin() + line, group.indices.end())});
        }
        continue;
      }
      if (error == ENOENT || !answered[g] || whole != 0 || group.indices.size() == 1) {
        // The set is gone, or nothing was handled: every element of the message shares it.
        for (const auto i : group.indices) results[i] = {outcome_of(error), error};
        continue;
      }
      // An error the kernel did not attribute to a line: halve until it is one element.
      const std::size_t half = group.indices.size() / 2;
      again.push_back(
          {group.set, group.del,
           std::vector<std::uint32_t>(group.indices.begin(),
                                      group.indices.begin() + static_cast<std::ptrdiff_t>(half))});
      again.push_back(
          {group.set, group.del,
           std::vector<std::uint32_t>(group.indices.begin() + static_cast<std::ptrdiff_t>(half),
                                      group.indices.end())});
    }
  }

  void note_full(SetHandle set) {
    if (full_logged[set]) return;
    full_logged[set] = true;
    logger()->warn(
        "ipset {} is full (maxelem {}): further members are refused and counted (set_full); "
        "raise the target's max_elements (managed sets: destroy the set so it is created again) "
        "or lower its ttl",
        sets[set].name, sets[set].max_elements);
  }

  void count(MemberOutcome outcome) {
    switch (outcome) {
      case MemberOutcome::kApplied:
      case MemberOutcome::kAbsent: ++counters.applied; break;
      case MemberOutcome::kSetFull: ++counters.set_full; break;
      case MemberOutcome::kNoSet: ++counters.no_set; break;
      case MemberOutcome::kRejected: ++counters.rejected; break;
      case MemberOutcome::kFailed: ++counters.failed; break;
    }
  }
};

SetWriter::SetWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
SetWriter::SetWriter(SetWriter&&) noexcept = default;
SetWriter& SetWriter::operator=(SetWriter&&) noexcept = default;
SetWriter::~SetWriter() = default;

Expected<SetWriter> SetWriter::open(const Options& options) {
  using Result = Expected<SetWriter>;
  std::call_once(types_loaded, [] { ipset_load_types(); });
  auto state = std::make_unique<State>();
  state->options = options;
  state->seq = options.first_seq;
  // IPSET_ATTR_ADT is one nested attribute: its 16-bit length caps the elements per message.
  state->options.elements_per_message =
      std::clamp<std::size_t>(options.elements_per_message, 1, 0xffff / kMaxElementBytes);
  state->options.messages_per_send = std::max<std::size_t>(1, options.messages_per_send);
  if (!state->new_session()) return Result::failure("ipset: libipset session: out of memory");
  // No NETLINK_CAP_ACK: failed_line reads the kernel's copy of the failed message back.
  auto socket = mnl::open_netfilter("ipset", options.socket_buffer, false);
  if (!socket) return Result::failure(socket.errors());
  state->socket = std::move(socket.value());
  return SetWriter(std::move(state));
}

Expected<SetHandle> SetWriter::attach(const SetSpec& spec) {
  using Result = Expected<SetHandle>;
  State& s = *state_;
  const std::string set = "ipset " + spec.name;
  if (spec.name.empty() || spec.name.size() >= IPSET_MAXNAMELEN) {
    return Result::failure("ipset: set name '" + spec.name + "' must have 1 to " +
                           std::to_string(IPSET_MAXNAMELEN - 1) +
                           " characters (family suffix included): shorten set_name");
  }
  if (s.sets.size() >= 0xffff) return Result::failure("ipset: too many sets attached");
  bool created = false;
  if (spec.managed) {
    const std::string type(type_name(spec.type));
    const auto report = s.command(spec.name, IPSET_CMD_CREATE, [&](struct ipset_session* se) {
      if (ipset_parse_typename(se, IPSET_OPT_TYPENAME, type.c_str()) < 0) return false;
      if (spec.type != Type::kHashMac &&
          ipset_parse_family(se, IPSET_OPT_FAMILY, family_text(spec)) < 0) {
        return false;
      }
      const std::string maxelem = std::to_string(spec.max_elements);
      if (ipset_parse_uint32(se, IPSET_OPT_MAXELEM, maxelem.c_str()) < 0) return false;
      if (spec.timeout && ipset_parse_timeout(se, IPSET_OPT_TIMEOUT, "0") < 0) return false;
      if (spec.skb.any() && ipset_parse_flag(se, IPSET_OPT_SKBINFO, nullptr) < 0) return false;
      return true;
    });
    if (report) {
      // An existing set of other settings is explained by the checks below.
      if (report->find("already exists") == std::string::npos) {
        std::string fix = "check the target's type and set_name";
        if (report->find("not supported") != std::string::npos) {
          fix = "this kernel lacks the " + type + " set type (CONFIG_IP_SET_HASH_" +
                (spec.type == Type::kHashMac ? "MAC" : "IP") +
                "): use another type, or a kernel with it";
        }
        return Result::failure("ipset: creating " + set + " (`" + create_command(spec) +
                               "`): " + *report + ": " + fix);
      }
    }
    created = true;
  }
  ipset_envopt_set(s.session.get(), IPSET_ENV_LIST_HEADER);
  const auto report =
      s.command(spec.name, IPSET_CMD_LIST, [](struct ipset_session*) { return true; });
  ipset_envopt_unset(s.session.get(), IPSET_ENV_LIST_HEADER);
  if (report) {
    if (report->find("does not exist") != std::string::npos) {
      return Result::failure("ipset: " + set + " does not exist: create it with `" +
                             create_command(spec) + "`, or set \"managed\": true in the target");
    }
    return Result::failure(
        "ipset: reading " + set + ": " + *report +
        (report->find("ermission") != std::string::npos ? ": ctlabeld needs CAP_NET_ADMIN" : ""));
  }
  const std::string type = line_after(s.output, "Type: ");
  const std::string header = line_after(s.output, "Header: ");
  const std::string recreate =
      "destroy it (`ipset destroy " + spec.name + "`) and create it with `" + create_command(spec) +
      "`" + (spec.managed ? " (a managed set is created again at start-up)" : "");
  if (type != type_name(spec.type)) {
    return Result::failure("ipset: " + set + " has type " + type + " but the target needs " +
                           std::string(type_name(spec.type)) + ": " + recreate +
                           ", or change the target's type");
  }
  if (spec.type != Type::kHashMac && header_value(header, "family") != family_text(spec)) {
    return Result::failure("ipset: " + set + " has family " + header_value(header, "family") +
                           " but the target's set_family needs " + family_text(spec) + ": " +
                           recreate);
  }
  if (spec.timeout && header_value(header, "timeout").empty()) {
    return Result::failure("ipset: " + set +
                           " has no timeout support but the target's ttl is not 0: " + recreate +
                           ", or set the target's ttl to 0");
  }
  if (spec.skb.any() && !header_has(header, "skbinfo")) {
    return Result::failure("ipset: " + set +
                           " has no skbinfo support but the target sets skb_mark, skb_prio or "
                           "skb_queue: " +
                           recreate);
  }
  for (std::size_t i = 0; i < s.sets.size(); ++i) {
    if (s.sets[i] == spec) return static_cast<SetHandle>(i);
  }
  s.sets.push_back(spec);
  s.full_logged.push_back(false);
  const auto handle = static_cast<SetHandle>(s.sets.size() - 1);
  if (created && spec.flush_on_create) {
    if (auto flushed = flush(handle); !flushed) return Result::failure(flushed.errors());
  }
  return handle;
}

void SetWriter::apply(std::span<const Request> requests, std::span<MemberResult> results) {
  assert(results.size() >= requests.size());
  State& s = *state_;
  if (s.options.path == AddPath::kLibipset) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const SetSpec& spec = s.sets.at(requests[i].set);
      results[i] = requests[i].member.ip_version != static_cast<std::uint8_t>(spec.family) &&
                           spec.type != Type::kHashMac
                       ? MemberResult{MemberOutcome::kRejected, EAFNOSUPPORT}
                       : s.libipset_one(spec, requests[i]);
      if (results[i].outcome == MemberOutcome::kSetFull) s.note_full(requests[i].set);
      s.count(results[i].outcome);
    }
    return;
  }
  std::vector<State::Group> groups;
  std::vector<State::Group> again;
  auto send_all = [&] {
    // Each resend answers at least one element (or halves a message), so this ends.
    for (std::size_t round = 0; !groups.empty(); ++round) {
      if (round > requests.size() * 2 + 8) std::abort();
      s.send(requests, results, groups, again);
      if (!again.empty()) s.counters.resends += again.size();
      groups.swap(again);
    }
  };
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const Request& r = requests[i];
    const SetSpec& spec = s.sets.at(r.set);
    if (spec.type != Type::kHashMac &&
        r.member.ip_version != static_cast<std::uint8_t>(spec.family)) {
      results[i] = {MemberOutcome::kRejected, EAFNOSUPPORT};
      continue;
    }
    const bool del = r.op == SetOp::kDelete;
    if (groups.empty() || groups.back().set != r.set || groups.back().del != del ||
        groups.back().indices.size() >= s.options.elements_per_message) {
      if (groups.size() >= s.options.messages_per_send) send_all();
      groups.push_back({r.set, del, {}});
    }
    groups.back().indices.push_back(static_cast<std::uint32_t>(i));
  }
  send_all();
  for (std::size_t i = 0; i < requests.size(); ++i) s.count(results[i].outcome);
}

Status SetWriter::flush(SetHandle set) {
  State& s = *state_;
  const SetSpec& spec = s.sets.at(set);
  if (const auto report =
          s.command(spec.name, IPSET_CMD_FLUSH, [](struct ipset_session*) { return true; })) {
    return Status::failure("ipset: flushing " + spec.name + ": " + *report);
  }
  return ok_status();
}

Status SetWriter::shutdown() {
  // Sets attached under several handles (a spec changed by a reload) are flushed once.
  std::vector<std::string> flushed;
  return run_all(state_->sets.size(), [&](std::size_t i) {
    const std::string& name = state_->sets[i].name;
    if (!state_->sets[i].flush_on_destroy ||
        std::find(flushed.begin(), flushed.end(), name) != flushed.end()) {
      return ok_status();
    }
    flushed.push_back(name);
    return flush(static_cast<SetHandle>(i));
  });
}

const Counters& SetWriter::counters() const noexcept { return state_->counters; }

}  // namespace ctlabeld::ipset
