// SPDX-License-Identifier: GPL-3.0-or-later
// The control socket's thread: accept, read lines, dispatch to the Handler, write replies and
// watch events, enforce every bound and timeout. Nothing here waits on anything but epoll.
#include "ctlabeld/control/server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ctlabeld::control {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kReadChunk = 4096;  // per readable event: one client cannot hog the loop
constexpr std::size_t kShrinkAbove = 64 * 1024;
constexpr std::size_t kLinesPerTurn = 16;
// Requests of a client with this much of its replies unsent wait (and its socket is not read)
// until it reads: a client pipelining requests it never reads costs nothing more, and the write
// timeout ends it. Watch events have no such brake: a watcher that does not read is dropped when
// its buffer is full.
constexpr std::size_t kReplyBackpressure = defaults::kControlReplyBackpressureBytes;
constexpr std::chrono::milliseconds kAcceptPause{100};  // after running out of descriptors

std::string errno_text(int err) { return std::strerror(err); }

// {"ok":false,"command":C,"errors":[...]} on one line.
std::string error_line(const char* command, const Errors& errors) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("ok");
  w.Bool(false);
  if (command != nullptr) {
    w.Key("command");
    w.String(command);
  }
  w.Key("errors");
  w.StartArray();
  for (const auto& e : errors) w.String(e.c_str(), static_cast<rapidjson::SizeType>(e.size()));
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

std::string ok_line(const char* command, const std::string& result) {
  std::string out = R"({"ok":true,"command":")";
  out += command;
  out += R"(","result":)";
  out += result;
  out += "}\n";
  return out;
}

Expected<gid_t> resolve_group(const std::string& name) {
  gid_t gid = 0;
  const char* end = name.data() + name.size();
  if (auto [p, ec] = std::from_chars(name.data(), end, gid); ec == std::errc() && p == end) {
    return gid;
  }
  std::vector<char> buf(16384);
  struct group g {};
  struct group* found = nullptr;
  const int rc = ::getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) {
    return Expected<gid_t>::failure("control socket group '" + name +
                                    "' does not exist (create it with groupadd, or name another)");
  }
  return found->gr_gid;
}

struct Client {
  int fd = -1;
  std::string in;
  std::string out;
  std::size_t out_off = 0;
  Clock::time_point last_activity;
  Clock::time_point partial_since;
  Clock::time_point write_since;
  bool partial = false;
  bool read_closed = false;
  bool close_after_flush = false;
  bool dead = false;
  bool backlog = false;  // complete lines not yet answered
  std::uint64_t turn = 0;
  int watch_slot = -1;
  std::uint32_t events = 0;

  [[nodiscard]] std::size_t pending() const noexcept { return out.size() - out_off; }
};

}  // namespace

struct Server::Impl {
  Server& server;
  int epoll_fd = -1;
  std::vector<std::unique_ptr<Client>> clients;
  std::uint64_t watch_mask = 0;
  std::uint64_t hub_dropped_seen = 0;
  std::uint64_t turn = 0;  // loop iterations, to serve each client's backlog once per round
  bool listening = true;
  Clock::time_point accept_resume;  // when a pause after EMFILE ends
  // Tags for the non-client descriptors in epoll_event.data.ptr.
  char listen_tag = 0, stop_tag = 0, hub_tag = 0;

  std::atomic<std::uint64_t> accepted{0}, refused_too_many{0}, requests{0}, bad_requests{0},
      oversized_requests{0}, dropped_slow{0}, timed_out{0}, watch_events_sent{0}, n_clients{0},
      buffered_bytes{0}, peak_buffered_bytes{0};

  explicit Impl(Server& s) : server(s) {}
  ~Impl() {
    for (auto& c : clients) ::close(c->fd);
    if (epoll_fd >= 0) ::close(epoll_fd);
  }

  const ServerSettings& settings() const { return server.settings_; }

  void run() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    epoll_event evs[64];
    for (;;) {
      const int n = ::epoll_wait(epoll_fd, evs, 64, next_timeout_ms());
      if (n < 0 && errno != EINTR) std::abort();  // only on a broken epoll descriptor
      const auto now = Clock::now();
      for (int i = 0; i < n; ++i) {
        void* tag = evs[i].data.ptr;
        if (tag == &stop_tag) return;
        if (tag == &listen_tag) {
          accept_clients(now);
        } else if (tag == &hub_tag) {
          server.hub_.acknowledge_wake();
          drain_hub(now);
        } else {
          auto* c = static_cast<Client*>(tag);
          if (c->dead) continue;
          const std::uint32_t e = evs[i].events;
          if ((e & EPOLLIN) && !c->read_closed) on_readable(*c, now);
          if (!c->dead && (e & EPOLLOUT)) flush(*c, now);
          if (!c->dead && (e & (EPOLLHUP | EPOLLERR))) kill(*c);
        }
      }
      for (auto& c : clients) {  // backlogs whose sockets had nothing new this round
        if (!c->dead && c->backlog && !stalled(*c) && c->turn != turn) serve_lines(*c, now);
      }
      ++turn;
      if (!listening && Clock::now() >= accept_resume) set_listening(true);
      expire(Clock::now());
      reap();
    }
  }

  int next_timeout_ms() const {
    if (clients.empty() && listening) return -1;
    for (const auto& c : clients) {
      if (c->backlog && !stalled(*c)) return 0;
    }
    const auto now = Clock::now();
    auto next = now + std::chrono::hours(1);
    if (!listening) next = std::min(next, accept_resume);
    for (const auto& c : clients) {
      if (c->pending() > 0) next = std::min(next, c->write_since + settings().write_timeout);
      if (c->partial) next = std::min(next, c->partial_since + settings().read_timeout);
      if (c->watch_slot < 0 && c->pending() == 0) {
        next = std::min(next, c->last_activity + settings().idle_timeout);
      }
    }
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
    return static_cast<int>(std::clamp<long long>(ms, 0, 3600 * 1000));
  }

  void accept_clients(Clock::time_point now) {
    for (int k = 0; k < 64; ++k) {
      const int fd = ::accept4(server.listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // The connection stays queued and the socket readable: pause accepting rather than spin.
          set_listening(false);
          accept_resume = now + kAcceptPause;
        }
        return;  // EAGAIN, ECONNABORTED: nothing (more) to accept now
      }
      if (clients.size() >= settings().max_clients) {
        refused_too_many.fetch_add(1, std::memory_order_relaxed);
        const std::string msg =
            error_line(nullptr, {"too many control clients (" +
                                 std::to_string(settings().max_clients) + "); try again later"});
        [[maybe_unused]] const auto w = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
        ::close(fd);
        continue;
      }
      auto c = std::make_unique<Client>();
      c->fd = fd;
      c->last_activity = now;
      c->events = EPOLLIN;
      epoll_event ev{};
      ev.events = c->events;
      ev.data.ptr = c.get();
      if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        ::close(fd);
        continue;
      }
      clients.push_back(std::move(c));
      accepted.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void set_listening(bool on) {
    if (listening == on) return;
    listening = on;
    epoll_event ev{};
    ev.events = on ? std::uint32_t{EPOLLIN} : std::uint32_t{0};
    ev.data.ptr = &listen_tag;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, server.listen_fd_, &ev);
  }

  void set_events(Client& c, std::uint32_t events) {
    if (c.events == events) return;
    c.events = events;
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = &c;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
  }

  static bool stalled(const Client& c) {
    return c.watch_slot < 0 && c.pending() > kReplyBackpressure;
  }

  void update_events(Client& c) {
    std::uint32_t e = 0;
    if (!c.read_closed && !stalled(c)) e |= EPOLLIN;
    if (c.pending() > 0) e |= EPOLLOUT;
    set_events(c, e);
  }

  void kill(Client& c) {
    if (c.dead) return;
    c.dead = true;
    if (c.watch_slot >= 0) {
      server.handler_.unwatch(static_cast<unsigned>(c.watch_slot));
      watch_mask &= ~(std::uint64_t{1} << c.watch_slot);
      server.hub_.set_subscribed(watch_mask);
      c.watch_slot = -1;
    }
  }

  void reap() {
    std::size_t bytes = 0;
    auto keep = clients.begin();
    for (auto& c : clients) {
      if (c->dead) {
        ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, nullptr);
        ::close(c->fd);
        continue;
      }
      bytes += c->in.capacity() + c->out.capacity();
      *keep++ = std::move(c);
    }
    clients.erase(keep, clients.end());
    n_clients.store(clients.size(), std::memory_order_relaxed);
    buffered_bytes.store(bytes, std::memory_order_relaxed);
    if (bytes > peak_buffered_bytes.load(std::memory_order_relaxed)) {
      peak_buffered_bytes.store(bytes, std::memory_order_relaxed);
    }
  }

  void expire(Clock::time_point now) {
    for (auto& c : clients) {
      if (c->dead) continue;
      const bool write_stuck = c->pending() > 0 && now - c->write_since >= settings().write_timeout;
      const bool read_stuck = c->partial && now - c->partial_since >= settings().read_timeout;
      const bool idle = c->watch_slot < 0 && c->pending() == 0 && !c->partial &&
                        now - c->last_activity >= settings().idle_timeout;
      if (write_stuck || read_stuck || idle) {
        timed_out.fetch_add(1, std::memory_order_relaxed);
        kill(*c);
      }
    }
  }

  // Queues `text` for the client; a client whose output is full is dropped (it is not reading).
  void send(Client& c, const std::string& text, Clock::time_point now) {
    if (c.dead) return;
    if (c.pending() + text.size() > settings().max_output_bytes) {
      if (c.pending() == 0 && c.watch_slot < 0) {
        send(c,
             error_line(nullptr, {"the reply (" + std::to_string(text.size()) +
                                  " bytes) is larger than a client's buffer (" +
                                  std::to_string(settings().max_output_bytes) +
                                  " bytes); narrow the request, e.g. flows --limit N"}),
             now);
        return;
      }
      dropped_slow.fetch_add(1, std::memory_order_relaxed);
      kill(c);
      return;
    }
    if (c.pending() > 0) {  // the socket is full already: EPOLLOUT says when to go on
      c.out += text;
      return;
    }
    c.out.clear();
    c.out_off = 0;
    c.write_since = now;
    c.out += text;
    flush(c, now);
  }

  void flush(Client& c, Clock::time_point now) {
    while (c.pending() > 0) {
      const ssize_t n =
          ::send(c.fd, c.out.data() + c.out_off, c.pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        kill(c);  // EPIPE, ECONNRESET: the client went away
        return;
      }
      c.out_off += static_cast<std::size_t>(n);
      c.write_since = now;
    }
    if (c.pending() == 0) {
      c.out.clear();
      c.out_off = 0;
      if (c.out.capacity() > kShrinkAbove) c.out.shrink_to_fit();
      if (c.close_after_flush) {
        kill(c);
        return;
      }
    } else if (c.out_off > c.out.size() / 2) {
      c.out.erase(0, c.out_off);
      c.out_off = 0;
    }
    update_events(c);
  }

  void on_readable(Client& c, Clock::time_point now) {
    if (!c.backlog) {  // lines still waiting are served first: reading more would only pile up
      char buf[kReadChunk];
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) kill(c);
        return;
      }
      if (n == 0) {
        c.read_closed = true;
      } else if (c.watch_slot < 0 && !c.close_after_flush) {  // a watch stream ignores input
        c.in.append(buf, static_cast<std::size_t>(n));
      }
    }
    serve_lines(c, now);
  }

  // Answers at most kLinesPerTurn complete lines, so a client pipelining thousands of requests
  // waits its turn like the others; the rest stay in `in` as backlog for the next round.
  void serve_lines(Client& c, Clock::time_point now) {
    c.turn = turn;
    std::size_t start = 0;
    for (std::size_t k = 0; k < kLinesPerTurn && !stalled(c); ++k) {
      const auto nl = c.in.find('\n', start);
      if (nl == std::string::npos) break;
      if (nl - start > settings().max_request_bytes) {
        oversize(c, now);
        return;
      }
      const std::string line = c.in.substr(start, nl - start);
      start = nl + 1;
      c.last_activity = now;
      handle_line(c, line, now);
      if (c.dead || c.watch_slot >= 0) {
        c.in.clear();
        c.partial = false;
        c.backlog = false;
        if (!c.dead) update_events(c);
        return;
      }
    }
    c.in.erase(0, start);
    c.backlog = c.in.find('\n') != std::string::npos;
    if (c.backlog) return;
    if (c.in.size() > settings().max_request_bytes) {
      oversize(c, now);
      return;
    }
    if (c.read_closed) {
      // A last line without "\n" still counts (printf status | socat - UNIX:...).
      if (!c.in.empty() && c.watch_slot < 0) {
        std::string line;
        line.swap(c.in);
        handle_line(c, line, now);
        if (c.dead) return;
      }
      c.partial = false;
      if (c.watch_slot < 0) {
        c.close_after_flush = true;
        if (c.pending() == 0) {
          kill(c);
          return;
        }
      }
      update_events(c);
      return;
    }
    if (!c.in.empty() && !c.partial) c.partial_since = now;
    c.partial = !c.in.empty();
  }

  void oversize(Client& c, Clock::time_point now) {
    oversized_requests.fetch_add(1, std::memory_order_relaxed);
    c.in.clear();
    c.in.shrink_to_fit();
    c.partial = false;
    c.read_closed = true;
    c.close_after_flush = true;
    send(
        c,
        error_line(nullptr, {"request longer than " + std::to_string(settings().max_request_bytes) +
                             " bytes; one request per line"}),
        now);
    if (!c.dead) update_events(c);
  }

  void handle_line(Client& c, const std::string& line, Clock::time_point now) {
    requests.fetch_add(1, std::memory_order_relaxed);
    auto request = parse_request(line);
    if (!request) {
      bad_requests.fetch_add(1, std::memory_order_relaxed);
      send(c, error_line(nullptr, request.errors()), now);
      return;
    }
    const Request& r = request.value();
    const char* name = command_name(r.command);
    Reply reply = Reply::failure("no reply");
    int slot = -1;
    try {
      switch (r.command) {
        case Command::kStatus: reply = server.handler_.status(); break;
        case Command::kFlows:
          reply = server.handler_.flows(r.criteria, r.limit.value_or(defaults::kControlFlowsLimit));
          break;
        case Command::kExplain: reply = server.handler_.explain(r.target); break;
        case Command::kReload: reply = server.handler_.reload(); break;
        case Command::kWatch:
          slot = free_watch_slot();
          if (slot < 0) {
            reply = Reply::failure("too many watchers (" + std::to_string(WatchHub::kMaxWatchers) +
                                   "); stop one first");
            break;
          }
          reply = server.handler_.watch(static_cast<unsigned>(slot), r.criteria);
          break;
      }
    } catch (const std::exception& e) {
      reply = Reply::failure(std::string("internal error answering ") + name + ": " + e.what());
    }
    if (!reply) {
      send(c, error_line(name, reply.errors()), now);
      return;
    }
    if (reply->find('\n') != std::string::npos) {
      send(c, error_line(name, {"internal error: the reply spans several lines"}), now);
      return;
    }
    if (r.command == Command::kWatch) {
      c.watch_slot = slot;
      watch_mask |= std::uint64_t{1} << slot;
      server.hub_.set_subscribed(watch_mask);
    }
    send(c, ok_line(name, reply.value()), now);
  }

  int free_watch_slot() const {
    if (watch_mask == ~std::uint64_t{0}) return -1;
    return std::countr_one(watch_mask);
  }

  void drain_hub(Clock::time_point now) {
    const std::uint64_t dropped = server.hub_.dropped();
    if (dropped != hub_dropped_seen) {
      const std::string notice =
          R"({"event":"dropped","events":)" + std::to_string(dropped - hub_dropped_seen) + "}\n";
      hub_dropped_seen = dropped;
      for (auto& c : clients) {
        if (c->watch_slot >= 0) send(*c, notice, now);
      }
    }
    WatchEvent ev;
    // Bounded per wake-up so the loop keeps serving requests under a flood of events.
    std::size_t k = 0;
    for (; k < defaults::kControlWatchQueue && server.hub_.pop(ev); ++k) {
      const std::uint64_t audience = ev.audience & watch_mask;
      if (audience == 0) continue;
      ev.line += '\n';
      for (auto& c : clients) {
        if (c->watch_slot >= 0 && !c->dead && (audience >> c->watch_slot & 1U)) {
          send(*c, ev.line, now);
          watch_events_sent.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
    if (k == defaults::kControlWatchQueue) {  // maybe more: wake again after the others' turn
      const std::uint64_t one = 1;
      [[maybe_unused]] const auto w = ::write(server.hub_.wake_fd(), &one, sizeof one);
    }
  }
};

Server::Server(ServerSettings settings, Handler& handler, WatchHub& hub)
    : settings_(std::move(settings)), handler_(handler), hub_(hub) {}

Expected<std::unique_ptr<Server>> Server::start(ServerSettings settings, Handler& handler,
                                                WatchHub& hub) {
  using R = Expected<std::unique_ptr<Server>>;
  const std::string path = settings.path;  // a copy: settings move into the server below
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return R::failure("control socket '" + path + "': the path must have 1 to " +
                      std::to_string(sizeof addr.sun_path - 1) + " characters");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  std::optional<gid_t> gid;
  if (!settings.group.empty()) {
    auto g = resolve_group(settings.group);
    if (!g) return R::failure(g.errors());
    gid = g.value();
  }

  std::unique_ptr<Server> s(new Server(std::move(settings), handler, hub));
  s->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->listen_fd_ < 0) return R::failure("control socket: socket(): " + errno_text(errno));

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return R::failure("control socket " + path +
                        " exists and is not a socket; remove it or choose another path");
    }
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool answered =
        probe >= 0 && ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) ::close(probe);
    if (answered) {
      return R::failure("control socket " + path +
                        ": another ctlabeld answers on it; stop that one or choose another path");
    }
    ::unlink(path.c_str());  // stale: left by a daemon that did not exit cleanly
  }
  if (::bind(s->listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    std::string hint;
    if (err == ENOENT)
      hint = " (its directory is missing; under systemd RuntimeDirectory= makes it)";
    if (err == EACCES) hint = " (no write permission on its directory)";
    return R::failure("control socket " + path + ": bind: " + errno_text(err) + hint);
  }
  // From here on the destructor removes the file.
  s->impl_ = std::make_unique<Impl>(*s);
  if (::chmod(path.c_str(), s->settings_.mode) != 0) {
    return R::failure("control socket " + path + ": chmod: " + errno_text(errno));
  }
  if (gid && ::chown(path.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
    return R::failure("control socket " + path + ": cannot give it to group '" +
                      s->settings_.group + "': " + errno_text(errno) +
                      " (the daemon must be a member of that group)");
  }
  if (::listen(s->listen_fd_, 64) != 0) {
    return R::failure("control socket " + path + ": listen: " + errno_text(errno));
  }
  s->stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  s->impl_->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (s->stop_fd_ < 0 || s->impl_->epoll_fd < 0) {
    return R::failure("control socket: eventfd/epoll: " + errno_text(errno));
  }
  Impl& impl = *s->impl_;
  auto add = [&](int fd, void* tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = tag;
    return ::epoll_ctl(impl.epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0;
  };
  if (!add(s->listen_fd_, &impl.listen_tag) || !add(s->stop_fd_, &impl.stop_tag) ||
      !add(hub.wake_fd(), &impl.hub_tag)) {
    return R::failure("control socket: epoll_ctl: " + errno_text(errno));
  }
  impl.hub_dropped_seen = hub.dropped();
  s->thread_ = std::thread([&impl] { impl.run(); });
  return R(std::move(s));
}

Server::~Server() {
  if (thread_.joinable()) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto w = ::write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  if (impl_) {
    for (auto& c : impl_->clients) impl_->kill(*c);
    ::unlink(settings_.path.c_str());
  }
  impl_.reset();
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

ServerCounters Server::counters() const noexcept {
  ServerCounters out;
  if (!impl_) return out;
  const auto get = [](const std::atomic<std::uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
  };
  out.accepted = get(impl_->accepted);
  out.refused_too_many = get(impl_->refused_too_many);
  out.requests = get(impl_->requests);
  out.bad_requests = get(impl_->bad_requests);
  out.oversized_requests = get(impl_->oversized_requests);
  out.dropped_slow = get(impl_->dropped_slow);
  out.timed_out = get(impl_->timed_out);
  out.watch_events_sent = get(impl_->watch_events_sent);
  out.clients = get(impl_->n_clients);
  out.buffered_bytes = get(impl_->buffered_bytes);
  out.peak_buffered_bytes = get(impl_->peak_buffered_bytes);
  return out;
}

}  // namespace ctlabeld::control
