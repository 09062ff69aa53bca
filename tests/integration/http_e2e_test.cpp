// The devserver's HTTP/WebSocket API end to end: the real iotmp-gateway
// binary between a real mosquitto and the devserver (in-process, with its
// HTTP side, the GCD merger and libwebsockets on the test's loop), driven
// only through HTTP and WebSockets as a person or the web page would.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <numeric>

#include "devserver/http_client.hpp"
#include "integration/gateway_fixture.hpp"
#include "iotmp_gateway/devserver/http_server.hpp"
#include "iotmp_gateway/devserver/stream_merger.hpp"

namespace e2e {

namespace {

using http_test::http_response;
using http_test::ws_client;
using std::chrono::milliseconds;

const char* const gateway_maps = R"(
resources:
  temperature: { read: sensors/temp, format: json }
  lamp:        { read: lamp/state, write: lamp/set }
  zigbee/:name:
    read: zigbee2mqtt/+
    write: zigbee2mqtt/+/set
    format: json
streams:
  - local: alerts/#
    cloud: gw01/alerts/#
    scope: publish          # one device stream per concrete topic
  - local: cmd/#
    cloud: gw01/cmd/#
    scope: subscribe
)";

class http_e2e : public gateway_e2e {
 protected:
  void SetUp() override {
    gateway_e2e::SetUp();
    if (HasFatalFailure()) return;
    // The fixture's server, again with a short request timeout so that the
    // 504 case takes a second, not thirty.
    server_->close();
    ds::server_options o;
    o.port = 0;
    o.allow_any = true;
    o.request_timeout = 1500ms;
    server_ = std::make_unique<ds::server>(loop_, registry_, o);
    ASSERT_TRUE(server_->start().ok());
    merger_ = std::make_unique<ds::stream_merger>(registry_);
    ds::http_options h;
    h.port = 0;
    http_ = std::make_unique<ds::http_server>(loop_, registry_, *merger_, h);
    const auto st = http_->start();
    ASSERT_TRUE(st.ok()) << st.message;
  }

  void TearDown() override {
    sockets_.clear();
    if (http_) http_->close();
    http_.reset();
    merger_.reset();
    gateway_e2e::TearDown();
  }

  http_response get(const std::string& target) {
    const auto port = http_->port();
    return http_test::off_loop(loop_, [=] { return http_test::request(port, "GET", target); });
  }
  http_response post(const std::string& target, const std::string& body) {
    const auto port = http_->port();
    return http_test::off_loop(loop_,
                               [=] { return http_test::request(port, "POST", target, body); });
  }
  ws_client& ws(const std::string& target) {
    sockets_.push_back(std::make_unique<ws_client>(http_->port(), target));
    ws_client& c = *sockets_.back();
    EXPECT_TRUE(pump_until(loop_, [&] { return c.handshake_status() != 0; }));
    EXPECT_EQ(c.handshake_status(), 101);
    return c;
  }
  void drop(ws_client& c) {
    sockets_.erase(std::find_if(sockets_.begin(), sockets_.end(),
                                [&](const auto& p) { return p.get() == &c; }));
  }

  std::optional<ds::stream_merger::stream_state> state(const std::string& resource) {
    return merger_->state(alice, resource);
  }
  std::optional<milliseconds> device_interval(const std::string& resource) {
    const auto s = state(resource);
    return s ? s->interval : std::nullopt;
  }

  // Median gap between a consumer's samples from its from-th on. The median
  // holds against a late frame making the next gap short, and against a
  // stall of a loaded machine (ctest -j, sanitizers, a browser test next to
  // it) making one gap long.
  static double median_gap_ms(const ws_client& c, std::size_t from) {
    const auto t = c.times();
    std::vector<double> gaps;
    for (std::size_t i = from + 1; i < t.size(); ++i) {
      gaps.push_back(std::chrono::duration<double, std::milli>(t[i] - t[i - 1]).count());
    }
    if (gaps.empty()) return 0;
    std::sort(gaps.begin(), gaps.end());
    return gaps[gaps.size() / 2];
  }

  static std::string gaps_text(const ws_client& c) {
    const auto t = c.times();
    std::string out = "gaps (ms):";
    for (std::size_t i = 1; i < t.size(); ++i) {
      out +=
          " " + std::to_string(std::chrono::duration_cast<milliseconds>(t[i] - t[i - 1]).count());
    }
    return out;
  }

  const std::string dev = "/v3/users/alice/devices/gw01";
  std::unique_ptr<ds::stream_merger> merger_;
  std::unique_ptr<ds::http_server> http_;
  std::vector<std::unique_ptr<ws_client>> sockets_;
};

TEST_F(http_e2e, run_write_describe_and_device_lists) {
  auto& local = peer();
  local.publish("sensors/temp", R"({"celsius": 21.5})", 1, true);
  local.subscribe("lamp/set");
  start_gateway(config(gateway_maps), 1);

  // GET: the latest value, as JSON.
  ASSERT_TRUE(
      poll([&] { return get(dev + "/resources/temperature").body == R"({"celsius":21.5})"; }));
  // POST: published on the write topic; the OK carries the latest read value (none yet).
  const auto w = post(dev + "/resources/lamp", R"("ON")");
  EXPECT_EQ(w.status, 200) << w.body;
  ASSERT_TRUE(wait_message(local, "lamp/set", 1));
  EXPECT_EQ(local.on("lamp/set")[0].payload, "ON");
  // Placeholders: the resource name carries the zigbee device.
  EXPECT_EQ(post(dev + "/resources/zigbee/kitchen", R"({"state": "ON", "brightness": 128})").status,
            200);
  local.subscribe("zigbee2mqtt/+/set");
  // The gateway's built-in status resource.
  const auto status = parse(get(dev + "/resources/$gateway").body);
  EXPECT_EQ(state_of(status, "cloud"), "connected");

  const auto api = parse(get(dev + "/api").body);
  ASSERT_TRUE(api.is_object()) << json(api);
  EXPECT_EQ(json(*api.find("temperature")), R"({"fn":3})");
  EXPECT_EQ(json(*api.find("lamp")), R"({"fn":4})");
  EXPECT_TRUE(api.find("zigbee/:name"));
  EXPECT_EQ(get(dev + "/api/temperature").status, 200);

  const auto devices = parse(get("/v3/users/alice/devices").body);
  ASSERT_EQ(devices.as_array().size(), 1u);
  EXPECT_EQ(*devices.as_array()[0].find("connected"), pson::value(true));
  // The subscribe stream; the wildcard publish stream opens per topic, none yet.
  EXPECT_EQ(devices.as_array()[0].find("mqtt_streams")->as_array().size(), 1u);
  EXPECT_EQ(parse(get("/v3/devices").body).as_array().size(), 1u);
}

TEST_F(http_e2e, unknown_resource_404_silent_gateway_504_gone_503_malformed_400) {
  start_gateway(config(gateway_maps), 1);
  auto r = get(dev + "/resources/no/such/thing");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(parse(r.body).find("status")->as_string(), "refused");
  // A read-only resource given input: the gateway refuses, with its reason.
  r = post(dev + "/resources/temperature", "1");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_NE(r.body.find("\"error\""), std::string::npos);

  r = post(dev + "/resources/lamp", "{\"on\": tru");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("malformed JSON body"), std::string::npos) << r.body;

  // A stopped process keeps its connection but answers nothing.
  gw_->signal(SIGSTOP);
  r = get(dev + "/resources/temperature");
  gw_->signal(SIGCONT);
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(parse(r.body).find("status")->as_string(), "timeout");

  ASSERT_EQ(stop_gateway(), 0);
  ASSERT_TRUE(pump_until(loop_, [&] { return !registry_.connected(alice); }));
  r = get(dev + "/resources/temperature");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(parse(r.body).find("status")->as_string(), "offline");
  EXPECT_EQ(*parse(get("/v3/users/alice/devices").body).as_array()[0].find("connected"),
            pson::value(false));
}

TEST_F(http_e2e, consumers_joining_and_leaving_are_merged_by_gcd) {
  peer().publish("sensors/temp", "21.5", 1, true);
  start_gateway(config(gateway_maps), 1);
  ASSERT_TRUE(eventually_reads("temperature", "21.5"));

  // 300 ms and 450 ms: the gateway streams at 150 ms, and each consumer gets
  // samples at its own period.
  auto& a = ws(dev + "/resources/temperature?interval=0.3");
  ASSERT_TRUE(
      pump_until(loop_, [&] { return device_interval("temperature") == milliseconds(300); }));
  auto& b = ws(dev + "/resources/temperature?interval=0.45");
  ASSERT_TRUE(
      pump_until(loop_, [&] { return device_interval("temperature") == milliseconds(150); }));
  EXPECT_EQ(state("temperature")->interval_consumers, 2u);
  EXPECT_EQ(registry_.find(alice)->server_streams, 1u);  // one device stream for both

  // Each consumer at its own period. Timing on a shared machine: a window in
  // which the machine stalled (ctest -j, sanitizers, the browser test next to
  // this one) is measured again, up to three windows; a wrong period fails
  // every window.
  const auto within = [](double got, double want) {
    return got >= want * 0.8 && got <= want * 1.2;
  };
  double gap_a = 0;
  double gap_b = 0;
  for (int window = 0; window < 3; ++window) {
    const auto a0 = a.count();
    const auto b0 = b.count();
    ASSERT_TRUE(pump_until(
        loop_, [&] { return a.count() >= a0 + 8 && b.count() >= b0 + 6; }, 15s));
    // From the second sample of the window: the first gap may span the
    // device stream's re-START.
    gap_a = median_gap_ms(a, a0 + 1);
    gap_b = median_gap_ms(b, b0 + 1);
    if (within(gap_a, 300) && within(gap_b, 450)) break;
  }
  EXPECT_TRUE(within(gap_a, 300)) << "consumer a: median " << gap_a << " ms; " << gaps_text(a);
  EXPECT_TRUE(within(gap_b, 450)) << "consumer b: median " << gap_b << " ms; " << gaps_text(b);
  EXPECT_EQ(a.messages().back(), "21.5");

  // A third at 200 ms: GCD 50 ms. It leaves: back to 150 ms.
  auto& c = ws(dev + "/resources/temperature?interval=0.2");
  ASSERT_TRUE(
      pump_until(loop_, [&] { return device_interval("temperature") == milliseconds(50); }));
  ASSERT_TRUE(pump_until(loop_, [&] { return c.count() >= 3; }));
  drop(c);
  ASSERT_TRUE(
      pump_until(loop_, [&] { return device_interval("temperature") == milliseconds(150); }));
  // a leaves: b alone sets the interval.
  drop(a);
  ASSERT_TRUE(
      pump_until(loop_, [&] { return device_interval("temperature") == milliseconds(450); }));
  EXPECT_EQ(registry_.find(alice)->server_streams, 1u);
  // The last one leaves: the device stream is stopped.
  drop(b);
  ASSERT_TRUE(pump_until(
      loop_, [&] { return !state("temperature") && registry_.find(alice)->server_streams == 0; }));
}

TEST_F(http_e2e, event_streams_see_every_mqtt_message) {
  auto& local = peer();
  start_gateway(config(gateway_maps), 1);
  auto& single = ws(dev + "/resources/temperature");
  auto& mux = ws(dev + "/resources");
  mux.send_text(R"({"resource": "zigbee/kitchen", "enabled": true})");
  ASSERT_TRUE(pump_until(loop_, [&] {
    const auto t = state("temperature");
    const auto z = state("zigbee/kitchen");
    return t && t->event_stream && z && z->event_stream &&
           registry_.find(alice)->server_streams == 2;
  }));
  for (int i = 1; i <= 3; ++i) local.publish("sensors/temp", std::to_string(20 + i), 1);
  local.publish("zigbee2mqtt/kitchen", R"({"temperature": 21.5, "battery": 97})", 1);
  ASSERT_TRUE(pump_until(loop_, [&] { return single.count() >= 3 && mux.count() >= 1; }));
  const auto got = single.messages();
  EXPECT_EQ(std::vector<std::string>(got.end() - 3, got.end()),
            (std::vector<std::string>{"21", "22", "23"}));
  EXPECT_EQ(mux.messages().back(),
            R"({"resource":"zigbee/kitchen","value":{"battery":97,"temperature":21.5}})");

  // Disabling one leaves the other running.
  mux.send_text(R"({"resource": "zigbee/kitchen", "enabled": false})");
  ASSERT_TRUE(pump_until(loop_, [&] {
    return !state("zigbee/kitchen") && registry_.find(alice)->server_streams == 1;
  }));
  local.publish("sensors/temp", "24", 1);
  ASSERT_TRUE(pump_until(loop_, [&] { return single.count() >= 4; }));
  EXPECT_EQ(single.messages().back(), "24");
}

TEST_F(http_e2e, topics_from_device_streams_and_to_them) {
  auto& local = peer();
  local.subscribe("cmd/#");
  start_gateway(config(gateway_maps), 1);
  auto& live = ws("/v3/topics/gw01/%23");
  local.publish("alerts/kitchen/smoke", "smoke detected", 1);
  ASSERT_TRUE(pump_until(loop_, [&] { return live.count() >= 1; }));
  EXPECT_EQ(live.messages()[0],
            R"({"topic":"gw01/alerts/kitchen/smoke","value":"smoke detected"})");
  EXPECT_EQ(get("/v3/topics/gw01/alerts/kitchen/smoke").body, R"("smoke detected")");

  // POST reaches the gateway's subscribe stream, which publishes locally.
  const auto r = post("/v3/topics/gw01/cmd/lamp", R"({"state": "ON"})");
  EXPECT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(wait_message(local, "cmd/lamp", 1));
  EXPECT_EQ(local.on("cmd/lamp")[0].payload, R"({"state":"ON"})");
}

}  // namespace

}  // namespace e2e
