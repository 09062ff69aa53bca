#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iotmp_gateway/net/connector.hpp"
#include "iotmp_gateway/net/listener.hpp"
#include "net_support.hpp"

using namespace net_test;
using iotgw::byte_buffer;
using iotgw::byte_view;

namespace {

class tcp : public loop_test {};

// A port nobody listens on: bound then released (the kernel does not hand it
// out again at once).
std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A listener that never accepts, its backlog already full: a further SYN is
// dropped, so connecting to it hangs until our timeout.
class full_backlog {
 public:
  full_backlog() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_fd_, 0), 0);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    for (int i = 0; i < 4; ++i) {  // more than the backlog holds; extra ones just hang
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers_.push_back(fd);
    }
  }
  ~full_backlog() {
    for (int fd : fillers_) ::close(fd);
    ::close(listen_fd_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;
};

TEST_F(tcp, echo_round_trip) {
  echo_server server(loop_);
  auto client = connect_to(loop_, "127.0.0.1", server.port());
  ASSERT_TRUE(client);
  EXPECT_EQ(client->peer_name(), "127.0.0.1:" + std::to_string(server.port()));
  std::string received;
  client->on_data([&](byte_view d) { received.append(d.begin(), d.end()); });
  ASSERT_TRUE(client->write(as_bytes("hello, gateway")).ok());
  EXPECT_TRUE(run_until(loop_, [&] { return received.size() >= 14; }));
  EXPECT_EQ(received, "hello, gateway");
  EXPECT_TRUE(run_until(loop_, [&] { return client->queued_bytes() == 0; }));
  client->close();
}

TEST_F(tcp, chunked_and_batched_writes_arrive_in_order) {
  echo_server server(loop_);
  auto client = connect_to(loop_, "127.0.0.1", server.port());
  ASSERT_TRUE(client);
  byte_buffer received;
  client->on_data([&](byte_view d) { received.insert(received.end(), d.begin(), d.end()); });
  std::size_t sent = 0;
  for (std::size_t size : {1, 7, 100, 1500, 65536, 3, 200000}) {
    ASSERT_TRUE(client->write(pattern(sent, size)).ok());
    sent += size;
  }
  // Several buffers in one write.
  std::vector<byte_buffer> batch;
  for (std::size_t size : {10, 20, 30000, 1}) {
    batch.push_back(pattern(sent, size));
    sent += size;
  }
  ASSERT_TRUE(client->write(std::move(batch)).ok());
  EXPECT_TRUE(run_until(loop_, [&] { return received.size() >= sent; }));
  EXPECT_EQ(received, pattern(0, sent));
  client->close();
}

TEST_F(tcp, connect_refused_is_a_clear_error) {
  const auto port = closed_port();
  net::status st;
  auto client = connect_to(loop_, "127.0.0.1", port, &st);
  EXPECT_FALSE(client);
  EXPECT_EQ(st.code, net::errc::io);
  EXPECT_EQ(st.uv_code, UV_ECONNREFUSED);
  EXPECT_EQ(st.message, "connect to 127.0.0.1:" + std::to_string(port) + ": connection refused");
}

TEST_F(tcp, connect_timeout_fires) {
  full_backlog hang;
  net::status st;
  const auto start = std::chrono::steady_clock::now();
  auto client = connect_to(loop_, "127.0.0.1", hang.port(), &st, 200ms);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(client);
  EXPECT_EQ(st.code, net::errc::timeout) << st.message;
  EXPECT_EQ(st.message,
            "connect to 127.0.0.1:" + std::to_string(hang.port()) + ": timed out after 200 ms");
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 5s);
}

TEST_F(tcp, dns_name_localhost_connects) {
  echo_server server(loop_);
  auto client = connect_to(loop_, "localhost", server.port());
  ASSERT_TRUE(client);
  std::string received;
  client->on_data([&](byte_view d) { received.append(d.begin(), d.end()); });
  ASSERT_TRUE(client->write(as_bytes("ping")).ok());
  EXPECT_TRUE(run_until(loop_, [&] { return received == "ping"; }));
  client->close();
}

TEST_F(tcp, dns_name_refused_names_the_address_tried) {
  const auto port = closed_port();
  net::status st;
  EXPECT_FALSE(connect_to(loop_, "localhost", port, &st));
  EXPECT_EQ(st.code, net::errc::io);
  // Which addresses "localhost" has depends on /etc/hosts; the last one tried is named.
  EXPECT_EQ(st.message.rfind("connect to localhost:" + std::to_string(port) + " (", 0), 0u)
      << st.message;
  EXPECT_NE(st.message.find("): connection refused"), std::string::npos) << st.message;
}

TEST_F(tcp, ipv6_loopback) {
  echo_server server(loop_, nullptr, "::1");
  net::status st;
  auto client = connect_to(loop_, "::1", server.port(), &st);
  ASSERT_TRUE(client) << st.message;
  EXPECT_EQ(client->peer_name(), "[::1]:" + std::to_string(server.port()));
  std::string received;
  client->on_data([&](byte_view d) { received.append(d.begin(), d.end()); });
  ASSERT_TRUE(client->write(as_bytes("six")).ok());
  EXPECT_TRUE(run_until(loop_, [&] { return received == "six"; }));
  client->close();
}

TEST_F(tcp, listener_reports_bound_port_and_errors) {
  auto l = net::listener::create(loop_, [](net::status, std::shared_ptr<net::tcp_stream>) {});
  ASSERT_TRUE(l->listen({}).ok());
  EXPECT_NE(l->port(), 0);
  EXPECT_EQ(l->local_name(), "127.0.0.1:" + std::to_string(l->port()));

  auto busy = net::listener::create(loop_, [](net::status, std::shared_ptr<net::tcp_stream>) {});
  net::listen_options o;
  o.port = l->port();
  const auto st = busy->listen(o);
  EXPECT_EQ(st.code, net::errc::io);
  EXPECT_EQ(st.message,
            "listen on 127.0.0.1:" + std::to_string(l->port()) + ": address already in use");

  o.address = "localhost";
  EXPECT_EQ(busy->listen(o).code, net::errc::invalid_argument);
  l->close();
}

TEST_F(tcp, peer_close_is_reported_once) {
  echo_server server(loop_);
  auto client = connect_to(loop_, "127.0.0.1", server.port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(run_until(loop_, [&] { return server.streams().size() == 1; }));
  std::vector<net::status> closes;
  client->on_close([&](const net::status& s) { closes.push_back(s); });
  server.streams()[0]->close();
  EXPECT_TRUE(run_until(loop_, [&] { return !closes.empty(); }));
  // Give further events a chance to (wrongly) arrive.
  bool later = false;
  auto t = uv::timer::create(loop_);
  t->start(20ms, [&] { later = true; });
  run_until(loop_, [&] { return later; });
  t->close();
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].code, net::errc::eof);
  EXPECT_FALSE(client->is_open());
  EXPECT_EQ(client->write(as_bytes("late")).code, net::errc::closed);
  EXPECT_TRUE(server.closes().empty());  // closed by itself: not reported
}

TEST_F(tcp, close_from_data_callback_and_drop_last_reference) {
  echo_server server(loop_);
  auto client = connect_to(loop_, "127.0.0.1", server.port());
  ASSERT_TRUE(client);
  std::weak_ptr<net::tcp_stream> weak = client;
  bool got = false;
  client->on_data([&](byte_view) {
    got = true;
    client->close();
    client.reset();  // destroys the stream from inside its own callback
  });
  ASSERT_TRUE(client->write(as_bytes("x")).ok());
  EXPECT_TRUE(run_until(loop_, [&] { return got; }));
  EXPECT_TRUE(weak.expired());
}

TEST_F(tcp, cancel_while_connect_pending) {
  full_backlog hang;
  bool called = false;
  net::connect_options o;
  o.host = "127.0.0.1";
  o.port = hang.port();
  auto c = net::connector::connect(
      loop_, o, [&](net::status, std::shared_ptr<net::tcp_stream>) { called = true; });
  std::weak_ptr<net::connector> weak = c;
  // Let the connect get under way.
  bool ticked = false;
  auto t = uv::timer::create(loop_);
  t->start(10ms, [&] { ticked = true; });
  run_until(loop_, [&] { return ticked; });
  t->close();
  c->cancel();
  c.reset();
  EXPECT_TRUE(run_until(loop_, [&] { return weak.expired(); }));
  EXPECT_FALSE(called);
}

TEST_F(tcp, cancel_while_resolving) {
  bool called = false;
  net::connect_options o;
  o.host = "localhost";
  o.port = 9;
  auto c = net::connector::connect(
      loop_, o, [&](net::status, std::shared_ptr<net::tcp_stream>) { called = true; });
  std::weak_ptr<net::connector> weak = c;
  c->cancel();
  c.reset();
  // The lookup may already run in the thread pool: it finishes, harmlessly, and
  // only then lets go of the connector.
  EXPECT_TRUE(run_until(loop_, [&] { return weak.expired(); }));
  EXPECT_FALSE(called);
}

TEST_F(tcp, fire_and_forget_connector_keeps_itself_alive) {
  echo_server server(loop_);
  std::shared_ptr<net::tcp_stream> client;
  net::connect_options o;
  o.host = "127.0.0.1";
  o.port = server.port();
  net::connector::connect(loop_, o, [&](net::status st, std::shared_ptr<net::tcp_stream> s) {
    EXPECT_TRUE(st.ok()) << st.message;
    client = std::move(s);
  });
  EXPECT_TRUE(run_until(loop_, [&] { return client != nullptr; }));
  client->close();
}

TEST_F(tcp, invalid_target_reported_from_the_loop) {
  bool called = false;
  net::status st;
  net::connect_options o;  // no host
  net::connector::connect(loop_, o, [&](net::status s, std::shared_ptr<net::tcp_stream>) {
    called = true;
    st = std::move(s);
  });
  EXPECT_FALSE(called);  // never from within connect()
  EXPECT_TRUE(run_until(loop_, [&] { return called; }));
  EXPECT_EQ(st.code, net::errc::invalid_argument);
}

TEST(tcp_shutdown, loop_close_with_connect_and_connections_in_flight) {
  full_backlog hang;
  auto loop = std::make_unique<uv::loop>();
  echo_server server(*loop);
  auto client = connect_to(*loop, "127.0.0.1", server.port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->write(pattern(0, 1 << 20)).ok());
  bool called = false;
  net::connect_options o;
  o.host = "127.0.0.1";
  o.port = hang.port();
  net::connector::connect(*loop, o,
                          [&](net::status, std::shared_ptr<net::tcp_stream>) { called = true; });
  o.host = "localhost";
  net::connector::connect(*loop, o, [&](net::status, std::shared_ptr<net::tcp_stream>) {});
  EXPECT_TRUE(loop->close());
  EXPECT_FALSE(called);
}

}  // namespace
