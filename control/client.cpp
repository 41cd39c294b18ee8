// SPDX-License-Identifier: GPL-3.0-or-later
// The `ctl` client: build the request line, connect, print the reply as a table or as JSON.
#include "ctlabeld/control/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/control/request.hpp"
#include "ctlabeld/control/table.hpp"

namespace ctlabeld::control {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;
constexpr std::size_t kMaxReplyBytes = 64 * 1024 * 1024;
constexpr std::chrono::seconds kReplyTimeout{60};  // a reload parses the whole actions file

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

Expected<int> connect_to(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return Expected<int>::failure("socket path '" + path + "' is empty or too long");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Expected<int>::failure(std::string("socket(): ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    std::string why;
    if (err == ENOENT)
      why = "no such socket: is ctlabeld running? socket " + path;
    else if (err == ECONNREFUSED)
      why = "nobody answers: is ctlabeld running? socket " + path;
    else if (err == EACCES || err == EPERM)
      why = "permission denied on socket " + path +
            ": run as root or as a member of the socket's group (ls -l " + path + ")";
    else
      why = std::string(std::strerror(err)) + ": is ctlabeld running? socket " + path;
    return Expected<int>::failure("cannot connect: " + why);
  }
  return fd;
}

bool send_all(int fd, const std::string& text) {
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::send(fd, text.data() + off, text.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads lines from the daemon; `on_line` returns false to stop. `deadline_first`: only the first
// line has a time limit (a watch stream is quiet as long as nothing happens).
enum class ReadEnd { kStopped, kClosed, kTimeout, kError, kTooLong };
template <typename OnLine>
ReadEnd read_lines(int fd, bool deadline_first, OnLine&& on_line) {
  std::string buf;
  bool first = true;
  const auto deadline = std::chrono::steady_clock::now() + kReplyTimeout;
  char chunk[65536];
  for (;;) {
    if (first && deadline_first) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return ReadEnd::kTimeout;
      pollfd p{fd, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return ReadEnd::kTimeout;
    }
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ReadEnd::kError;
    if (n == 0) return ReadEnd::kClosed;
    buf.append(chunk, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (auto nl = buf.find('\n'); nl != std::string::npos; nl = buf.find('\n', start)) {
      const std::string line = buf.substr(start, nl - start);
      start = nl + 1;
      first = false;
      if (!on_line(line)) return ReadEnd::kStopped;
    }
    buf.erase(0, start);
    if (buf.size() > kMaxReplyBytes) return ReadEnd::kTooLong;
  }
}

// Prints one reply line; returns the exit status it stands for.
int print_reply(const std::string& line, bool json) {
  auto text = render_reply(line);
  if (json) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    return text ? kExitOk : kExitRefused;
  }
  if (!text) {
    for (const auto& e : text.errors()) std::fprintf(stderr, "ctlabeld ctl: %s\n", e.c_str());
    return kExitRefused;
  }
  std::fwrite(text->data(), 1, text->size(), stdout);
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace

const char* client_usage_text() {
  return R"(Usage: ctlabeld ctl [--socket PATH] [--json] COMMAND
Ask the running daemon through its control socket.

  status                      version, uptime, sources, workers, flows, writers, reloads
  flows [CRITERIA] [--limit N]
                              current flows, filtered with the criteria language,
                              e.g. flows "app == 'zoom';"
  explain ADDRESS [PORT]      every action, in order, for the live flows with that end
  explain PROTO SRC SPORT DST DPORT
                              the same for one connection (PROTO: tcp, udp, icmp, icmpv6)
  watch [CRITERIA]            stream events (verdicts, effects applied and cleared, flow
                              ends) as lines until interrupted
  reload                      reload the actions file, like SIGHUP, and print the result

      --socket PATH           the control socket [default: /run/ctlabeld/ctlabeld.sock]
      --json                  print the daemon's JSON lines unchanged (for scripts)
  -h, --help                  print this help and exit

Exit status: 0 done, 1 the daemon answered with errors, 2 bad command line,
3 the daemon cannot be reached.
)";
}

Expected<ClientOptions> parse_client_options(const std::vector<std::string>& args) {
  ClientOptions o;
  o.socket = defaults::kControlSocket;
  std::vector<std::string> words;
  Errors errors;
  // --socket and --json are taken anywhere: no request argument starts with them.
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json") {
      o.json = true;
    } else if (a == "-h" || a == "--help") {
      o.help = true;
    } else if (a == "--socket") {
      if (i + 1 >= args.size())
        errors.emplace_back("ctl: --socket needs a path");
      else
        o.socket = args[++i];
    } else if (a.rfind("--socket=", 0) == 0) {
      o.socket = a.substr(9);
    } else {
      words.push_back(a);
    }
  }
  if (o.help) return o;
  if (words.empty())
    errors.emplace_back(
        "ctl: which command? (status, flows, explain, watch, reload; see ctl --help)");
  if (!errors.empty()) return Expected<ClientOptions>::failure(std::move(errors));
  for (const auto& w : words) {
    if (!o.request.empty()) o.request += ' ';
    o.request += quote_word(w);
  }
  auto request = parse_request(o.request);
  if (!request) {
    Errors e;
    for (const auto& m : request.errors()) e.push_back("ctl: " + m);
    return Expected<ClientOptions>::failure(std::move(e));
  }
  o.watch = request->command == Command::kWatch;
  return o;
}

int run_client(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  auto opts = parse_client_options(args);
  if (!opts) {
    for (const auto& e : opts.errors()) std::fprintf(stderr, "ctlabeld %s\n", e.c_str());
    return kExitUsage;
  }
  if (opts->help) {
    std::fputs(client_usage_text(), stdout);
    return kExitOk;
  }
  auto fd = connect_to(opts->socket);
  if (!fd) {
    std::fprintf(stderr, "ctlabeld ctl: %s\n", fd.errors().front().c_str());
    return kExitUnreachable;
  }
  const Fd sock(fd.value());
  if (!send_all(sock.get(), opts->request + "\n")) {
    std::fprintf(stderr, "ctlabeld ctl: sending to %s: %s\n", opts->socket.c_str(),
                 std::strerror(errno));
    return kExitUnreachable;
  }
  int status = kExitOk;
  bool first = true;
  const ReadEnd end = read_lines(sock.get(), true, [&](const std::string& line) {
    if (first) {
      first = false;
      status = print_reply(line, opts->json);
      return opts->watch && status == kExitOk;
    }
    if (opts->json) {
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fputc('\n', stdout);
    } else {
      const std::string text = render_event(line);
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fputc('\n', stdout);
    }
    std::fflush(stdout);
    return true;
  });
  if (first) {
    const char* why = end == ReadEnd::kTimeout   ? "no reply within 60 s"
                      : end == ReadEnd::kTooLong ? "the reply is too long"
                                                 : "the daemon closed the connection";
    std::fprintf(stderr, "ctlabeld ctl: %s (socket %s)\n", why, opts->socket.c_str());
    return kExitUnreachable;
  }
  if (opts->watch && status == kExitOk && end != ReadEnd::kStopped) {
    std::fprintf(stderr, "ctlabeld ctl: the daemon ended the watch (socket %s)\n",
                 opts->socket.c_str());
    return kExitUnreachable;
  }
  return status;
}

}  // namespace ctlabeld::control
