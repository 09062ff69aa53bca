// The pure part of the devserver's HTTP and WebSocket API (SPEC §8): which
// path names what, how request outcomes map to HTTP status codes, the JSON the
// API answers with, and the control frames of the multiplexed WebSocket. No
// sockets and no libwebsockets here, so all of it is unit-tested directly;
// http_server.cpp does the I/O.
//
// Paths arrive as libwebsockets hands them over: already percent-decoded once
// (a resource "rooms/kitchen temp" is requested as ".../resources/rooms/kitchen%20temp"
// and arrives with the space and the slash), with "//" collapsed and "." and
// ".." segments resolved. They must not be decoded a second time: "%2525"
// names a resource with "%25" in it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "iotmp_gateway/devserver/registry.hpp"
#include "iotmp_gateway/devserver/topic_table.hpp"
#include "iotmp_gateway/pson/value.hpp"

namespace iotgw::devserver {

struct http_route {
  enum class kind : std::uint8_t {
    not_found,
    page,          // "/" and "/index.html": the web page
    all_devices,   // /v3/devices
    user_devices,  // /v3/users/{user}/devices
    device,        // /v3/users/{user}/devices/{device}
    api,           // .../devices/{device}/api               DESCRIBE
    api_resource,  // .../devices/{device}/api/{resource}    DESCRIBE of one
    resources,     // .../devices/{device}/resources         (WebSocket: multiplexed)
    resource,      // .../devices/{device}/resources/{resource}
    topics,        // /v3/topics
    topic,         // /v3/topics/{topic or filter}
  };
  kind type = kind::not_found;
  device_id device;  // user only for user_devices
  std::string name;  // resource, or topic (filter)

  friend bool operator==(const http_route&, const http_route&) = default;
};

// A decoded path (see above) to what it names. Empty user, device, resource or
// topic names do not match.
http_route parse_http_route(std::string_view path);

// The query string, as name/value pairs already split and decoded.
using http_query = std::vector<std::pair<std::string, std::string>>;
const std::string* find_query(const http_query& q, std::string_view name);

// ?interval=N (seconds, decimals allowed, > 0): nullopt without the parameter
// (an event stream); an error message for any other value.
std::variant<std::optional<std::chrono::milliseconds>, std::string> stream_interval(
    const http_query& q);

// The status code a request to a device ends with: ok 200, refused 404
// (unknown resource, or the device said no), offline/disconnected 503,
// timeout 504, too_large 413.
int http_status_of(request_status s) noexcept;

// {"error": message, "status": <request_status>} (status left out when none).
std::string http_error_body(std::string_view message,
                            std::optional<request_status> status = std::nullopt);
// The error body for a device request that did not end ok: the device's own
// ERROR payload when it sent one ({"error": ...} is passed on, anything else
// goes under "device").
std::string http_request_error_body(const device_id& device, std::string_view what,
                                    const request_result& r);

// A device as the device lists show it: {"user", "device", "connected",
// "peer", "connected_since" (ISO 8601 UTC, when it ever connected),
// "connections", "mqtt_streams": [{"topic", "scope": [...]}]}.
pson::value device_json(const device_info& d);
// {"topic", "value", "updated" (ISO 8601 UTC), "messages"}.
pson::value topic_json(const std::string& topic, const topic_table::entry& e);
std::string iso8601_utc(wall_time t);

// A text frame a client sends on the multiplexed WebSocket:
// {"resource": r, "interval": seconds, "enabled": true|false}. "interval"
// absent, null or 0 asks for an event stream; "enabled" defaults to true.
struct ws_subscription_request {
  std::string resource;
  std::optional<std::chrono::milliseconds> interval;
  bool enabled = true;

  friend bool operator==(const ws_subscription_request&, const ws_subscription_request&) = default;
};
// The request, or a message saying what is wrong with the frame.
std::variant<ws_subscription_request, std::string> parse_ws_subscription(std::string_view text);

}  // namespace iotgw::devserver
