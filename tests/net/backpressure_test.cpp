// A peer that stops reading must not make the writer grow without bound.
#include <gtest/gtest.h>

#include "iotmp_gateway/net/connector.hpp"
#include "iotmp_gateway/net/listener.hpp"
#include "iotmp_gateway/net/tls_stream.hpp"
#include "net_support.hpp"

using namespace net_test;
using iotgw::byte_view;

namespace {

constexpr net::write_limits limits{64 * 1024, 256 * 1024, 1024 * 1024};
constexpr std::size_t chunk = 32 * 1024;
constexpr std::size_t target = 8 * 1024 * 1024;

struct connected_pair {
  std::shared_ptr<net::listener> listener;
  std::shared_ptr<net::stream> client;
  std::shared_ptr<net::stream> server;
};

// Small kernel buffers, so that our queue, not the kernel's, takes the backlog.
connected_pair make_pair(uv::loop& loop, const test_pki* pki) {
  connected_pair p;
  std::shared_ptr<net::tls_context> server_ctx = pki ? pki->server_context() : nullptr;
  p.listener = net::listener::create(
      loop, [&p, server_ctx](net::status st, std::shared_ptr<net::tcp_stream> s) {
        ASSERT_TRUE(st.ok()) << st.message;
        s->socket()->recv_buffer_size(16 * 1024);
        p.server =
            server_ctx ? std::shared_ptr<net::stream>(net::tls_stream::server(server_ctx, s)) : s;
      });
  EXPECT_TRUE(p.listener->listen({}).ok());
  auto tcp = connect_to(loop, "127.0.0.1", p.listener->port());
  if (!tcp) return p;
  tcp->socket()->send_buffer_size(16 * 1024);
  if (pki) {
    auto tls = net::tls_stream::client(pki->client_context(), tcp, "localhost", limits);
    bool ready = false;
    tls->on_handshake([&] { ready = true; });
    p.client = tls;
    EXPECT_TRUE(run_until(loop, [&] { return ready && p.server && p.server->is_open(); }));
  } else {
    tcp->set_limits(limits);
    p.client = tcp;
    EXPECT_TRUE(run_until(loop, [&] { return p.server != nullptr; }));
  }
  return p;
}

void slow_reader(uv::loop& loop, const test_pki* pki) {
  auto p = make_pair(loop, pki);
  ASSERT_TRUE(p.client && p.server);
  auto& writer = *p.client;
  auto& reader = *p.server;

  std::size_t received = 0;
  bool intact = true;
  reader.on_data([&](byte_view d) {
    if (intact && !std::equal(d.begin(), d.end(), pattern(received, d.size()).begin()))
      intact = false;
    received += d.size();
  });
  reader.pause_reading();

  std::size_t sent = 0;
  std::size_t max_queued = 0;
  int went_unwritable = 0;
  int went_writable = 0;
  int refused = 0;
  int stuck_ticks = 0;
  bool resumed = false;
  auto check_bound = [&] { max_queued = std::max(max_queued, writer.queued_bytes()); };
  // Well-behaved producer once the reader resumes: stop on false, go on true.
  auto pump = [&] {
    while (writer.writable() && sent < target) {
      const std::size_t n = std::min(chunk, target - sent);
      const auto st = writer.write(pattern(sent, n));
      ASSERT_TRUE(st.ok()) << st.message;
      sent += n;
      check_bound();
    }
  };
  writer.on_writable_changed([&](bool writable) {
    check_bound();
    (writable ? went_writable : went_unwritable)++;
    if (writable && resumed) pump();
  });

  auto tick = uv::timer::create(loop);
  tick->start(1ms, 1ms, [&] {
    check_bound();
    if (resumed) return pump();
    // The reader is paused: the kernel buffers have filled once our queue stays
    // above the high-water mark from one loop turn to the next.
    stuck_ticks = writer.queued_bytes() > limits.high_water ? stuck_ticks + 1 : 0;
    // Greedy producer that ignores the marks: only the hard limit stops it.
    for (;;) {
      const std::size_t before = writer.queued_bytes();
      const auto st = writer.write(pattern(sent, chunk));
      check_bound();
      if (!st.ok()) {
        ASSERT_EQ(st.code, net::errc::write_limit) << st.message;
        ASSERT_EQ(writer.queued_bytes(), before);  // nothing of a refused write is queued
        ++refused;
        break;
      }
      sent += chunk;
    }
  });
  ASSERT_TRUE(run_until(loop, [&] { return stuck_ticks >= 5; }));
  EXPECT_LE(max_queued, limits.hard_limit);
  EXPECT_GT(refused, 0);
  EXPECT_EQ(went_unwritable, 1);
  EXPECT_EQ(went_writable, 0);
  EXPECT_FALSE(writer.writable());
  EXPECT_LT(received, sent);

  resumed = true;
  reader.resume_reading();
  ASSERT_TRUE(run_until(
      loop, [&] { return received >= target || !intact; }, 30s))
      << "received " << received << " of " << target;
  tick->close();
  EXPECT_TRUE(intact);
  EXPECT_EQ(received, target);
  EXPECT_EQ(sent, target);
  EXPECT_GE(went_writable, 1);  // low water reached after the reader resumed
  EXPECT_LE(max_queued, limits.hard_limit);
  p.client->close();
  p.server->close();
  p.listener->close();
}

class backpressure : public loop_test {};

TEST_F(backpressure, tcp_slow_reader_bounds_queue_and_recovers) {
  slow_reader(loop_, nullptr);
}

TEST_F(backpressure, tls_slow_reader_bounds_queue_and_recovers) {
  test_pki pki;
  ASSERT_TRUE(pki.ok());
  slow_reader(loop_, &pki);
}

TEST_F(backpressure, write_over_hard_limit_fails_and_queues_nothing) {
  auto p = make_pair(loop_, nullptr);
  ASSERT_TRUE(p.client);
  const auto st = p.client->write(pattern(0, limits.hard_limit + 1));
  EXPECT_EQ(st.code, net::errc::write_limit);
  EXPECT_NE(st.message.find("refused"), std::string::npos) << st.message;
  EXPECT_EQ(p.client->queued_bytes(), 0u);
  EXPECT_TRUE(p.client->writable());
  p.client->close();
  p.server->close();
  p.listener->close();
}

TEST_F(backpressure, tls_writes_before_handshake_are_bounded_and_delivered) {
  test_pki pki;
  ASSERT_TRUE(pki.ok());
  auto server_ctx = pki.server_context();
  std::shared_ptr<net::stream> server;
  std::size_t received = 0;
  bool intact = true;
  auto l = net::listener::create(loop_, [&](net::status, std::shared_ptr<net::tcp_stream> s) {
    server = net::tls_stream::server(server_ctx, s);
    server->on_data([&](byte_view d) {
      if (!std::equal(d.begin(), d.end(), pattern(received, d.size()).begin())) intact = false;
      received += d.size();
    });
  });
  ASSERT_TRUE(l->listen({}).ok());
  auto tcp = connect_to(loop_, "127.0.0.1", l->port());
  ASSERT_TRUE(tcp);
  auto client = net::tls_stream::client(pki.client_context(), tcp, "localhost", limits);
  int unwritable = 0;
  client->on_writable_changed([&](bool w) { unwritable += w ? 0 : 1; });
  std::size_t sent = 0;
  while (client->write(pattern(sent, chunk)).ok()) sent += chunk;
  EXPECT_FALSE(client->handshake_done());
  EXPECT_LE(client->queued_bytes(), limits.hard_limit);
  EXPECT_GT(sent, limits.high_water);
  EXPECT_EQ(unwritable, 1);
  EXPECT_TRUE(run_until(loop_, [&] { return received >= sent || !intact; }));
  EXPECT_TRUE(intact);
  EXPECT_EQ(received, sent);
  EXPECT_TRUE(run_until(loop_, [&] { return client->writable(); }));
  client->close();
  server->close();
  l->close();
}

}  // namespace
