// The IOTMP face of iotmp-devserver: listens (plain TCP or TLS), runs one
// iotmp::server_session per connection, authenticates devices and attaches them
// to a device_registry, which holds everything a test or the HTTP layer asks
// for. The registry and its topic table do not depend on this class; an HTTP
// server on the same loop takes the same registry.
//
// Connections that do not finish the TLS handshake and CONNECT within
// handshake_timeout are dropped, and so are authenticated devices silent for
// longer than idle_timeout (their KEEP_ALIVE counts). A device that connects
// again with the same user and device replaces its old connection.
//
// Runs on the loop thread; construct, use and destroy it there. Destroy it
// before the registry it was given.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "iotmp_gateway/devserver/registry.hpp"
#include "iotmp_gateway/devserver/users.hpp"
#include "iotmp_gateway/iotmp/message.hpp"
#include "iotmp_gateway/net/listener.hpp"
#include "iotmp_gateway/net/status.hpp"
#include "iotmp_gateway/net/tls_context.hpp"
#include "iotmp_gateway/net/uv_loop.hpp"

namespace iotgw::devserver {

struct server_options {
  std::string address = "127.0.0.1";  // an IP literal
  std::uint16_t port = 25204;         // 0 picks a free one (see server::port())
  // Server context (tls_context::server); null listens in plain TCP.
  std::shared_ptr<net::tls_context> tls;
  // Who may connect: the users file, or anybody (allow_any). With neither,
  // every CONNECT is refused.
  std::shared_ptr<const credential_store> users;
  bool allow_any = false;
  // TLS handshake plus CONNECT, from accept.
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  // No whole frame from an authenticated device for this long: dropped. 2.5 x
  // the gateway's default keep-alive of 60 s.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(150)};
  // How long run()/describe() wait for the device's answer.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  // How long a closing connection may take to send its last frames (the ERROR
  // that refuses a CONNECT, a DISCONNECT) before it is cut.
  std::chrono::milliseconds linger{std::chrono::milliseconds(500)};
  std::size_t max_body = iotmp::max_body_size;
  // First stream id of each session; a fixed one keeps tests exact.
  std::uint16_t first_stream_id = 1;
  // Log lines: (syslog priority, text). Credentials never reach it.
  std::function<void(int priority, std::string_view text)> log;
};

// One accepted TCP connection.
struct accepted_connection {
  std::chrono::steady_clock::time_point at;
  std::string peer;
};

// One CONNECT frame as the server saw it (never the credential).
struct connect_attempt {
  std::chrono::steady_clock::time_point at;
  std::string peer;
  std::string user;
  std::string device;
  bool accepted = false;
};

class server {
 public:
  // Does not listen yet: start() does.
  server(uv::loop& loop, device_registry& registry, server_options options);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Listens on the configured address and port. After the first success the
  // port is kept, so stop_listening() + start() reopens the same port even
  // when it was chosen with 0. "listen on 127.0.0.1:25204: address already in use".
  net::status start();
  // Stops accepting; with drop_connections also closes every connection
  // (together: what a server restart looks like to devices).
  void stop_listening(bool drop_connections = true);
  bool listening() const noexcept { return listener_ != nullptr; }
  // Stops listening and closes every connection; for shutdown.
  void close();

  std::uint16_t port() const noexcept { return port_; }
  const std::string& address() const noexcept { return options_.address; }
  device_registry& registry() noexcept { return registry_; }

  // Connections accepted since construction, and those open now (whether
  // authenticated or not).
  std::uint64_t accepted_connections() const noexcept { return accepted_; }
  std::size_t open_connections() const noexcept;
  // The latest accepts and CONNECTs, oldest first, for checking a device's
  // reconnect backoff (at TCP level too: a device that rejects our TLS
  // certificate never sends CONNECT). Each keeps the latest history_limit.
  static constexpr std::size_t history_limit = 10'000;
  const std::deque<accepted_connection>& accepts() const noexcept { return accepts_; }
  const std::deque<connect_attempt>& connect_attempts() const noexcept { return attempts_; }

 private:
  class connection;
  friend class connection;

  void on_accept(net::status st, std::shared_ptr<net::tcp_stream> stream);
  void forget(std::uint64_t id);
  bool authenticate(const iotmp::server_session::credentials& c, const std::string& peer);
  void log(int priority, std::string_view text) const;

  uv::loop& loop_;
  device_registry& registry_;
  server_options options_;
  std::shared_ptr<net::listener> listener_;
  std::uint16_t port_ = 0;
  std::uint64_t accepted_ = 0;
  std::uint64_t next_connection_id_ = 1;
  std::map<std::uint64_t, std::shared_ptr<connection>> connections_;
  std::deque<accepted_connection> accepts_;
  std::deque<connect_attempt> attempts_;
};

}  // namespace iotgw::devserver
