// Small blocking HTTP/1.1 and WebSocket clients for the devserver's HTTP API
// tests, written against the RFCs rather than with libwebsockets, so the
// server is checked by an independent implementation.
//
// The devserver under test runs on the test thread's loop, so the blocking
// calls run on other threads: http_client::request() is called through
// off_loop(), and ws_client does its handshake and reading on its own thread
// while the test pumps the loop until the state it waits for.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "iotmp_gateway/net/uv_loop.hpp"
#include "iotmp_gateway/net/uv_timer.hpp"

namespace http_test {

using namespace std::chrono_literals;

inline int connect_loopback(std::uint16_t port, int rcvbuf = 0) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket");
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  timeval tv{30, 0};  // a bound, not a synchronisation: a hung server fails the test
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
  return fd;
}

inline void write_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    const auto n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("send failed");
    off += static_cast<std::size_t>(n);
  }
}

struct http_response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// Parses "HTTP/1.1 200 OK\r\nname: value\r\n...\r\n\r\n"; the body is what follows.
inline http_response parse_response(const std::string& raw) {
  http_response r;
  const auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.compare(0, 5, "HTTP/") != 0) {
    throw std::runtime_error("not an HTTP response: " + raw.substr(0, 200));
  }
  r.status = std::stoi(raw.substr(raw.find(' ') + 1, 3));
  std::size_t line = raw.find("\r\n") + 2;
  while (line < head_end) {
    const auto end = raw.find("\r\n", line);
    const std::string h = raw.substr(line, end - line);
    const auto colon = h.find(':');
    if (colon != std::string::npos) {
      std::string name = h.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = h.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
    }
    line = end + 2;
  }
  r.body = raw.substr(head_end + 4);
  return r;
}

// One request on its own connection ("connection: close"), read to EOF.
inline http_response request(std::uint16_t port, const std::string& method,
                             const std::string& target, const std::string& body = "",
                             const std::vector<std::string>& extra_headers = {}) {
  const int fd = connect_loopback(port);
  std::string req = method + " " + target + " HTTP/1.1\r\nhost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nconnection: close\r\n";
  for (const auto& h : extra_headers) req += h + "\r\n";
  if (method == "POST" || !body.empty()) {
    req +=
        "content-type: application/json\r\ncontent-length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  std::string raw;
  try {
    write_all(fd, req);
    char buf[16384];
    while (true) {
      const auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      raw.append(buf, static_cast<std::size_t>(n));
      // Content-Length known and complete: do not wait for the close.
      const auto head_end = raw.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const auto r = parse_response(raw);
        const auto it = r.headers.find("content-length");
        if (it != r.headers.end() && r.body.size() >= std::stoul(it->second)) break;
      }
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return parse_response(raw);
}

// Runs f on another thread while this thread runs the loop, until it returns.
template <class F>
auto off_loop(iotgw::uv::loop& loop, F f, std::chrono::milliseconds deadline = 40s)
    -> decltype(f()) {
  auto fut = std::async(std::launch::async, std::move(f));
  auto tick = iotgw::uv::timer::create(loop);
  tick->start(1ms, 1ms, [] {});
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (fut.wait_for(0s) != std::future_status::ready &&
         std::chrono::steady_clock::now() < until) {
    loop.run(UV_RUN_ONCE);
  }
  tick->close();
  loop.run(UV_RUN_NOWAIT);
  if (fut.wait_for(0s) != std::future_status::ready) {
    throw std::runtime_error("the request did not finish in time");
  }
  return fut.get();
}

// A WebSocket client (RFC 6455) on its own thread. Text messages and the close
// frame are kept in order; pause() stops reading so that the server meets a
// slow reader (its socket buffers fill up).
class ws_client {
 public:
  struct close_frame {
    int code = 0;
    std::string reason;
  };

  ws_client(std::uint16_t port, std::string target, std::vector<std::string> extra_headers = {},
            int rcvbuf = 0)
      : port_(port), target_(std::move(target)), extra_(std::move(extra_headers)), rcvbuf_(rcvbuf) {
    thread_ = std::thread([this] { run(); });
  }
  ~ws_client() {
    stop_ = true;
    resume();
    {
      std::lock_guard lock(mutex_);
      if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    }
    thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  // 0 while the handshake runs; then the status of the answer (101 when open),
  // or -1 when the connection failed.
  int handshake_status() const { return handshake_.load(); }
  bool open() const { return handshake_.load() == 101 && !ended(); }
  bool ended() const {
    std::lock_guard lock(mutex_);
    return ended_;
  }
  std::vector<std::string> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return messages_.size();
  }
  std::vector<std::chrono::steady_clock::time_point> times() const {
    std::lock_guard lock(mutex_);
    return times_;
  }
  std::optional<close_frame> closed() const {
    std::lock_guard lock(mutex_);
    return close_;
  }

  void send_text(const std::string& text) { send_frame(0x1, text); }
  void send_binary(const std::string& data) { send_frame(0x2, data); }
  void send_close(int code = 1000) {
    std::string p;
    p.push_back(static_cast<char>(code >> 8));
    p.push_back(static_cast<char>(code & 0xff));
    send_frame(0x8, p);
  }

  void pause() {
    std::lock_guard lock(mutex_);
    paused_ = true;
  }
  void resume() {
    {
      std::lock_guard lock(mutex_);
      paused_ = false;
    }
    cv_.notify_all();
  }

 private:
  void send_frame(int opcode, const std::string& payload) {
    std::string f;
    f.push_back(static_cast<char>(0x80 | opcode));
    const std::size_t n = payload.size();
    if (n < 126) {
      f.push_back(static_cast<char>(0x80 | n));
    } else if (n < 65536) {
      f.push_back(static_cast<char>(0x80 | 126));
      f.push_back(static_cast<char>(n >> 8));
      f.push_back(static_cast<char>(n & 0xff));
    } else {
      f.push_back(static_cast<char>(0x80 | 127));
      for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
    // Clients mask every frame (RFC 6455 §5.3).
    std::uint8_t mask[4];
    std::random_device rd;
    for (auto& m : mask) m = static_cast<std::uint8_t>(rd());
    for (auto m : mask) f.push_back(static_cast<char>(m));
    for (std::size_t i = 0; i < n; ++i) f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    std::lock_guard lock(write_mutex_);
    write_all(fd_, f);
  }

  // Reads exactly n bytes (from what the handshake read past its end first).
  bool read_exact(std::string& out, std::size_t n) {
    while (buffer_.size() < n) {
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return !paused_ || stop_; });
      }
      if (stop_) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) == 0) continue;  // look at pause/stop again
      char buf[16384];
      const auto got = ::recv(fd_, buf, sizeof buf, 0);
      if (got <= 0) return false;
      buffer_.append(buf, static_cast<std::size_t>(got));
    }
    out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return true;
  }

  void run() {
    try {
      const int fd = connect_loopback(port_, rcvbuf_);
      {
        std::lock_guard lock(mutex_);
        fd_ = fd;
      }
      std::string req =
          "GET " + target_ + " HTTP/1.1\r\nhost: 127.0.0.1:" + std::to_string(port_) +
          "\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
          "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n";
      for (const auto& h : extra_) req += h + "\r\n";
      write_all(fd_, req + "\r\n");
      while (buffer_.find("\r\n\r\n") == std::string::npos) {
        char buf[4096];
        const auto n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) break;
        buffer_.append(buf, static_cast<std::size_t>(n));
      }
      const auto head_end = buffer_.find("\r\n\r\n");
      if (head_end == std::string::npos) {
        finish(-1);
        return;
      }
      const auto head = parse_response(buffer_.substr(0, head_end + 4));
      buffer_.erase(0, head_end + 4);
      handshake_ = head.status;
      if (head.status != 101) {
        finish(head.status);
        return;
      }
      std::string message;
      while (!stop_) {
        std::string h;
        if (!read_exact(h, 2)) break;
        const bool fin = (h[0] & 0x80) != 0;
        const int opcode = h[0] & 0x0f;
        std::uint64_t len = static_cast<std::uint8_t>(h[1]) & 0x7f;
        std::string ext;
        if (len == 126) {
          if (!read_exact(ext, 2)) break;
          len = (static_cast<std::uint8_t>(ext[0]) << 8) | static_cast<std::uint8_t>(ext[1]);
        } else if (len == 127) {
          if (!read_exact(ext, 8)) break;
          len = 0;
          for (char c : ext) len = (len << 8) | static_cast<std::uint8_t>(c);
        }
        std::string payload;
        if (!read_exact(payload, len)) break;
        if (opcode == 0x8) {
          close_frame c;
          if (payload.size() >= 2) {
            c.code = (static_cast<std::uint8_t>(payload[0]) << 8) |
                     static_cast<std::uint8_t>(payload[1]);
            c.reason = payload.substr(2);
          }
          std::lock_guard lock(mutex_);
          close_ = c;
          break;
        }
        if (opcode == 0x9) {  // ping
          send_frame(0xA, payload);
          continue;
        }
        if (opcode == 0xA) continue;
        message += payload;
        if (fin) {
          std::lock_guard lock(mutex_);
          messages_.push_back(std::move(message));
          times_.push_back(std::chrono::steady_clock::now());
          message.clear();
        }
      }
      finish(handshake_);
    } catch (const std::exception&) {
      finish(handshake_ == 0 ? -1 : handshake_.load());
    }
  }

  void finish(int status) {
    handshake_ = status;
    std::lock_guard lock(mutex_);
    ended_ = true;
  }

  std::uint16_t port_;
  std::string target_;
  std::vector<std::string> extra_;
  int rcvbuf_;
  int fd_ = -1;
  std::thread thread_;
  std::atomic<int> handshake_{0};
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::mutex write_mutex_;
  std::condition_variable cv_;
  bool paused_ = false;
  bool ended_ = false;
  std::string buffer_;  // reader thread only
  std::vector<std::string> messages_;
  std::vector<std::chrono::steady_clock::time_point> times_;
  std::optional<close_frame> close_;
};

}  // namespace http_test
