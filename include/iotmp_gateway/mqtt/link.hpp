// The link to the local MQTT broker: Paho MQTT C++ (its own threads) with every
// callback copied into a closure and posted to the loop's mailbox. Nothing here
// touches loop state from a Paho thread, and no exception leaves a Paho callback.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "iotmp_gateway/bridge/local_broker.hpp"
#include "iotmp_gateway/bridge/router.hpp"
#include "iotmp_gateway/mqtt/mailbox.hpp"
#include "iotmp_gateway/net/uv_timer.hpp"

namespace mqtt {
class async_client;
class iaction_listener;
class message;
}

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
  // Paho's own queue of messages not yet handed to the socket (default 100).
  int max_buffered_messages = 65536;
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
  link(uv::loop& loop, link_config config, link_handlers handlers);
  ~link() override;
  link(const link&) = delete;
  link& operator=(const link&) = delete;

  // Starts connecting; reconnects by itself from then on.
  void start();
  // Clean stop: "offline" on the status topic, disconnect. Blocks the loop thread
  // for at most `timeout` (shutdown only).
  void stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

  // The filters to hold; applied now if connected, and after every reconnect.
  void set_subscriptions(std::vector<bridge::subscription> subs);

  bridge::link_state state() const override { return state_; }
  void publish(std::string topic, std::string payload, unsigned qos, bool retain,
               publish_done done) override;

  std::uint64_t published() const noexcept { return published_; }
  std::uint64_t received() const noexcept { return received_; }

 private:
  void connect_now();
  void on_connected(bool reconnect);
  void on_connect_failed(std::string reason);
  void on_lost(std::string reason);
  void subscribe(const std::vector<bridge::subscription>& subs);
  void deliver_inbox();
  void release_free_memory();
  void say(int priority, std::string_view text) const;

  uv::loop& loop_;
  link_config config_;
  link_handlers handlers_;
  mailbox mailbox_;
  // Messages from Paho's thread, delivered in batches on the loop (link.cpp).
  std::mutex inbox_mutex_;
  std::vector<std::shared_ptr<const ::mqtt::message>> inbox_;  // guarded by inbox_mutex_
  std::vector<std::shared_ptr<const ::mqtt::message>> batch_;  // loop thread only
  class connect_listener;
  std::unique_ptr<connect_listener> connect_listener_holder_;  // outlives client_
  ::mqtt::iaction_listener& connect_listener_;
  std::unique_ptr<::mqtt::async_client> client_;
  std::shared_ptr<uv::timer> retry_timer_;
  std::chrono::seconds retry_delay_;
  std::vector<bridge::subscription> subscriptions_;
  bridge::link_state state_ = bridge::link_state::disconnected;
  bool stopping_ = false;
  std::size_t pending_subscribes_ = 0;  // SUBSCRIBEs without an answer yet
  std::uint64_t published_ = 0;
  std::uint64_t received_ = 0;
};

// Paho C never sets TCP_NODELAY and has no option for it: at low rates QoS 1
// then waits for Nagle + delayed ACK (tens of ms per message). Sets it on this
// process's TCP sockets connected to `port` on a loopback or the given address.
int set_nodelay_on_sockets_to(std::string_view host, int port);

}  // namespace iotgw::mqtt
