// The fault-injection proxy itself: each mode does what the fault tests rely on.
#include "support/tcp_proxy.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using test_support::tcp_proxy;

// A blocking loopback socket helper with poll() deadlines.
class sock {
 public:
  explicit sock(int fd = -1) : fd_(fd) {}
  ~sock() {
    if (fd_ >= 0) ::close(fd_);
  }
  sock(sock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  sock& operator=(sock&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  int fd() const { return fd_; }

  static sock connect_to(std::uint16_t port, int* error = nullptr) {
    sock s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s.fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      if (error) *error = errno;
      return sock();
    }
    return s;
  }
  void send_all(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      const auto n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << std::strerror(errno);
      off += static_cast<std::size_t>(n);
    }
  }
  // Reads until n bytes arrived or the deadline passed; what arrived.
  std::string receive(std::size_t n, std::chrono::milliseconds deadline, int* error = nullptr) {
    std::string out;
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (out.size() < n) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const auto r = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
      if (r <= 0) {
        if (error) *error = r == 0 ? 0 : errno;
        break;
      }
      out.append(buf, static_cast<std::size_t>(r));
    }
    return out;
  }

 private:
  int fd_;
};

// The proxy's target: a listener the test accepts from.
class target {
 public:
  target() {
    fd_ = sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd_.fd(), 8) != 0 ||
        ::getsockname(fd_.fd(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("target: cannot listen");
    }
    port_ = ntohs(a.sin_port);
  }
  std::uint16_t port() const { return port_; }
  sock accept_one(std::chrono::milliseconds deadline = 5s) {
    pollfd p{fd_.fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(deadline.count())) <= 0) return sock();
    return sock(::accept4(fd_.fd(), nullptr, nullptr, SOCK_CLOEXEC));
  }

 private:
  sock fd_;
  std::uint16_t port_ = 0;
};

struct connected {
  sock client;
  sock server;
};
connected open_through(tcp_proxy& proxy, target& t) {
  connected c;
  c.client = sock::connect_to(proxy.port());
  c.server = t.accept_one();
  return c;
}

TEST(tcp_proxy, passes_both_ways_and_counts) {
  target t;
  tcp_proxy proxy(t.port());
  auto c = open_through(proxy, t);
  ASSERT_GE(c.server.fd(), 0);
  c.client.send_all("hello");
  EXPECT_EQ(c.server.receive(5, 5s), "hello");
  c.server.send_all("world!");
  EXPECT_EQ(c.client.receive(6, 5s), "world!");
  // Counted right after the write that delivered them.
  EXPECT_TRUE(test_support::wait_for([&] { return proxy.stats().bytes_down == 6u; }));
  const auto s = proxy.stats();
  EXPECT_EQ(s.accepted, 1u);
  EXPECT_EQ(s.active, 1u);
  EXPECT_EQ(s.bytes_up, 5u);
  EXPECT_EQ(s.bytes_down, 6u);
  // A FIN is passed on.
  c.client = sock();
  int error = -1;
  EXPECT_EQ(c.server.receive(1, 5s, &error), "");
  EXPECT_EQ(error, 0) << "expected an orderly end of stream";
  EXPECT_TRUE(test_support::wait_for([&] { return proxy.stats().closed_by_client == 1; }));
}

TEST(tcp_proxy, black_hole_holds_everything_until_it_passes_again) {
  target t;
  tcp_proxy proxy(t.port());
  auto c = open_through(proxy, t);
  ASSERT_GE(c.server.fd(), 0);
  proxy.black_hole();
  c.client.send_all("up");
  c.server.send_all("down");
  // Nothing for a while, in either direction (the window only bounds the check).
  EXPECT_EQ(c.server.receive(2, 300ms), "");
  EXPECT_EQ(c.client.receive(4, 1ms), "");
  // A new connection is accepted but carries nothing either.
  auto late = open_through(proxy, t);
  ASSERT_GE(late.server.fd(), 0);
  late.client.send_all("x");
  EXPECT_EQ(late.server.receive(1, 100ms), "");
  // The client giving up is noticed (counted), though not passed on.
  late.client = sock();
  EXPECT_TRUE(test_support::wait_for([&] { return proxy.stats().closed_by_client == 1; }));
  EXPECT_EQ(proxy.stats().active, 2u);
  proxy.pass();
  EXPECT_EQ(c.server.receive(2, 5s), "up");
  EXPECT_EQ(c.client.receive(4, 5s), "down");
  EXPECT_EQ(late.server.receive(1, 5s), "x");
  int error = -1;
  EXPECT_EQ(late.server.receive(1, 5s, &error), "");
  EXPECT_EQ(error, 0);
}

TEST(tcp_proxy, throttle_limits_the_rate) {
  target t;
  tcp_proxy proxy(t.port());
  auto c = open_through(proxy, t);
  ASSERT_GE(c.server.fd(), 0);
  proxy.throttle(2000);
  const std::string data(3000, 'a');
  const auto start = std::chrono::steady_clock::now();
  c.client.send_all(data);
  EXPECT_EQ(c.server.receive(data.size(), 10s).size(), data.size());
  const auto took = std::chrono::steady_clock::now() - start;
  // 3000 bytes at 2000 B/s (a 100-byte bucket): about 1.45 s.
  EXPECT_GE(took, 1200ms);
  EXPECT_LE(took, 5s);
  proxy.pass();
  const std::string more(200'000, 'b');
  std::thread sender([&] { c.client.send_all(more); });
  EXPECT_EQ(c.server.receive(more.size(), 5s).size(), more.size());
  sender.join();
}

TEST(tcp_proxy, reset_sends_rst_both_ways) {
  target t;
  tcp_proxy proxy(t.port());
  auto c = open_through(proxy, t);
  ASSERT_GE(c.server.fd(), 0);
  c.client.send_all("x");
  ASSERT_EQ(c.server.receive(1, 5s), "x");
  proxy.reset_connections();
  int error = 0;
  EXPECT_EQ(c.client.receive(1, 5s, &error), "");
  EXPECT_EQ(error, ECONNRESET);
  error = 0;
  EXPECT_EQ(c.server.receive(1, 5s, &error), "");
  EXPECT_EQ(error, ECONNRESET);
  EXPECT_EQ(proxy.stats().resets, 1u);
  EXPECT_EQ(proxy.stats().active, 0u);
  // Still accepting.
  auto again = open_through(proxy, t);
  EXPECT_GE(again.server.fd(), 0);
}

TEST(tcp_proxy, refuse_then_accept_again_on_the_same_port) {
  target t;
  tcp_proxy proxy(t.port());
  const auto port = proxy.port();
  proxy.refuse();
  int error = 0;
  EXPECT_LT(sock::connect_to(port, &error).fd(), 0);
  EXPECT_EQ(error, ECONNREFUSED);
  proxy.pass();
  EXPECT_EQ(proxy.port(), port);
  auto c = open_through(proxy, t);
  ASSERT_GE(c.server.fd(), 0);
  c.client.send_all("ok");
  EXPECT_EQ(c.server.receive(2, 5s), "ok");
}

TEST(tcp_proxy, target_down_closes_the_client) {
  const auto dead = test_support::free_port();
  tcp_proxy proxy(dead);
  auto client = sock::connect_to(proxy.port());
  ASSERT_GE(client.fd(), 0);
  int error = -1;
  EXPECT_EQ(client.receive(1, 5s, &error), "");
  EXPECT_TRUE(error == ECONNRESET || error == 0) << error;
  EXPECT_TRUE(test_support::wait_for([&] { return proxy.stats().target_failures == 1; }));
}

}  // namespace
