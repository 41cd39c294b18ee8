// SPDX-License-Identifier: GPL-3.0-or-later
// The control request line: words, quoting, and each command's arguments.
#include "ctlabeld/control/request.hpp"

#include <charconv>

#include "ctlabeld/common/defaults.hpp"

namespace ctlabeld::control {

namespace {

constexpr const char* kUsage =
    "commands: status | flows [CRITERIA] [--limit N] | explain ADDRESS [PORT] | "
    "explain PROTO SRC SPORT DST DPORT | watch [CRITERIA] | reload";

bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }
bool is_control(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}
bool needs_quotes(std::string_view w) noexcept {
  if (w.empty()) return true;
  for (char c : w) {
    if (is_blank(c) || c == '"' || c == '\\' || is_control(c)) return true;
  }
  return false;
}

template <typename T>
bool parse_number(const std::string& text, T& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

bool parse_port(const std::string& text, std::uint16_t& out) { return parse_number(text, out); }

bool parse_protocol(const std::string& text, std::uint8_t& out) {
  if (text == "tcp")
    out = kProtoTcp;
  else if (text == "udp")
    out = kProtoUdp;
  else if (text == "icmp")
    out = kProtoIcmp;
  else if (text == "icmpv6")
    out = kProtoIcmpV6;
  else
    return parse_number(text, out);
  return true;
}

std::string shown(const std::string& w) {
  constexpr std::size_t kShown = 40;
  std::string s = w.size() > kShown ? w.substr(0, kShown) + "..." : w;
  for (char& c : s) {
    if (is_control(c)) c = '?';
  }
  return "'" + s + "'";
}

bool parse_endpoint(const std::string& addr, const std::string* port, Endpoint& out,
                    Errors& errors) {
  out.ip_version = parse_address(addr, out.address);
  if (out.ip_version == 0) {
    errors.push_back("explain: " + shown(addr) +
                     " is not an IPv4 or IPv6 address (e.g. 192.0.2.10 or 2001:db8::10)");
    return false;
  }
  if (port != nullptr) {
    std::uint16_t p = 0;
    if (!parse_port(*port, p)) {
      errors.push_back("explain: " + shown(*port) + " is not a port (0 to 65535)");
      return false;
    }
    out.port = p;
  }
  return true;
}

Status parse_explain(const std::vector<std::string>& args, ExplainTarget& t) {
  Errors errors;
  if (args.size() == 1 || args.size() == 2) {
    parse_endpoint(args[0], args.size() == 2 ? &args[1] : nullptr, t.first, errors);
  } else if (args.size() == 5) {
    std::uint8_t proto = 0;
    if (!parse_protocol(args[0], proto)) {
      errors.push_back("explain: " + shown(args[0]) +
                       " is not a protocol (tcp, udp, icmp, icmpv6 or a number up to 255)");
    }
    t.protocol = proto;
    Endpoint second;
    const bool a = parse_endpoint(args[1], &args[2], t.first, errors);
    const bool b = parse_endpoint(args[3], &args[4], second, errors);
    if (a && b && t.first.ip_version != second.ip_version) {
      errors.push_back("explain: " + shown(args[1]) + " and " + shown(args[3]) +
                       " are of different IP versions; a connection has one");
    }
    t.second = second;
  } else {
    errors.push_back("explain takes ADDRESS [PORT] or PROTO SRC SPORT DST DPORT, got " +
                     std::to_string(args.size()) + " argument(s)");
  }
  if (!errors.empty()) return Status::failure(std::move(errors));
  return ok_status();
}

// flows/watch: at most one criteria word; flows also takes --limit N (anywhere after the command).
Status parse_filtered(Command cmd, const std::vector<std::string>& args, Request& r) {
  Errors errors;
  const std::string name = command_name(cmd);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (cmd == Command::kFlows && a == "--limit") {
      std::size_t n = 0;
      if (i + 1 >= args.size()) {
        errors.push_back("flows: --limit needs a number");
      } else if (!parse_number(args[i + 1], n) || n == 0 || n > defaults::kControlFlowsMaxLimit) {
        errors.push_back("flows: --limit " + shown(args[i + 1]) + " is not a number from 1 to " +
                         std::to_string(defaults::kControlFlowsMaxLimit));
      } else {
        r.limit = n;
      }
      ++i;
    } else if (a.size() > 1 && a[0] == '-' && a[1] == '-') {
      errors.push_back(name + ": unknown option " + shown(a) +
                       (cmd == Command::kFlows ? " (flows takes --limit N)" : " (none exist)"));
    } else if (r.criteria) {
      errors.push_back(name + ": more than one criteria argument (" + shown(a) +
                       "); quote the whole expression, e.g. \"app == 'zoom';\"");
    } else {
      r.criteria = a;
    }
  }
  if (!errors.empty()) return Status::failure(std::move(errors));
  return ok_status();
}

}  // namespace

const char* command_name(Command c) noexcept {
  switch (c) {
    case Command::kStatus: return "status";
    case Command::kFlows: return "flows";
    case Command::kExplain: return "explain";
    case Command::kWatch: return "watch";
    case Command::kReload: return "reload";
  }
  return "?";
}

bool explain_matches(const ExplainTarget& t, std::uint8_t protocol, const Address& a,
                     std::uint16_t a_port, const Address& b, std::uint16_t b_port) noexcept {
  auto is = [](const Endpoint& e, const Address& addr, std::uint16_t port) {
    return e.address == addr && (!e.port || *e.port == port);
  };
  if (t.protocol && *t.protocol != protocol) return false;
  if (!t.second) return is(t.first, a, a_port) || is(t.first, b, b_port);
  return (is(t.first, a, a_port) && is(*t.second, b, b_port)) ||
         (is(t.first, b, b_port) && is(*t.second, a, a_port));
}

Expected<std::vector<std::string>> split_words(std::string_view line) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    if (is_blank(line[i])) {
      ++i;
      continue;
    }
    std::string w;
    if (line[i] == '"') {
      const std::size_t start = i++;
      bool closed = false;
      while (i < line.size()) {
        const char c = line[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (i >= line.size() || (line[i] != '"' && line[i] != '\\')) {
            return Expected<std::vector<std::string>>::failure(
                "column " + std::to_string(i) +
                ": inside quotes a backslash must be followed by \" or \\");
          }
          w += line[i++];
        } else if (is_control(c) && c != '\t') {  // a tab may be quoted
          return Expected<std::vector<std::string>>::failure("column " + std::to_string(i) +
                                                             ": control character in a request");
        } else {
          w += c;
        }
      }
      if (!closed) {
        return Expected<std::vector<std::string>>::failure("column " + std::to_string(start + 1) +
                                                           ": quote opened here is never closed");
      }
      if (i < line.size() && !is_blank(line[i])) {
        return Expected<std::vector<std::string>>::failure("column " + std::to_string(i + 1) +
                                                           ": a closing quote must end the word");
      }
    } else {
      while (i < line.size() && !is_blank(line[i])) {
        const char c = line[i];
        if (c == '"' || c == '\\' || is_control(c)) {
          return Expected<std::vector<std::string>>::failure(
              "column " + std::to_string(i + 1) +
              ": quotes, backslashes and control characters need a \"quoted word\"");
        }
        w += c;
        ++i;
      }
    }
    words.push_back(std::move(w));
  }
  return words;
}

std::string quote_word(std::string_view word) {
  if (!needs_quotes(word)) return std::string(word);
  std::string out = "\"";
  for (char c : word) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

Expected<Request> parse_request(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > defaults::kControlMaxRequestBytes) {
    return Expected<Request>::failure("request longer than " +
                                      std::to_string(defaults::kControlMaxRequestBytes) + " bytes");
  }
  auto words = split_words(line);
  if (!words) return Expected<Request>::failure(words.errors());
  if (words->empty()) return Expected<Request>::failure(std::string("empty request; ") + kUsage);
  const std::string verb = words->front();
  const std::vector<std::string> args(words->begin() + 1, words->end());
  Request r;
  if (verb == "status" || verb == "reload") {
    r.command = verb == "status" ? Command::kStatus : Command::kReload;
    if (!args.empty()) {
      return Expected<Request>::failure(verb + " takes no arguments, got " + shown(args[0]));
    }
    return r;
  }
  if (verb == "flows" || verb == "watch") {
    r.command = verb == "flows" ? Command::kFlows : Command::kWatch;
    if (auto s = parse_filtered(r.command, args, r); !s)
      return Expected<Request>::failure(s.errors());
    return r;
  }
  if (verb == "explain") {
    r.command = Command::kExplain;
    if (auto s = parse_explain(args, r.target); !s) return Expected<Request>::failure(s.errors());
    return r;
  }
  return Expected<Request>::failure("unknown command " + shown(verb) + "; " + kUsage);
}

}  // namespace ctlabeld::control
