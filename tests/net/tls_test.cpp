#include <gtest/gtest.h>

#include "iotmp_gateway/net/connector.hpp"
#include "iotmp_gateway/net/listener.hpp"
#include "iotmp_gateway/net/tls_stream.hpp"
#include "net_support.hpp"

using namespace net_test;
using iotgw::byte_buffer;
using iotgw::byte_view;

namespace {

class tls : public loop_test {
 protected:
  static void SetUpTestSuite() { pki_ = new test_pki; }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(pki_->ok()); }

  struct client_result {
    std::shared_ptr<net::tls_stream> stream;
    bool handshake = false;
    std::optional<net::status> closed;
  };

  // Connects over TCP to 127.0.0.1 and runs the TLS handshake to its end.
  std::unique_ptr<client_result> connect_tls(std::uint16_t port,
                                             std::shared_ptr<net::tls_context> ctx,
                                             std::string_view server_name) {
    auto r = std::make_unique<client_result>();
    auto tcp = connect_to(loop_, "127.0.0.1", port);
    if (!tcp) return r;
    r->stream = net::tls_stream::client(std::move(ctx), tcp, server_name);
    auto* raw = r.get();
    r->stream->on_handshake([raw] { raw->handshake = true; });
    r->stream->on_close([raw](const net::status& s) { raw->closed = s; });
    EXPECT_TRUE(run_until(loop_, [raw] { return raw->handshake || raw->closed; }));
    return r;
  }

  static test_pki* pki_;
};

test_pki* tls::pki_ = nullptr;

TEST_F(tls, handshake_with_right_ca_and_host) {
  echo_server server(loop_, pki_->server_context());
  auto c = connect_tls(server.port(), pki_->client_context(), "localhost");
  ASSERT_TRUE(c->handshake) << (c->closed ? c->closed->message : "");
  EXPECT_TRUE(c->stream->handshake_done());
  EXPECT_EQ(c->stream->protocol(), "TLSv1.3");
  ASSERT_EQ(server.streams().size(), 1u);
  auto* accepted = static_cast<net::tls_stream*>(server.streams()[0].get());
  EXPECT_EQ(accepted->requested_server_name(), "localhost");  // SNI sent for a DNS name
  c->stream->close();
}

TEST_F(tls, wrong_ca_is_refused_with_the_verify_reason) {
  echo_server server(loop_, pki_->server_context());
  auto c = connect_tls(server.port(), pki_->client_context("other-ca.pem"), "localhost");
  EXPECT_FALSE(c->handshake);
  ASSERT_TRUE(c->closed);
  EXPECT_EQ(c->closed->code, net::errc::tls_verify);
  EXPECT_EQ(c->closed->message,
            "TLS handshake with localhost: certificate verify failed: unable to get local issuer "
            "certificate");
  EXPECT_FALSE(c->stream->is_open());
  // The client's alert tells the server why.
  ASSERT_TRUE(run_until(loop_, [&] { return !server.closes().empty(); }));
  EXPECT_EQ(server.closes()[0].code, net::errc::tls);
  EXPECT_NE(server.closes()[0].message.find("unknown ca"), std::string::npos)
      << server.closes()[0].message;
}

TEST_F(tls, wrong_host_name_is_refused) {
  echo_server server(loop_, pki_->server_context());
  auto c = connect_tls(server.port(), pki_->client_context(), "not-localhost.example");
  EXPECT_FALSE(c->handshake);
  ASSERT_TRUE(c->closed);
  EXPECT_EQ(c->closed->code, net::errc::tls_verify);
  EXPECT_EQ(
      c->closed->message,
      "TLS handshake with not-localhost.example: certificate verify failed: hostname mismatch");
}

TEST_F(tls, ip_literal_is_checked_against_ip_sans_without_sni) {
  echo_server server(loop_, pki_->server_context());
  for (const char* ip : {"127.0.0.1", "::1"}) {
    auto c = connect_tls(server.port(), pki_->client_context(), ip);
    EXPECT_TRUE(c->handshake) << ip << ": " << (c->closed ? c->closed->message : "");
    c->stream->close();
  }
  ASSERT_EQ(server.streams().size(), 2u);
  EXPECT_EQ(static_cast<net::tls_stream*>(server.streams()[0].get())->requested_server_name(), "");

  auto bad = connect_tls(server.port(), pki_->client_context(), "127.0.0.2");
  EXPECT_FALSE(bad->handshake);
  ASSERT_TRUE(bad->closed);
  EXPECT_EQ(bad->closed->code, net::errc::tls_verify);
  EXPECT_EQ(bad->closed->message,
            "TLS handshake with 127.0.0.2: certificate verify failed: IP address mismatch");
}

TEST_F(tls, insecure_skip_verify_accepts_wrong_ca_and_name) {
  echo_server server(loop_, pki_->server_context());
  auto c = connect_tls(server.port(), pki_->client_context("other-ca.pem", true), "wrong.example");
  EXPECT_TRUE(c->handshake) << (c->closed ? c->closed->message : "");
  c->stream->close();
}

TEST_F(tls, system_store_does_not_trust_the_test_ca) {
  echo_server server(loop_, pki_->server_context());
  auto c = connect_tls(server.port(), net::tls_context::client({}), "localhost");
  EXPECT_FALSE(c->handshake);
  ASSERT_TRUE(c->closed);
  EXPECT_EQ(c->closed->code, net::errc::tls_verify);
}

TEST_F(tls, data_round_trip_both_directions) {
  std::shared_ptr<net::tls_stream> server_side;
  std::string at_server;
  auto ctx = pki_->server_context();
  auto l = net::listener::create(loop_, [&](net::status, std::shared_ptr<net::tcp_stream> s) {
    server_side = net::tls_stream::server(ctx, s);
    // Written before the handshake is done: held, then sent.
    ASSERT_TRUE(server_side->write(as_bytes("welcome")).ok());
    server_side->on_data([&](byte_view d) {
      at_server.append(d.begin(), d.end());
      if (at_server == "hello") (void)server_side->write(as_bytes(" and goodbye"));
    });
  });
  ASSERT_TRUE(l->listen({}).ok());
  auto c = connect_tls(l->port(), pki_->client_context(), "localhost");
  ASSERT_TRUE(c->handshake);
  std::string at_client;
  c->stream->on_data([&](byte_view d) { at_client.append(d.begin(), d.end()); });
  ASSERT_TRUE(c->stream->write(as_bytes("hello")).ok());
  EXPECT_TRUE(run_until(loop_, [&] { return at_client == "welcome and goodbye"; })) << at_client;
  EXPECT_EQ(at_server, "hello");
  c->stream->close();
  server_side->close();
  l->close();
}

TEST_F(tls, large_transfer_is_intact) {
  echo_server server(loop_, pki_->server_context());
  auto c = connect_tls(server.port(), pki_->client_context(), "localhost");
  ASSERT_TRUE(c->handshake);
  constexpr std::size_t total = 4 * 1024 * 1024;
  byte_buffer received;
  received.reserve(total);
  c->stream->on_data([&](byte_view d) { received.insert(received.end(), d.begin(), d.end()); });
  // A batch of uneven buffers, then one big buffer: 4 MiB + 1 byte over the hard limit would fail.
  std::vector<byte_buffer> batch;
  std::size_t sent = 0;
  for (std::size_t n : {1, 100, 16383, 16384, 16385, 70000}) {
    batch.push_back(pattern(sent, n));
    sent += n;
  }
  ASSERT_TRUE(c->stream->write(std::move(batch)).ok());
  ASSERT_TRUE(run_until(loop_, [&] { return c->stream->queued_bytes() == 0; }));
  const auto rest = total - sent;
  auto st = c->stream->write(pattern(sent, rest));
  ASSERT_TRUE(st.ok()) << st.message;
  EXPECT_TRUE(run_until(
      loop_, [&] { return received.size() >= total; }, 30s));
  EXPECT_EQ(received.size(), total);
  EXPECT_TRUE(received == pattern(0, total));
  c->stream->close();
}

TEST_F(tls, peer_close_notify_is_reported_once_as_eof) {
  echo_server server(loop_, pki_->server_context());
  auto c = connect_tls(server.port(), pki_->client_context(), "localhost");
  ASSERT_TRUE(c->handshake);
  int closes = 0;
  c->stream->on_close([&](const net::status& s) {
    ++closes;
    EXPECT_EQ(s.code, net::errc::eof) << s.message;
  });
  // Closed with the client's Finished still unread, the server's socket would
  // send a reset instead of close_notify + FIN.
  auto* accepted = static_cast<net::tls_stream*>(server.streams()[0].get());
  ASSERT_TRUE(run_until(loop_, [&] { return accepted->handshake_done(); }));
  accepted->close();
  EXPECT_TRUE(run_until(loop_, [&] { return closes > 0; }));
  bool later = false;
  auto t = uv::timer::create(loop_);
  t->start(20ms, [&] { later = true; });
  run_until(loop_, [&] { return later; });
  t->close();
  EXPECT_EQ(closes, 1);
  EXPECT_EQ(c->stream->write(as_bytes("x")).code, net::errc::closed);
}

TEST_F(tls, client_close_during_handshake) {
  echo_server server(loop_, pki_->server_context());
  auto tcp = connect_to(loop_, "127.0.0.1", server.port());
  ASSERT_TRUE(tcp);
  auto c = net::tls_stream::client(pki_->client_context(), tcp, "localhost");
  bool called = false;
  c->on_handshake([&] { called = true; });
  c->on_close([&](const net::status&) { called = true; });
  c->close();
  std::weak_ptr<net::tls_stream> weak = c;
  c.reset();
  tcp.reset();
  EXPECT_TRUE(weak.expired());
  // The server sees the connection go away in the middle of its handshake.
  ASSERT_TRUE(run_until(loop_, [&] { return !server.closes().empty(); }));
  EXPECT_NE(server.closes()[0].message.find("TLS handshake with 127.0.0.1:"), std::string::npos)
      << server.closes()[0].message;
  EXPECT_FALSE(called);
}

TEST_F(tls, server_close_during_handshake_reaches_client) {
  auto ctx = pki_->server_context();
  std::shared_ptr<net::tls_stream> server_side;
  auto l = net::listener::create(loop_, [&](net::status, std::shared_ptr<net::tcp_stream> s) {
    server_side = net::tls_stream::server(ctx, s);
    server_side->close();  // before the ClientHello was even read
  });
  ASSERT_TRUE(l->listen({}).ok());
  auto c = connect_tls(l->port(), pki_->client_context(), "localhost");
  EXPECT_FALSE(c->handshake);
  ASSERT_TRUE(c->closed);
  EXPECT_TRUE(c->closed->code == net::errc::eof || c->closed->code == net::errc::io)
      << c->closed->message;
  EXPECT_EQ(c->closed->message.rfind("TLS handshake with localhost: ", 0), 0u)
      << c->closed->message;
  l->close();
}

TEST_F(tls, stream_dropped_from_its_own_close_callback) {
  echo_server server(loop_, pki_->server_context());
  auto tcp = connect_to(loop_, "127.0.0.1", server.port());
  ASSERT_TRUE(tcp);
  auto c =
      net::tls_stream::client(pki_->client_context("other-ca.pem"), std::move(tcp), "localhost");
  std::weak_ptr<net::tls_stream> weak = c;
  bool closed = false;
  c->on_close([&](const net::status&) {
    closed = true;
    c.reset();
  });
  EXPECT_TRUE(run_until(loop_, [&] { return closed; }));
  EXPECT_TRUE(weak.expired());
}

TEST_F(tls, configuration_errors_throw) {
  EXPECT_THROW(pki_->client_context("missing.pem"), net::tls_config_error);
  try {
    pki_->client_context("missing.pem");
  } catch (const net::tls_config_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "TLS CA file " + pki_->file("missing.pem") + ": No such file or directory");
  }
  // Nothing is loaded when verification is off.
  EXPECT_NO_THROW(pki_->client_context("missing.pem", true));
  EXPECT_THROW(net::tls_context::server({pki_->file("server.pem"), pki_->file("missing.key")}),
               net::tls_config_error);
  EXPECT_THROW(net::tls_context::server({pki_->file("server.pem"), pki_->file("other-ca.key")}),
               net::tls_config_error);

  echo_server server(loop_);
  auto tcp = connect_to(loop_, "127.0.0.1", server.port());
  ASSERT_TRUE(tcp);
  EXPECT_THROW(net::tls_stream::client(pki_->client_context(), tcp, ""), std::invalid_argument);
  EXPECT_THROW(net::tls_stream::client(pki_->server_context(), tcp, "localhost"),
               std::invalid_argument);
  tcp->close();
}

TEST(tls_shutdown, loop_close_in_the_middle_of_handshakes) {
  test_pki pki;
  ASSERT_TRUE(pki.ok());
  auto loop = std::make_unique<uv::loop>();
  {
    echo_server server(*loop, pki.server_context());
    auto tcp = connect_to(*loop, "127.0.0.1", server.port());
    ASSERT_TRUE(tcp);
    auto c = net::tls_stream::client(pki.client_context(), tcp, "localhost");
    ASSERT_TRUE(c->write(pattern(0, 100000)).ok());
    // One turn: the ClientHello is on its way, nothing is finished.
    loop->run(UV_RUN_NOWAIT);
    EXPECT_TRUE(loop->close());
  }
}

}  // namespace
