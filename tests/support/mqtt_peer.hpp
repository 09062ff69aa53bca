// Another MQTT client on the test's side of the broker (Paho, synchronous use):
// publishes like a sensor would and records what arrives.
#pragma once

#include <mqtt/async_client.h>

#include <mutex>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace test_support {

struct received_message {
  std::string topic;
  std::string payload;
  bool retained;
  int qos;
};

class mqtt_peer {
 public:
  explicit mqtt_peer(const std::string& uri, const std::string& id = "test-peer")
      : client_(uri, id + "-" + std::to_string(::getpid()), ::mqtt::create_options(MQTTVERSION_5)) {
    client_.set_message_callback([this](::mqtt::const_message_ptr m) {
      std::lock_guard lock(mutex_);
      messages_.push_back({m->get_topic(), m->get_payload_str(), m->is_retained(), m->get_qos()});
    });
    ::mqtt::connect_options opts;
    opts.set_mqtt_version(MQTTVERSION_5);
    opts.set_clean_session(false);
    opts.set_clean_start(true);
    client_.connect(opts)->wait_for(std::chrono::seconds(5));
  }
  ~mqtt_peer() {
    try {
      client_.disconnect(0)->wait_for(std::chrono::milliseconds(500));
    } catch (...) {
    }
  }

  void subscribe(const std::string& filter, int qos = 1) {
    client_.subscribe(filter, qos)->wait_for(std::chrono::seconds(5));
  }
  void publish(const std::string& topic, const std::string& payload, int qos = 0,
               bool retain = false) {
    client_.publish(::mqtt::make_message(topic, payload, qos, retain))->wait_for(std::chrono::seconds(5));
  }

  std::vector<received_message> messages() {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::vector<received_message> on(const std::string& topic) {
    std::vector<received_message> out;
    for (auto& m : messages()) {
      if (m.topic == topic) out.push_back(m);
    }
    return out;
  }
  bool wait_count(const std::string& topic, std::size_t n, std::chrono::milliseconds d = 10s) {
    return wait_for([&] { return on(topic).size() >= n; }, d);
  }
  void clear() {
    std::lock_guard lock(mutex_);
    messages_.clear();
  }

 private:
  ::mqtt::async_client client_;
  std::mutex mutex_;
  std::vector<received_message> messages_;
};

}  // namespace test_support
