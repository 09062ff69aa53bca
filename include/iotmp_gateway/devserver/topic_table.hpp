// The devserver's in-process stand-in for the cloud's MQTT side (SPEC §8): the
// latest value of every cloud topic, and subscribers on topic filters with MQTT
// wildcards. Devices publish into it through their publish-scope streams and
// receive from it through their subscribe-scope streams (the device registry
// wires that up); tests and the HTTP layer use the same calls.
//
// Knows nothing about IOTMP or sockets. Runs on the loop thread; subscriber
// callbacks are called synchronously from publish() and may publish, subscribe
// and unsubscribe (themselves included).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iotmp_gateway/bridge/topic.hpp"
#include "iotmp_gateway/pson/value.hpp"

namespace iotgw::devserver {

class topic_table {
 public:
  // Who published: 0 is the API (tests, HTTP); a device connection uses its own
  // id, so that what a device publishes is not echoed back to it (its
  // subscriptions carry the same origin). Without that a `both` stream would
  // loop every message through the gateway's local broker once more.
  using origin_id = std::uint64_t;
  using subscription_id = std::uint64_t;
  using subscriber = std::function<void(const std::string& topic, const pson::value& value)>;

  struct entry {
    pson::value value;
    std::chrono::system_clock::time_point updated;  // wall clock: what a person reads
    std::uint64_t messages = 0;                     // published on this topic so far
    origin_id origin = 0;                           // of the latest value
  };

  // Records value as the topic's latest and calls every subscriber whose filter
  // matches, except those of the same non-zero origin. Returns how many were
  // called; nullopt (nothing stored) when topic is not a valid topic name.
  std::optional<std::size_t> publish(std::string_view topic, const pson::value& value,
                                     origin_id origin = 0);

  // 0 when filter is not a valid MQTT topic filter. The callback sees messages
  // published from now on; matching() gives what is already there.
  subscription_id subscribe(std::string_view filter, subscriber cb, origin_id origin = 0);
  bool unsubscribe(subscription_id id);

  const entry* latest(std::string_view topic) const;
  // Every stored topic the filter matches, in topic order (empty for an invalid filter).
  std::vector<std::pair<std::string, entry>> matching(std::string_view filter) const;
  // The subscribers a publish on topic from origin would reach.
  std::size_t audience(std::string_view topic, origin_id origin = 0) const;

  std::size_t topic_count() const noexcept { return topics_.size(); }
  std::size_t subscription_count() const noexcept { return subscriptions_.size(); }

 private:
  struct subscription {
    bridge::topic_filter filter;
    origin_id origin = 0;
    // Shared so that a callback which unsubscribes itself stays alive until it returns.
    std::shared_ptr<subscriber> cb;
  };

  std::map<std::string, entry, std::less<>> topics_;
  std::map<subscription_id, subscription> subscriptions_;
  subscription_id next_id_ = 1;
};

}  // namespace iotgw::devserver
