// Helpers for the network tests: run the loop until a condition holds (never a
// fixed sleep), a loopback echo server, and a throwaway PKI made with the
// openssl CLI.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "iotmp_gateway/net/connector.hpp"
#include "iotmp_gateway/net/listener.hpp"
#include "iotmp_gateway/net/tls_stream.hpp"
#include "iotmp_gateway/net/uv_loop.hpp"
#include "iotmp_gateway/net/uv_timer.hpp"
#include "support/loop.hpp"

namespace net_test {

using namespace std::chrono_literals;
namespace net = iotgw::net;
namespace uv = iotgw::uv;

using test_support::loop_test;
using test_support::run_until;

// Deterministic bytes, so that order and integrity can be checked anywhere.
inline iotgw::byte_buffer pattern(std::size_t offset, std::size_t n) {
  iotgw::byte_buffer out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t x = offset + i;
    out[i] = static_cast<std::uint8_t>((x * 131 + (x >> 8) * 7) & 0xff);
  }
  return out;
}

inline iotgw::byte_buffer as_bytes(std::string_view s) {
  return iotgw::byte_buffer(s.begin(), s.end());
}

inline std::string as_string(const iotgw::byte_buffer& b) {
  return std::string(b.begin(), b.end());
}

// Accepts plain or TLS connections and echoes whatever arrives.
class echo_server {
 public:
  explicit echo_server(uv::loop& loop, std::shared_ptr<net::tls_context> tls = nullptr,
                       std::string address = "127.0.0.1")
      : tls_(std::move(tls)) {
    listener_ =
        net::listener::create(loop, [this](net::status st, std::shared_ptr<net::tcp_stream> s) {
          if (!st.ok()) return;
          std::shared_ptr<net::stream> conn = s;
          if (tls_) conn = net::tls_stream::server(tls_, s);
          auto* raw = conn.get();
          conn->on_data([raw](iotgw::byte_view data) { (void)raw->write(data); });
          conn->on_close([this](const net::status& reason) { closes_.push_back(reason); });
          streams_.push_back(conn);
        });
    net::listen_options options;
    options.address = std::move(address);
    const auto st = listener_->listen(options);
    EXPECT_TRUE(st.ok()) << st.message;
  }
  ~echo_server() {
    for (auto& s : streams_) s->close();
    listener_->close();
  }
  std::uint16_t port() const { return listener_->port(); }
  const std::vector<std::shared_ptr<net::stream>>& streams() const { return streams_; }
  const std::vector<net::status>& closes() const { return closes_; }

 private:
  std::shared_ptr<net::tls_context> tls_;
  std::shared_ptr<net::listener> listener_;
  std::vector<std::shared_ptr<net::stream>> streams_;
  std::vector<net::status> closes_;
};

// Connects and waits; fails the test on error.
inline std::shared_ptr<net::tcp_stream> connect_to(uv::loop& loop, std::string host,
                                                   std::uint16_t port,
                                                   net::status* result = nullptr,
                                                   std::chrono::milliseconds timeout = 5s) {
  bool done = false;
  net::status st;
  std::shared_ptr<net::tcp_stream> out;
  net::connect_options o;
  o.host = std::move(host);
  o.port = port;
  o.timeout = timeout;
  net::connector::connect(loop, o, [&](net::status s, std::shared_ptr<net::tcp_stream> stream) {
    done = true;
    st = std::move(s);
    out = std::move(stream);
  });
  EXPECT_TRUE(run_until(loop, [&] { return done; }));
  if (result) *result = st;
  return out;
}

// Test CA, a second unrelated CA, and a server certificate from the first with
// SANs DNS:localhost, IP:127.0.0.1 and IP:::1. EC keys: generated in milliseconds.
class test_pki {
 public:
  test_pki() {
    dir_ = std::filesystem::temp_directory_path() /
           ("iotmp-net-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "ext.cnf") << "basicConstraints=CA:FALSE\n"
                                       "keyUsage=critical,digitalSignature\n"
                                       "extendedKeyUsage=serverAuth\n"
                                       "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    ok_ = run("openssl req -x509" + ec +
              " -keyout ca.key -out ca.pem -days 2 -subj /CN=iotmp-test-ca") &&
          run("openssl req -x509" + ec +
              " -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=iotmp-other-ca") &&
          run("openssl req" + ec + " -keyout server.key -out server.csr -subj /CN=localhost") &&
          run("openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 4242"
              " -days 2 -extfile ext.cnf -out server.pem");
  }
  ~test_pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool ok() const { return ok_; }
  std::string file(const char* name) const { return (dir_ / name).string(); }

  // client.pem / client.key: a client certificate (clientAuth) from the test CA.
  bool make_client_certificate() {
    std::ofstream(dir_ / "client-ext.cnf") << "basicConstraints=CA:FALSE\n"
                                              "keyUsage=critical,digitalSignature\n"
                                              "extendedKeyUsage=clientAuth\n";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    return run("openssl req" + ec + " -keyout client.key -out client.csr -subj /CN=iotmp-test-client") &&
           run("openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -set_serial 4343"
               " -days 2 -extfile client-ext.cnf -out client.pem");
  }

  std::shared_ptr<net::tls_context> server_context() const {
    return net::tls_context::server({file("server.pem"), file("server.key")});
  }
  std::shared_ptr<net::tls_context> client_context(const char* ca = "ca.pem",
                                                   bool insecure = false) const {
    net::tls_client_options options;
    options.ca_file = file(ca);
    options.insecure_skip_verify = insecure;
    return net::tls_context::client(options);
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  bool run(const std::string& cmd) {
    const std::string full = "cd '" + dir_.string() + "' && " + cmd + " >>openssl.log 2>&1";
    const int rc = std::system(full.c_str());
    EXPECT_EQ(rc, 0) << cmd;
    return rc == 0;
  }

  std::filesystem::path dir_;
  bool ok_ = false;
};

}  // namespace net_test
