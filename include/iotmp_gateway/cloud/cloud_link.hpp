// Drives a device_session over a TCP or TLS connection on the libuv loop:
// connects, feeds bytes and timers to the session, writes what it produces in
// one batch per loop turn, and reconnects with decorrelated-jitter backoff.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "iotmp_gateway/iotmp/backoff.hpp"
#include "iotmp_gateway/iotmp/device_session.hpp"
#include "iotmp_gateway/net/stream.hpp"
#include "iotmp_gateway/net/tls_context.hpp"
#include "iotmp_gateway/net/uv_timer.hpp"

namespace iotgw::net {
class connector;
}

namespace iotgw::cloud {

struct link_config {
  std::string host;
  std::uint16_t port = 25206;
  bool tls = true;
  std::string ca_file;  // empty: the system store
  bool insecure_skip_verify = false;
  std::chrono::milliseconds connect_timeout{15'000};
  std::chrono::milliseconds reconnect_min{1'000};
  std::chrono::milliseconds reconnect_max{60'000};
  net::write_limits limits{};
};

struct link_handlers {
  // (syslog priority, text). Credentials never reach it.
  std::function<void(int, std::string_view)> log;
  // Every change of the session's state (for STATUS= and $gateway).
  std::function<void()> on_state_change;
  // The socket drained below its low-water mark: held-back data may go now.
  std::function<void()> on_writable;
};

class cloud_link : public iotmp::session_observer {
 public:
  // Builds the TLS context up front: a bad CA file is a configuration error
  // (throws net::tls_config_error), not a reconnect loop.
  cloud_link(uv::loop& loop, link_config config, iotmp::session_config session,
             iotmp::resource_registry& resources, link_handlers handlers,
             iotmp::session_observer* downstream = nullptr);
  ~cloud_link() override;
  cloud_link(const cloud_link&) = delete;
  cloud_link& operator=(const cloud_link&) = delete;

  // Who gets the session's stream events (the router, built after the link).
  void set_downstream(iotmp::session_observer* downstream) noexcept { downstream_ = downstream; }

  void start();
  // Closes the connection and stops reconnecting.
  void stop();

  iotmp::device_session& session() noexcept { return session_; }
  const iotmp::device_session& session() const noexcept { return session_; }
  // Successful authentications after the first.
  std::uint64_t reconnects() const noexcept { return reconnects_; }
  std::uint64_t connect_attempts() const noexcept { return attempts_; }
  // Delay chosen for the pending reconnect (for tests and logs).
  std::chrono::milliseconds last_delay() const noexcept { return last_delay_; }

  // session_observer
  void on_authenticated() override;
  void on_auth_failed(std::string_view reason) override;
  void on_connection_failed(std::string_view reason) override;
  void on_device_stream_open(iotmp::device_stream_id id, const pson::value* initial) override;
  void on_device_stream_refused(iotmp::device_stream_id id) override;
  void on_device_stream_data(iotmp::device_stream_id id, const pson::value& data) override;
  void on_device_stream_closed(iotmp::device_stream_id id) override;
  void on_server_answer(std::uint16_t sid, bool ok, const pson::value* payload) override;

 private:
  void connect_now();
  void on_transport(std::shared_ptr<net::stream> stream);
  void drop(std::string_view reason, int priority);
  void schedule_reconnect();
  void pump();
  void say(int priority, std::string_view text) const;
  std::string endpoint() const;

  uv::loop& loop_;
  link_config config_;
  link_handlers handlers_;
  iotmp::session_observer* downstream_;
  iotmp::device_session session_;
  iotmp::backoff backoff_;
  std::shared_ptr<net::tls_context> tls_;
  std::shared_ptr<net::connector> connecting_;
  std::shared_ptr<net::stream> stream_;
  std::shared_ptr<uv::timer> session_timer_;
  std::shared_ptr<uv::timer> reconnect_timer_;
  std::shared_ptr<uv::timer> flush_timer_;
  std::shared_ptr<uv::timer> handshake_timer_;
  bool running_ = false;
  bool flush_scheduled_ = false;
  bool authenticated_once_ = false;
  std::uint64_t reconnects_ = 0;
  std::uint64_t attempts_ = 0;
  std::chrono::milliseconds last_delay_{0};
};

}  // namespace iotgw::cloud
