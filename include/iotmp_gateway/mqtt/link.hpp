// The link to the local MQTT broker: an MQTT 5 client on the loop. The
// protocol is mqtt::session (no I/O); this class gives it a TCP or TLS stream
// from net::connector, a timer for keep-alive, and reconnects with backoff.
//
// Everything runs on the loop thread: messages reach on_message as views into
// the bytes just read, and what one read or one loop turn produces (PUBACKs,
// publishes from the router) leaves in one write.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "iotmp_gateway/bridge/local_broker.hpp"
#include "iotmp_gateway/bridge/router.hpp"
#include "iotmp_gateway/iotmp/backoff.hpp"
#include "iotmp_gateway/mqtt/session.hpp"
#include "iotmp_gateway/net/stream.hpp"
#include "iotmp_gateway/net/uv_timer.hpp"

namespace iotgw::net {
class connector;
class tls_context;
}  // namespace iotgw::net

namespace iotgw::mqtt {

struct link_config {
  std::string uri = "tcp://localhost:1883";
  std::string client_id;
  std::string username;
  std::string password;  // never logged
  std::string ca_file, cert_file, key_file;  // ssl://
  std::string status_topic;  // retained "online"; "offline" as the will and on clean stop
  std::chrono::seconds keepalive{30};
  std::chrono::seconds reconnect_min{1};
  std::chrono::seconds reconnect_max{30};
  std::chrono::milliseconds connect_timeout{10'000};  // TCP, TLS and CONNACK, each
  // Publishes waiting for the broker (QoS 1/2 unacknowledged, QoS 0 unwritten);
  // more are refused with "local publish queue full".
  std::size_t max_pending_publishes = 65536;
};

struct link_handlers {
  std::function<void(std::string_view topic, std::string_view payload, bool retained)> on_message;
  // After each (re)connect, once subscriptions were requested.
  std::function<void()> on_connected;
  std::function<void(std::string_view reason)> on_connection_lost;
  // Logs: (syslog priority, text).
  std::function<void(int, std::string_view)> log;
};

class link : public bridge::local_broker {
 public:
  // Throws net::tls_config_error for an ssl:// uri whose CA, certificate or key
  // cannot be loaded.
  link(uv::loop& loop, link_config config, link_handlers handlers);
  ~link() override;
  link(const link&) = delete;
  link& operator=(const link&) = delete;

  // Starts connecting; reconnects by itself from then on.
  void start();
  // Clean stop: "offline" on the status topic and DISCONNECT, handed to the
  // socket before it closes, without waiting (the loop may not run again).
  void stop();
  // Clean stop on a running loop: "offline" is acknowledged by the broker
  // (so it is stored before the process exits) or `timeout` passes, then as
  // stop(), then done. Without a connection or a status topic: stop() and done
  // at once.
  void stop_gracefully(std::chrono::milliseconds timeout, std::function<void()> done);

  // The filters to hold; applied now if connected, and after every reconnect.
  void set_subscriptions(std::vector<bridge::subscription> subs);

  bridge::link_state state() const override { return state_; }
  void publish(std::string topic, std::string payload, unsigned qos, bool retain,
               publish_done done) override;

  std::uint64_t published() const noexcept { return session_.published(); }
  std::uint64_t received() const noexcept { return received_; }
  // Publishes handed over and not finished yet.
  std::size_t pending_publishes() const noexcept { return session_.pending_publishes(); }

 private:
  void connect_now();
  void on_transport(std::shared_ptr<net::stream> stream);
  void on_open();
  // Writes what the session produced; false if the connection was dropped.
  bool flush();
  void schedule_flush();
  void on_tick();
  void drop(std::string_view reason);
  void retry_later(std::string_view reason);
  // Each SUBSCRIBE with No Local on every filter.
  void subscribe(std::vector<filter_request> filters);
  // The held filters, unpacked.
  std::vector<filter_request> held_filters() const;
  void release_free_memory();
  void finish_graceful_stop();
  void say(int priority, std::string_view text) const;

  uv::loop& loop_;
  link_config config_;
  link_handlers handlers_;
  std::string host_;
  std::uint16_t port_ = 1883;
  std::shared_ptr<net::tls_context> tls_;
  session session_;
  iotmp::backoff backoff_;
  std::shared_ptr<net::connector> connecting_;
  std::shared_ptr<net::stream> stream_;
  std::shared_ptr<uv::timer> retry_timer_;
  std::shared_ptr<uv::timer> tick_timer_;   // keep-alive and the connect deadlines
  std::shared_ptr<uv::timer> flush_timer_;  // end of the loop turn: one write per turn
  std::shared_ptr<uv::timer> stop_timer_;   // bounds stop_gracefully()
  std::function<void()> stopped_;           // stop_gracefully() in progress
  bool offline_sent_ = false;               // ... and its "offline" is on the way
  clock::time_point handshake_deadline_{};
  // The filters to hold, packed (a gateway holds one per mapped topic): per
  // filter its length (2 bytes, big-endian), its QoS (1 byte) and its bytes.
  std::string subscriptions_;
  bridge::link_state state_ = bridge::link_state::disconnected;
  bool running_ = false;
  bool flush_scheduled_ = false;
  bool ever_connected_ = false;
  std::uint64_t received_ = 0;
};

}  // namespace iotgw::mqtt
