#include "iotmp_gateway/devserver/http_routes.hpp"

#include <cmath>
#include <ctime>

#include "iotmp_gateway/devserver/command_line.hpp"
#include "iotmp_gateway/pson/json.hpp"

namespace iotgw::devserver {

namespace {

// Splits off the first segment of path (which has no leading '/'): the
// segment, and the rest after its '/' (empty when none).
std::pair<std::string_view, std::string_view> first_segment(std::string_view path) {
  const auto slash = path.find('/');
  if (slash == std::string_view::npos) return {path, {}};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

http_route device_route(device_id id, std::string_view rest) {
  using kind = http_route::kind;
  http_route r;
  r.device = std::move(id);
  if (rest.empty()) {
    r.type = kind::device;
    return r;
  }
  const auto [what, name] = first_segment(rest);
  if (what == "api") {
    r.type = name.empty() ? kind::api : kind::api_resource;
  } else if (what == "resources") {
    r.type = name.empty() ? kind::resources : kind::resource;
  } else {
    return {};
  }
  // A trailing '/' (".../resources/") names no resource: the listing.
  r.name = std::string(name);
  return r;
}

// Machine-readable, unlike to_string(request_status), which is for logs.
std::string_view status_token(request_status s) noexcept {
  switch (s) {
    case request_status::ok:
      return "ok";
    case request_status::refused:
      return "refused";
    case request_status::offline:
      return "offline";
    case request_status::timeout:
      return "timeout";
    case request_status::disconnected:
      return "disconnected";
    case request_status::too_large:
      return "too_large";
    case request_status::stopped:
      return "stopped";
  }
  return "unknown";
}

}  // namespace

http_route parse_http_route(std::string_view path) {
  using kind = http_route::kind;
  if (path == "/" || path == "/index.html") return {kind::page, {}, {}};
  if (!path.starts_with("/v3/")) return {};
  std::string_view rest = path.substr(4);
  if (rest == "devices" || rest == "devices/") return {kind::all_devices, {}, {}};
  if (rest == "topics" || rest == "topics/") return {kind::topics, {}, {}};
  if (rest.starts_with("topics/")) return {kind::topic, {}, std::string(rest.substr(7))};
  if (!rest.starts_with("users/")) return {};
  rest = rest.substr(6);
  const auto [user, after_user] = first_segment(rest);
  if (user.empty()) return {};
  const auto [devices, after_devices] = first_segment(after_user);
  if (devices != "devices") return {};
  if (after_devices.empty()) return {kind::user_devices, {std::string(user), {}}, {}};
  const auto [device, after_device] = first_segment(after_devices);
  if (device.empty()) return {};
  return device_route({std::string(user), std::string(device)}, after_device);
}

const std::string* find_query(const http_query& q, std::string_view name) {
  for (const auto& [k, v] : q) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::variant<std::optional<std::chrono::milliseconds>, std::string> stream_interval(
    const http_query& q) {
  const std::string* text = find_query(q, "interval");
  if (text == nullptr) return std::optional<std::chrono::milliseconds>{};
  if (auto ms = parse_seconds(*text)) return ms;
  return "interval: '" + *text + "' is not a number of seconds above 0 (e.g. 2 or 0.5)";
}

int http_status_of(request_status s) noexcept {
  switch (s) {
    case request_status::ok:
      return 200;
    case request_status::refused:
    case request_status::stopped:
      return 404;
    case request_status::offline:
    case request_status::disconnected:
      return 503;
    case request_status::timeout:
      return 504;
    case request_status::too_large:
      return 413;
  }
  return 500;
}

std::string http_error_body(std::string_view message, std::optional<request_status> status) {
  pson::object o{{"error", pson::value(message)}};
  if (status) o.insert_or_assign("status", pson::value(status_token(*status)));
  return pson::to_json(pson::value(std::move(o)));
}

std::string http_request_error_body(const device_id& device, std::string_view what,
                                    const request_result& r) {
  const std::string who = device.text();
  std::string message;
  switch (r.status) {
    case request_status::refused:
      message = "the device " + who + " refused " + std::string(what) +
                " (no such resource, or it cannot do that)";
      break;
    case request_status::offline:
      message = "the device " + who + " is not connected";
      break;
    case request_status::disconnected:
      message = "the device " + who + " disconnected before it answered";
      break;
    case request_status::timeout:
      message = "the device " + who + " did not answer " + std::string(what) + " in time";
      break;
    case request_status::too_large:
      message = "the request is too large for one IOTMP frame";
      break;
    case request_status::stopped:
      message = "the device " + who + " stopped the stream";
      break;
    case request_status::ok:
      message = "ok";
      break;
  }
  pson::object o{{"error", pson::value(message)}, {"status", pson::value(status_token(r.status))}};
  if (r.payload) {
    // The gateway answers {"error": "..."}: that reason is what a person wants.
    const pson::value* reason = r.payload->find("error");
    if (reason != nullptr && r.payload->is_object() && r.payload->as_object().size() == 1) {
      o.insert_or_assign("error", *reason);
      o.insert_or_assign("detail", pson::value(message));
    } else {
      o.insert_or_assign("device", *r.payload);
    }
  }
  return pson::to_json(pson::value(std::move(o)));
}

std::string iso8601_utc(wall_time t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[40];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms % 1000));
  return std::string(buf, n) + frac;
}

pson::value device_json(const device_info& d) {
  pson::array streams;
  for (const auto& s : d.device_streams) {
    pson::array scope;
    if (s.publish) scope.emplace_back("publish");
    if (s.subscribe) scope.emplace_back("subscribe");
    streams.emplace_back(
        pson::object{{"topic", pson::value(s.topic)}, {"scope", std::move(scope)}});
  }
  pson::object o{
      {"user", pson::value(d.id.user)},
      {"device", pson::value(d.id.device)},
      {"connected", pson::value(d.connected)},
      {"peer", pson::value(d.peer)},
      {"connections", pson::value(d.connections)},
      {"mqtt_streams", pson::value(std::move(streams))},
  };
  if (d.connections > 0) o.insert_or_assign("connected_since", iso8601_utc(d.connected_since));
  return pson::value(std::move(o));
}

pson::value topic_json(const std::string& topic, const topic_table::entry& e) {
  return pson::value(pson::object{
      {"topic", pson::value(topic)},
      {"value", e.value},
      {"updated", pson::value(iso8601_utc(e.updated))},
      {"messages", pson::value(e.messages)},
  });
}

std::variant<ws_subscription_request, std::string> parse_ws_subscription(std::string_view text) {
  pson::value v;
  if (auto err = pson::parse_json(text, v)) {
    return "not JSON (at byte " + std::to_string(err->offset) + ")";
  }
  if (!v.is_object())
    return std::string("expected an object like {\"resource\": \"temp\", \"interval\": 2}");
  ws_subscription_request r;
  const pson::value* resource = v.find("resource");
  if (resource == nullptr || !resource->is_string() || resource->as_string().empty()) {
    return std::string("\"resource\" must be a non-empty string");
  }
  r.resource = resource->as_string();
  if (const pson::value* enabled = v.find("enabled"); enabled != nullptr) {
    if (!enabled->is_bool()) return std::string("\"enabled\" must be true or false");
    r.enabled = enabled->as_bool();
  }
  if (const pson::value* interval = v.find("interval");
      interval != nullptr && !interval->is_null()) {
    if (!interval->is_number()) return std::string("\"interval\" must be a number of seconds");
    const double secs = interval->to_double();
    if (!std::isfinite(secs) || secs < 0 || secs > 86400.0 * 365) {
      return std::string("\"interval\" must be a number of seconds, 0 or above");
    }
    if (secs > 0) {
      const auto ms = static_cast<long long>(std::llround(secs * 1000));
      r.interval = std::chrono::milliseconds(ms < 1 ? 1 : ms);
    }
  }
  for (const auto& [key, value] : v.as_object()) {
    if (key != "resource" && key != "interval" && key != "enabled") {
      return "unknown key \"" + key + "\" (expected resource, interval, enabled)";
    }
  }
  return r;
}

}  // namespace iotgw::devserver
