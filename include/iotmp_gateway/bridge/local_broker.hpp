// The local MQTT broker as the router sees it. Implemented by mqtt::link;
// every call and callback happens on the loop thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace iotgw::bridge {

enum class link_state : std::uint8_t { disconnected, connecting, connected };
std::string_view to_string(link_state s) noexcept;

class local_broker {
 public:
  // ok, or the reason it failed. Always called exactly once, on the loop thread.
  using publish_done = std::function<void(bool ok, std::string_view error)>;

  virtual ~local_broker() = default;
  virtual link_state state() const = 0;
  // Completes when the broker accepted the message (QoS 1/2: acknowledged).
  virtual void publish(std::string topic, std::string payload, unsigned qos, bool retain,
                       publish_done done) = 0;
};

}  // namespace iotgw::bridge
