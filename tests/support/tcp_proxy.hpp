// A TCP proxy under a test's control, for fault injection between the gateway
// and one of its peers: listens on 127.0.0.1 (a port of its own), forwards each
// accepted connection to a target, and can be switched at run time to
//   pass        forward both ways;
//   black_hole  keep every connection open and forward nothing either way (a
//               half-open path: the sender's bytes wait in socket buffers, as
//               they would behind a dead router, and flow on once it heals);
//   throttle    forward at most N bytes/s per direction and connection;
// and, independently, refuse new connections (the listener is closed, so a
// connect gets ECONNREFUSED) or reset every current connection (RST both ways).
//
// It runs on its own thread with plain poll(): tests drive it from the test
// thread while that thread runs its own libuv loop. Every control call returns
// once the proxy thread has applied it, so "black_hole(); t0 = now()" measures
// from the moment nothing passes any more.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace test_support {

class tcp_proxy {
 public:
  enum class mode { pass, black_hole, throttle };

  struct counters {
    std::uint64_t accepted = 0;          // connections taken from the listener
    std::uint64_t active = 0;            // open right now
    std::uint64_t closed_by_client = 0;  // the client side sent FIN or RST
    std::uint64_t closed_by_target = 0;  // the target side sent FIN or RST
    std::uint64_t target_failures = 0;   // the target refused or failed the connect
    std::uint64_t resets = 0;            // connections reset by reset_connections()
    std::uint64_t bytes_up = 0;          // client -> target, written to the target
    std::uint64_t bytes_down = 0;        // target -> client, written to the client
  };

  // Forwards to 127.0.0.1:target_port.
  explicit tcp_proxy(std::uint16_t target_port) : target_port_(target_port) {
    wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_ < 0) throw std::runtime_error("tcp_proxy: eventfd failed");
    open_listener();
    if (listener_ < 0) {
      ::close(wake_);
      throw std::runtime_error("tcp_proxy: cannot listen on 127.0.0.1");
    }
    thread_ = std::thread([this] { run(); });
  }
  ~tcp_proxy() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake();
    thread_.join();
    for (auto& c : conns_) close_conn(c, false);
    if (listener_ >= 0) ::close(listener_);
    ::close(wake_);
  }
  tcp_proxy(const tcp_proxy&) = delete;
  tcp_proxy& operator=(const tcp_proxy&) = delete;

  std::uint16_t port() const noexcept { return port_; }

  // Forward freely and accept new connections again.
  void pass() {
    apply([this] {
      wanted_mode_ = mode::pass;
      accepting_ = true;
    });
  }
  void black_hole() {
    apply([this] { wanted_mode_ = mode::black_hole; });
  }
  void throttle(std::size_t bytes_per_second) {
    apply([this, bytes_per_second] {
      wanted_mode_ = mode::throttle;
      wanted_rate_ = static_cast<double>(std::max<std::size_t>(bytes_per_second, 1));
    });
  }
  // Closes the listener: new connects are refused; current connections go on.
  void refuse() {
    apply([this] { accepting_ = false; });
  }
  // Resets every current connection: RST to both the client and the target.
  void reset_connections() {
    apply([this] { reset_requested_ = true; });
  }

  counters stats() const {
    std::lock_guard lock(stats_mutex_);
    return stats_;
  }

 private:
  // Per direction: bytes read from one side and not yet written to the other.
  struct pipe_state {
    std::string buffer;
    bool eof = false;         // the source side finished sending
    bool shut = false;        // we passed that on with shutdown(SHUT_WR)
    bool close_seen = false;  // counted in closed_by_*
    double tokens = 0;        // throttle: bytes that may be read now
  };
  struct conn {
    int client = -1;
    int target = -1;
    bool target_connected = false;
    pipe_state up;    // client -> target
    pipe_state down;  // target -> client
  };

  // Enough to keep a loopback stream busy, small enough that backpressure
  // reaches the sender soon after the proxy stops reading.
  static constexpr std::size_t buffer_limit = 64 * 1024;
  static constexpr int socket_buffer = 64 * 1024;

  template <typename F>
  void apply(F&& change) {
    std::unique_lock lock(mutex_);
    change();
    const auto ticket = ++requested_;
    wake();
    applied_cv_.wait(lock, [&] { return applied_ >= ticket || stop_; });
  }

  void wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_, &one, sizeof one);
  }

  static void small_buffers(int fd) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &socket_buffer, sizeof socket_buffer);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &socket_buffer, sizeof socket_buffer);
  }

  void open_listener() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    // Accepted sockets inherit the buffer sizes of the listener.
    small_buffers(fd);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(fd);
      return;
    }
    if (port_ == 0) port_ = ntohs(a.sin_port);  // a reopened listener has the same port
    listener_ = fd;
  }

  // Abortive close (SO_LINGER 0) sends RST instead of FIN.
  static void close_fd(int& fd, bool abortive) {
    if (fd < 0) return;
    if (abortive) {
      const linger l{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    ::close(fd);
    fd = -1;
  }
  void close_conn(conn& c, bool abortive) {
    close_fd(c.client, abortive);
    close_fd(c.target, abortive);
  }

  void count(std::uint64_t counters::*field, std::uint64_t n = 1) {
    std::lock_guard lock(stats_mutex_);
    stats_.*field += n;
  }

  void accept_all() {
    while (true) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or an aborted connect: nothing to do
      conn c;
      c.client = fd;
      c.target = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      small_buffers(c.target);
      const int on = 1;
      ::setsockopt(c.client, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      ::setsockopt(c.target, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(target_port_);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      const int rc = ::connect(c.target, reinterpret_cast<sockaddr*>(&a), sizeof a);
      if (rc != 0 && errno != EINPROGRESS) {
        count(&counters::target_failures);
        count(&counters::accepted);
        close_conn(c, true);
        continue;
      }
      c.target_connected = rc == 0;
      conns_.push_back(std::move(c));
      count(&counters::accepted);
    }
  }

  void refill(conn& c, double seconds) {
    if (mode_ != mode::throttle) return;
    // A bucket of 1/20 s worth of bytes: smooth, no bursts after a pause.
    const double cap = std::max(rate_ / 20.0, 1.0);
    c.up.tokens = std::min(cap, c.up.tokens + rate_ * seconds);
    c.down.tokens = std::min(cap, c.down.tokens + rate_ * seconds);
  }

  // Reads from `from` into p (as the mode allows); false when the connection is to be aborted.
  bool read_side(int from, pipe_state& p, std::uint64_t counters::*closed) {
    std::size_t room = buffer_limit - p.buffer.size();
    if (mode_ == mode::throttle) room = std::min(room, static_cast<std::size_t>(p.tokens));
    if (room == 0) return true;
    char buf[16 * 1024];
    const auto n = ::recv(from, buf, std::min(room, sizeof buf), 0);
    if (n > 0) {
      p.buffer.append(buf, static_cast<std::size_t>(n));
      if (mode_ == mode::throttle) p.tokens -= static_cast<double>(n);
      return true;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (!p.close_seen) {
      p.close_seen = true;
      count(closed);
    }
    if (n == 0) {
      p.eof = true;
      return true;
    }
    return false;  // ECONNRESET and friends: pass the reset on
  }

  bool write_side(int to, pipe_state& p, std::uint64_t counters::*bytes) {
    if (!p.buffer.empty()) {
      const auto n = ::send(to, p.buffer.data(), p.buffer.size(), MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EINTR;
      p.buffer.erase(0, static_cast<std::size_t>(n));
      count(bytes, static_cast<std::uint64_t>(n));
    }
    if (p.buffer.empty() && p.eof && !p.shut) {
      ::shutdown(to, SHUT_WR);
      p.shut = true;
    }
    return true;
  }

  void run() {
    auto last = std::chrono::steady_clock::now();
    std::vector<pollfd> fds;
    while (true) {
      {
        std::lock_guard lock(mutex_);
        if (stop_) break;
        if (reset_requested_) {
          count(&counters::resets, conns_.size());
          for (auto& c : conns_) close_conn(c, true);
          conns_.clear();
          reset_requested_ = false;
          std::lock_guard stats_lock(stats_mutex_);
          stats_.active = 0;
        }
        if (accepting_ && listener_ < 0) open_listener();
        if (!accepting_ && listener_ >= 0) close_fd(listener_, false);
        mode_ = wanted_mode_;
        rate_ = wanted_rate_;
        applied_ = requested_;
      }
      applied_cv_.notify_all();

      const auto now = std::chrono::steady_clock::now();
      const double elapsed = std::chrono::duration<double>(now - last).count();
      last = now;

      // Poll set: [0] wake, [1] listener (or -1), then client/target per connection.
      fds.clear();
      fds.push_back({wake_, POLLIN, 0});
      fds.push_back({listener_, POLLIN, 0});
      bool starved = false;
      for (auto& c : conns_) {
        refill(c, elapsed);
        short ce = 0, te = 0;
        if (!c.target_connected) {
          te = POLLOUT;
        } else if (mode_ == mode::black_hole) {
          // Read nothing; notice a peer's FIN only, to count it (POLLRDHUP
          // does not fire for plain data).
          if (!c.up.close_seen) ce = POLLRDHUP;
          if (!c.down.close_seen) te = POLLRDHUP;
        } else {
          const auto wants_read = [&](const pipe_state& p) {
            if (p.eof || p.buffer.size() >= buffer_limit) return false;
            if (mode_ == mode::throttle && p.tokens < 1.0) {
              starved = true;
              return false;
            }
            return true;
          };
          if (wants_read(c.up)) ce |= POLLIN;
          if (wants_read(c.down)) te |= POLLIN;
          if (!c.up.buffer.empty() || (c.up.eof && !c.up.shut)) te |= POLLOUT;
          if (!c.down.buffer.empty() || (c.down.eof && !c.down.shut)) ce |= POLLOUT;
        }
        fds.push_back({c.client, ce, 0});
        fds.push_back({c.target, te, 0});
      }
      const int timeout_ms = starved ? 10 : 500;
      if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) break;

      if (fds[0].revents & POLLIN) {
        std::uint64_t v;
        [[maybe_unused]] const auto n = ::read(wake_, &v, sizeof v);
      }
      std::size_t i = 2;
      for (auto it = conns_.begin(); it != conns_.end(); i += 2) {
        auto& c = *it;
        const short cr = fds[i].revents;
        const short tr = fds[i + 1].revents;
        bool alive = true;
        if (!c.target_connected) {
          if (tr & (POLLOUT | POLLERR | POLLHUP)) {
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(c.target, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
              count(&counters::target_failures);
              alive = false;
            } else {
              c.target_connected = true;
            }
          }
        } else if (mode_ == mode::black_hole) {
          // A FIN is noted and waits, like any data, for the path to heal;
          // an error (a reset) ends the connection, or poll() would spin on it.
          if ((cr & (POLLRDHUP | POLLHUP | POLLERR)) && !c.up.close_seen) {
            c.up.close_seen = true;
            count(&counters::closed_by_client);
          }
          if ((tr & (POLLRDHUP | POLLHUP | POLLERR)) && !c.down.close_seen) {
            c.down.close_seen = true;
            count(&counters::closed_by_target);
          }
          if ((cr | tr) & (POLLHUP | POLLERR)) alive = false;
        } else {
          if (cr & (POLLIN | POLLHUP | POLLERR))
            alive = read_side(c.client, c.up, &counters::closed_by_client);
          if (alive && (tr & (POLLIN | POLLHUP | POLLERR)))
            alive = read_side(c.target, c.down, &counters::closed_by_target);
          if (alive) alive = write_side(c.target, c.up, &counters::bytes_up);
          if (alive) alive = write_side(c.client, c.down, &counters::bytes_down);
          // Done when both directions finished and were passed on.
          if (alive && c.up.shut && c.down.shut) {
            close_conn(c, false);
            it = conns_.erase(it);
            continue;
          }
        }
        if (!alive) {
          close_conn(c, true);
          it = conns_.erase(it);
          continue;
        }
        ++it;
      }
      if (listener_ >= 0 && (fds[1].revents & POLLIN)) accept_all();
      {
        std::lock_guard lock(stats_mutex_);
        stats_.active = conns_.size();
      }
    }
    applied_cv_.notify_all();
  }

  const std::uint16_t target_port_;
  std::uint16_t port_ = 0;  // 0 until the first bind; kept across refuse()/pass()
  int listener_ = -1;
  int wake_ = -1;
  std::list<conn> conns_;   // proxy thread only
  mode mode_ = mode::pass;  // proxy thread's copy of wanted_mode_
  double rate_ = 1;

  std::mutex mutex_;  // guards the requested state below
  std::condition_variable applied_cv_;
  bool stop_ = false;
  mode wanted_mode_ = mode::pass;
  double wanted_rate_ = 1;
  bool accepting_ = true;
  bool reset_requested_ = false;
  std::uint64_t requested_ = 0;
  std::uint64_t applied_ = 0;

  mutable std::mutex stats_mutex_;
  counters stats_;

  std::thread thread_;
};

}  // namespace test_support
