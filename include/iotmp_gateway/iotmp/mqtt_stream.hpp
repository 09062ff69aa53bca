// START_STREAM requests for device-opened MQTT topic streams (PROTOCOL.md §11.3,
// SPEC §4), in the two schemes a server may speak.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "iotmp_gateway/pson/value.hpp"

namespace iotgw::iotmp {

enum class mqtt_stream_scheme : std::uint8_t {
  spec,   // RESOURCE = topic, PARAMETERS {"type":"mqtt","scope":[...]} (protocol docs)
  event,  // RESOURCE = 8, PARAMETERS {"event":"device_topic_publish",...} (IOTMP-Linux)
};

enum class mqtt_scope : std::uint8_t { publish = 1, subscribe = 2, both = 3 };

struct stream_request {
  pson::value resource;
  pson::value parameters;
  mqtt_scope scope;  // what this one stream carries
};

// One request, or two for a `both` stream in the event scheme (it has no
// two-way form). qos appears only when non-zero, retained only when true and
// only on a publish stream.
std::vector<stream_request> mqtt_stream_requests(mqtt_stream_scheme scheme, std::string_view topic,
                                                 mqtt_scope scope, unsigned qos, bool retained);

}  // namespace iotgw::iotmp
