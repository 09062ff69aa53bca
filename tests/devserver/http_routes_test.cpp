// The pure parts of the devserver's HTTP API: routing, status mapping, error
// bodies, the multiplexed WebSocket's control frames, and the bounded queue of
// a WebSocket.
#include "iotmp_gateway/devserver/http_routes.hpp"

#include <gtest/gtest.h>

#include "iotmp_gateway/devserver/http_ws_queue.hpp"
#include "iotmp_gateway/pson/json.hpp"

namespace ds = iotgw::devserver;
using ds::http_route;
using kind = ds::http_route::kind;
using ds::request_status;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

namespace {

http_route route(kind k, std::string user = {}, std::string device = {}, std::string name = {}) {
  return http_route{k, {std::move(user), std::move(device)}, std::move(name)};
}

TEST(http_routes, paths) {
  EXPECT_EQ(ds::parse_http_route("/"), route(kind::page));
  EXPECT_EQ(ds::parse_http_route("/index.html"), route(kind::page));
  EXPECT_EQ(ds::parse_http_route("/v3/devices"), route(kind::all_devices));
  EXPECT_EQ(ds::parse_http_route("/v3/users/alice/devices"), route(kind::user_devices, "alice"));
  EXPECT_EQ(ds::parse_http_route("/v3/users/alice/devices/gw01"),
            route(kind::device, "alice", "gw01"));
  EXPECT_EQ(ds::parse_http_route("/v3/users/alice/devices/gw01/api"),
            route(kind::api, "alice", "gw01"));
  EXPECT_EQ(ds::parse_http_route("/v3/users/alice/devices/gw01/api/temp"),
            route(kind::api_resource, "alice", "gw01", "temp"));
  EXPECT_EQ(ds::parse_http_route("/v3/users/alice/devices/gw01/resources"),
            route(kind::resources, "alice", "gw01"));
  EXPECT_EQ(ds::parse_http_route("/v3/users/alice/devices/gw01/resources/"),
            route(kind::resources, "alice", "gw01"));
  // Resource names keep their '/', and whatever else is left after decoding.
  EXPECT_EQ(ds::parse_http_route("/v3/users/alice/devices/gw01/resources/rooms/kitchen temp/x%41"),
            route(kind::resource, "alice", "gw01", "rooms/kitchen temp/x%41"));
  EXPECT_EQ(ds::parse_http_route("/v3/users/alice/devices/gw01/resources/$gateway"),
            route(kind::resource, "alice", "gw01", "$gateway"));
  EXPECT_EQ(ds::parse_http_route("/v3/topics"), route(kind::topics));
  EXPECT_EQ(ds::parse_http_route("/v3/topics/gw01/alerts/#"),
            route(kind::topic, {}, {}, "gw01/alerts/#"));
  EXPECT_EQ(ds::parse_http_route("/v3/topics/a/+/c"), route(kind::topic, {}, {}, "a/+/c"));
}

TEST(http_routes, unknown_paths) {
  for (const char* p :
       {"", "/v2/devices", "/v3", "/v3/", "/v3/users", "/v3/users/", "/v3/users/alice",
        "/v3/users/alice/things", "/v3/users/alice/devices/gw01/other",
        "/v3/users/alice/devices/gw01/other/x", "/favicon.ico", "/v3/devicesx"}) {
    EXPECT_EQ(ds::parse_http_route(p).type, kind::not_found) << p;
  }
}

TEST(http_routes, interval_parameter) {
  using result = std::variant<std::optional<milliseconds>, std::string>;
  const auto interval = [](std::string v) {
    return ds::stream_interval({{"interval", std::move(v)}});
  };
  EXPECT_EQ(ds::stream_interval({}), result(std::optional<milliseconds>{}));
  EXPECT_EQ(ds::stream_interval({{"other", "1"}}), result(std::optional<milliseconds>{}));
  EXPECT_EQ(interval("2"), result(std::optional<milliseconds>(2000ms)));
  EXPECT_EQ(interval("0.5"), result(std::optional<milliseconds>(500ms)));
  EXPECT_EQ(interval("0.0001"), result(std::optional<milliseconds>(1ms)));
  for (const char* bad : {"0", "-1", "", "soon", "1e3", "nan", "2s"}) {
    EXPECT_TRUE(std::holds_alternative<std::string>(interval(bad))) << bad;
  }
}

TEST(http_routes, status_codes) {
  EXPECT_EQ(ds::http_status_of(request_status::ok), 200);
  EXPECT_EQ(ds::http_status_of(request_status::refused), 404);
  EXPECT_EQ(ds::http_status_of(request_status::offline), 503);
  EXPECT_EQ(ds::http_status_of(request_status::disconnected), 503);
  EXPECT_EQ(ds::http_status_of(request_status::timeout), 504);
  EXPECT_EQ(ds::http_status_of(request_status::too_large), 413);
}

TEST(http_routes, error_bodies) {
  EXPECT_EQ(ds::http_error_body("no such endpoint: /x"), R"({"error":"no such endpoint: /x"})");
  const ds::device_id gw{"alice", "gw01"};
  EXPECT_EQ(
      ds::http_request_error_body(gw, "RUN temp", {request_status::timeout, {}, {}}),
      R"({"error":"the device alice/gw01 did not answer RUN temp in time","status":"timeout"})");
  // The gateway's {"error": reason} is passed on; anything else goes under "device".
  ds::request_result refused{
      request_status::refused, {}, iotgw::pson::value(iotgw::pson::object{{"error", "read-only"}})};
  EXPECT_EQ(
      ds::http_request_error_body(gw, "RUN temp", refused),
      R"j({"detail":"the device alice/gw01 refused RUN temp (no such resource, or it cannot do that)",)j"
      R"j("error":"read-only","status":"refused"})j");
  refused.payload = iotgw::pson::value(7);
  EXPECT_NE(ds::http_request_error_body(gw, "RUN temp", refused).find(R"("device":7)"),
            std::string::npos);
}

TEST(http_routes, iso8601) {
  EXPECT_EQ(ds::iso8601_utc(ds::wall_time{} + 1700000000123ms), "2023-11-14T22:13:20.123Z");
}

TEST(http_routes, websocket_subscription_frames) {
  using request = ds::ws_subscription_request;
  const auto ok = [](std::string_view text) {
    return std::get<request>(ds::parse_ws_subscription(text));
  };
  EXPECT_EQ(ok(R"({"resource": "temp", "interval": 2, "enabled": true})"),
            (request{"temp", 2000ms, true}));
  EXPECT_EQ(ok(R"({"resource": "temp", "interval": 0.5})"), (request{"temp", 500ms, true}));
  EXPECT_EQ(ok(R"({"resource": "temp"})"), (request{"temp", std::nullopt, true}));
  EXPECT_EQ(ok(R"({"resource": "temp", "interval": 0})"), (request{"temp", std::nullopt, true}));
  EXPECT_EQ(ok(R"({"resource": "temp", "interval": null, "enabled": false})"),
            (request{"temp", std::nullopt, false}));
  for (const char* bad :
       {"", "[]", "{", R"({"interval": 2})", R"({"resource": ""})", R"({"resource": 5})",
        R"({"resource": "t", "interval": "2"})", R"({"resource": "t", "interval": -1})",
        R"({"resource": "t", "enabled": "yes"})", R"({"resource": "t", "extra": 1})"}) {
    EXPECT_TRUE(std::holds_alternative<std::string>(ds::parse_ws_subscription(bad))) << bad;
  }
}

TEST(http_ws_queue, drops_the_oldest_samples_over_the_frame_bound) {
  ds::http_ws_queue q(3, 1 << 20);
  q.push_control("c");
  for (int i = 0; i < 5; ++i) q.push_sample(std::to_string(i));
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.dropped(), 3u);
  auto f = q.pop();
  EXPECT_EQ(f->text, "c");  // control frames stay
  EXPECT_EQ(f->dropped_before, 3u);
  EXPECT_EQ(q.pop()->text, "3");
  const auto last = q.pop();
  EXPECT_EQ(last->text, "4");
  EXPECT_EQ(last->dropped_before, 0u);  // reported once
  EXPECT_FALSE(q.pop());
}

TEST(http_ws_queue, bounds_bytes) {
  ds::http_ws_queue q(100, 10);
  q.push_sample("aaaa");
  q.push_sample("bbbb");
  q.push_sample("cccc");
  EXPECT_EQ(q.bytes(), 8u);
  EXPECT_EQ(q.pop()->text, "bbbb");
  // A sample larger than the whole bound cannot be kept, and takes the
  // older ones with it.
  q.push_sample(std::string(11, 'x'));
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.dropped(), 3u);
  // Control frames are kept even over the bound.
  q.push_control(std::string(20, 'e'));
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.pop()->text, std::string(20, 'e'));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

}  // namespace
