// iotmp-gateway end to end (SPEC §2, §4, §5): the real binary between a real
// mosquitto and the devserver running in this process.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <sstream>

#include "integration/gateway_fixture.hpp"
#include "iotmp_gateway/iotmp/message.hpp"

#ifndef IOTMP_SOURCE_DIR
#error "IOTMP_SOURCE_DIR must name the source tree"
#endif

using namespace e2e;
using namespace std::chrono_literals;
using pson::value;
using request_status = ds::request_status;

namespace {

// ---- RUN: reads ----------------------------------------------------------------

TEST_F(gateway_e2e, read_answers_the_latest_value_converted_per_format) {
  auto& sensor = peer();
  // Retained state from before the gateway started fills the cache.
  sensor.publish("sensors/boot", R"({"v":1})", 1, true);
  start_gateway(config(R"(
resources:
  temp:  { read: sensors/temp, format: number }
  text:  { read: sensors/text, format: string }
  state: { read: sensors/state, format: json }
  any:   { read: sensors/any }
  raw:   { read: sensors/raw, format: bytes }
  boot:  { read: sensors/boot }
)"));

  // Nothing received yet: OK without a PAYLOAD field at all.
  const auto before = run("temp");
  EXPECT_EQ(before.status, request_status::ok);
  EXPECT_FALSE(before.payload.has_value()) << json(before.payload);

  EXPECT_TRUE(eventually_reads("boot", R"({"v":1})"));

  sensor.publish("sensors/temp", "21.5", 1);
  EXPECT_TRUE(eventually_reads("temp", "21.5"));
  sensor.publish("sensors/text", "42", 1);  // a string stays a string
  EXPECT_TRUE(eventually_reads("text", R"("42")"));
  sensor.publish("sensors/state", R"({"temperature": 21.5, "humidity": 48, "battery": 97})", 1);
  EXPECT_TRUE(eventually_reads("state", R"({"battery":97,"humidity":48,"temperature":21.5})"));
  sensor.publish("sensors/any", "not json", 1);  // auto: text when it does not parse
  EXPECT_TRUE(eventually_reads("any", R"("not json")"));
  sensor.publish("sensors/any", "[1,true]", 1);  // auto: JSON when it does
  EXPECT_TRUE(eventually_reads("any", "[1,true]"));
  sensor.publish("sensors/raw", "\x01\x02", 1);
  ASSERT_TRUE(poll([&] {
    const auto r = run("raw");
    return r.payload && r.payload->is_bytes();
  }));
  EXPECT_EQ(run("raw").payload->as_bytes(), (pson::bytes{1, 2}));

  // Invalid for the format: counted, not stored. A later message on another
  // topic from the same client marks that the first one was handled.
  const auto invalid_before = counter(gateway_status(), "invalid");
  sensor.publish("sensors/temp", "warm", 1);
  sensor.publish("sensors/text", "marker", 1);
  EXPECT_TRUE(eventually_reads("text", R"("marker")"));
  EXPECT_EQ(json(run("temp").payload), "21.5");
  EXPECT_GT(counter(gateway_status(), "invalid"), invalid_before);
}

// ---- RUN: writes ---------------------------------------------------------------

TEST_F(gateway_e2e, write_publishes_with_qos_0_and_1_and_answers_ok) {
  start_gateway(config(R"(
resources:
  lamp:  { read: lamp/state, write: lamp/set, qos: 1 }
  fan:   { write: fan/set }
  level: { write: dim/level, format: number, qos: 1 }
  label: { write: lcd/text, format: string }
  scene: { write: scene/set, format: json }
)"));
  auto& device = peer();
  for (const auto* t : {"lamp/set", "fan/set", "dim/level", "lcd/text", "scene/set"})
    device.subscribe(t, 2);
  device.publish("lamp/state", "off", 1);
  EXPECT_TRUE(eventually_reads("lamp", R"("off")"));

  // QoS 1: OK after the PUBACK, carrying the latest read value.
  auto r = run("lamp", value("ON"));
  EXPECT_EQ(r.status, request_status::ok);
  EXPECT_EQ(json(r.payload), R"("off")");
  ASSERT_TRUE(wait_message(device, "lamp/set", 1));
  EXPECT_EQ(device.on("lamp/set")[0].payload, "ON");
  EXPECT_EQ(device.on("lamp/set")[0].qos, 1);
  EXPECT_FALSE(device.on("lamp/set")[0].retained);

  // QoS 0, write-only: OK without payload; objects go as compact JSON.
  r = run("fan", parse(R"({"speed": 2})"));
  EXPECT_EQ(r.status, request_status::ok);
  EXPECT_FALSE(r.payload.has_value()) << json(r.payload);
  ASSERT_TRUE(wait_message(device, "fan/set", 1));
  EXPECT_EQ(device.on("fan/set")[0].payload, R"({"speed":2})");
  EXPECT_EQ(device.on("fan/set")[0].qos, 0);

  // format: number takes PSON numbers only.
  EXPECT_TRUE(run("level", value(42)).ok());
  ASSERT_TRUE(wait_message(device, "dim/level", 1));
  EXPECT_EQ(device.on("dim/level")[0].payload, "42");
  for (const auto& bad : {value("7"), value(true)}) {
    r = run("level", bad);
    EXPECT_EQ(r.status, request_status::refused) << json(bad);
    ASSERT_TRUE(r.payload && r.payload->find("error") && r.payload->find("error")->is_string())
        << json(r.payload);
  }

  // format: string sends strings raw, bytes raw, anything else as compact JSON.
  const value raw(pson::as_bytes, pson::bytes{'r', 0x00, 'w'});
  EXPECT_TRUE(run("label", value("hello")).ok());
  EXPECT_TRUE(run("label", parse(R"({"a": [1, 2]})")).ok());
  EXPECT_TRUE(run("label", raw).ok());
  ASSERT_TRUE(wait_message(device, "lcd/text", 3));
  EXPECT_EQ(device.on("lcd/text")[0].payload, "hello");
  EXPECT_EQ(device.on("lcd/text")[1].payload, R"({"a":[1,2]})");
  EXPECT_EQ(device.on("lcd/text")[2].payload, std::string("r\0w", 3));
  // auto: strings as text, bytes raw; json: strings as JSON text.
  EXPECT_TRUE(run("fan", value("fast")).ok());
  EXPECT_TRUE(run("fan", raw).ok());
  EXPECT_TRUE(run("scene", value("evening")).ok());
  ASSERT_TRUE(wait_message(device, "fan/set", 3));
  EXPECT_EQ(device.on("fan/set")[1].payload, "fast");
  EXPECT_EQ(device.on("fan/set")[2].payload, std::string("r\0w", 3));
  ASSERT_TRUE(wait_message(device, "scene/set", 1));
  EXPECT_EQ(device.on("scene/set")[0].payload, R"("evening")");
  // Nothing of the refused inputs reached the broker.
  EXPECT_EQ(device.on("dim/level").size(), 1u);
  EXPECT_GE(counter(gateway_status(), "mqtt_out"), 9u);
}

TEST_F(gateway_e2e, write_while_the_broker_is_down_answers_an_error) {
  start_gateway(config(R"(
resources:
  lamp: { read: lamp/state, write: lamp/set, qos: 1 }
  fan:  { write: fan/set }
)"));
  drop_peer();  // it would only fail to reconnect, noisily
  broker_->stop();
  ASSERT_TRUE(poll([&] { return state_of(gateway_status(), "mqtt") != "connected"; }));
  for (const auto* name : {"lamp", "fan"}) {
    const auto r = run(name, value("ON"));
    EXPECT_EQ(r.status, request_status::refused) << name;
    ASSERT_TRUE(r.payload && r.payload->is_object()) << json(r.payload);
    const auto* error = r.payload->find("error");
    ASSERT_TRUE(error && error->is_string()) << json(r.payload);
    EXPECT_FALSE(error->as_string().empty());
  }
  // The cloud side is unaffected: reads still answer.
  EXPECT_TRUE(run("lamp").ok());
  // And a stop with the broker gone is still clean and quick.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(stop_gateway(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST_F(gateway_e2e, refuses_unknown_read_only_and_write_only_without_input) {
  start_gateway(config(R"(
resources:
  temp: { read: sensors/temp }
  fan:  { write: fan/set }
)"));
  auto& device = peer();
  device.subscribe("fan/set");
  const auto expect_error = [](const ds::request_result& r, const char* what) {
    EXPECT_EQ(r.status, request_status::refused) << what;
    EXPECT_TRUE(r.payload && r.payload->find("error") && r.payload->find("error")->is_string())
        << what << ": " << json(r.payload);
  };
  expect_error(run("nothing"), "unknown resource");
  expect_error(run("nothing", value(1)), "unknown resource with input");
  expect_error(run("temp", value(1)), "read-only resource with input");
  expect_error(run("$gateway", value(1)), "$gateway with input");
  expect_error(run("fan"), "write-only resource without input");
  expect_error(describe("nothing"), "DESCRIBE of an unknown resource");

  // Streams on what has nothing to read, or does not exist, are refused too.
  for (const auto* name : {"fan", "nothing"}) {
    const auto s = start_stream(name, std::nullopt);
    ASSERT_EQ(s.rec->started.size(), 1u) << name;
    EXPECT_EQ(s.rec->started[0].status, request_status::refused) << name;
  }
  // Nothing was published by any of that.
  EXPECT_TRUE(run("fan", value("go")).ok());
  ASSERT_TRUE(wait_message(device, "fan/set", 1));
  EXPECT_EQ(device.on("fan/set").size(), 1u);
}

TEST_F(gateway_e2e, placeholders_map_zigbee_devices) {
  start_gateway(config(R"(
resources:
  zigbee/:name:
    read: zigbee2mqtt/+
    write: zigbee2mqtt/+/set
    format: json
    qos: 1
)"));
  auto& z2m = peer();
  z2m.subscribe("zigbee2mqtt/+/set");
  z2m.publish("zigbee2mqtt/kitchen",
              R"({"temperature": 21.5, "humidity": 48, "battery": 97, "linkquality": 120})", 1);
  z2m.publish("zigbee2mqtt/hall", R"({"temperature": 19})", 1);
  z2m.publish("zigbee2mqtt/bridge/state", "online", 1, true);  // not one segment: not ours
  EXPECT_TRUE(eventually_reads(
      "zigbee/kitchen", R"({"battery":97,"humidity":48,"linkquality":120,"temperature":21.5})"));
  EXPECT_TRUE(eventually_reads("zigbee/hall", R"({"temperature":19})"));
  const auto unknown = run("zigbee/attic");
  EXPECT_EQ(unknown.status, request_status::ok);
  EXPECT_FALSE(unknown.payload.has_value());

  // An event stream on one concrete path sees that device only.
  auto s = start_stream("zigbee/hall", std::nullopt);
  ASSERT_TRUE(!s.rec->started.empty() && s.rec->started[0].ok());
  ASSERT_TRUE(pump_until(loop_, [&] { return s.rec->samples.size() >= 1; }));  // the latest, once
  z2m.publish("zigbee2mqtt/kitchen", R"({"temperature": 22})", 1);
  z2m.publish("zigbee2mqtt/hall", R"({"temperature": 20})", 1);
  ASSERT_TRUE(pump_until(loop_, [&] { return s.rec->samples.size() >= 2; }));
  EXPECT_TRUE(eventually_reads("zigbee/kitchen", R"({"temperature":22})"));
  ASSERT_EQ(s.rec->samples.size(), 2u);
  EXPECT_EQ(json(s.rec->samples[1]), R"({"temperature":20})");

  // Writes substitute the placeholder into the write topic.
  const auto r = run("zigbee/kitchen", parse(R"({"state": "ON", "brightness": 128})"));
  EXPECT_EQ(r.status, request_status::ok);
  EXPECT_EQ(json(r.payload), R"({"temperature":22})");  // read+write: the latest read value
  ASSERT_TRUE(wait_message(z2m, "zigbee2mqtt/kitchen/set", 1));
  EXPECT_EQ(parse(z2m.on("zigbee2mqtt/kitchen/set")[0].payload),
            parse(R"({"state":"ON","brightness":128})"));
  EXPECT_EQ(z2m.on("zigbee2mqtt/kitchen/set")[0].qos, 1);
  EXPECT_TRUE(z2m.on("zigbee2mqtt/hall/set").empty());
}

// ---- frames a newer (or broken) server may send ------------------------------------

TEST_F(gateway_e2e, unknown_types_are_skipped_runs_without_id_still_write_bad_frames_reconnect) {
  start_gateway(config(R"(
resources:
  temp: { read: sensors/temp }
  fan:  { write: fan/set }
)"));
  auto& device = peer();
  device.subscribe("fan/set");
  device.publish("sensors/temp", "5", 1);
  EXPECT_TRUE(eventually_reads("temp", "5"));

  // Unknown types (0 included) are skipped by their declared size.
  const iotgw::byte_buffer unknown{0x0f, 0x03, 'a', 'b', 'c', 0x00, 0x00, 0x7f, 0x01, 0xff};
  ASSERT_TRUE(registry_.send_raw(alice, unknown).ok());
  // A RUN without a stream id: no answer, but the write is done.
  const auto before = traffic();
  const auto run_without_id = iotgw::iotmp::encode(iotgw::iotmp::message{
      message_type::run, std::nullopt, std::nullopt, value("spin"), value("fan")});
  ASSERT_TRUE(registry_.send_raw(alice, run_without_id).ok());
  ASSERT_TRUE(wait_message(device, "fan/set", 1));
  EXPECT_EQ(device.on("fan/set")[0].payload, "spin");
  EXPECT_EQ(json(run("temp").payload), "5");
  EXPECT_EQ(traffic().in(message_type::ok), before.in(message_type::ok) + 1);
  EXPECT_EQ(traffic().in(message_type::error), before.in(message_type::error));
  EXPECT_EQ(registry_.find(alice)->connections, 1u);

  // A frame announcing more than 256 KiB: the connection is dropped and made again.
  const iotgw::byte_buffer oversize{0x06, 0x80, 0x80, 0x20};  // RUN, body of 512 KiB
  ASSERT_TRUE(registry_.send_raw(alice, oversize).ok());
  ASSERT_TRUE(pump_until(
      loop_, [&] { return registry_.find(alice)->connections == 2 && registry_.connected(alice); },
      10s));
  EXPECT_EQ(json(run("temp").payload), "5");
  EXPECT_TRUE(gw_->running());
}

// ---- DESCRIBE ----------------------------------------------------------------

TEST_F(gateway_e2e, describe_lists_the_api_and_one_resource) {
  start_gateway(config(R"(
resources:
  temp: { read: sensors/temp, format: number }
  fan:  { write: fan/set, format: number }
  lamp: { read: lamp/state, write: lamp/set }
  zigbee/:name: { read: zigbee2mqtt/+, write: zigbee2mqtt/+/set }
)"));
  const auto api = describe();
  ASSERT_TRUE(api.ok()) << ds::to_string(api.status);
  ASSERT_TRUE(api.payload && api.payload->is_object()) << json(api.payload);
  const auto fn = [&](const char* name) -> std::uint64_t {
    const auto* entry = api.payload->find(name);
    std::uint64_t n = 0;
    if (entry && entry->find("fn")) entry->find("fn")->get_unsigned(n);
    return n;
  };
  EXPECT_EQ(fn("temp"), 3u) << json(api.payload);  // output
  EXPECT_EQ(fn("fan"), 2u);                        // input
  EXPECT_EQ(fn("lamp"), 4u);                       // both
  EXPECT_EQ(fn("zigbee/:name"), 4u);               // placeholders listed as patterns
  EXPECT_EQ(fn("$gateway"), 3u);
  EXPECT_EQ(api.payload->as_object().size(), 5u) << json(api.payload);

  auto& sensor = peer();
  sensor.publish("sensors/temp", "21.5", 1);
  sensor.publish("lamp/state", R"({"on": true})", 1);
  EXPECT_TRUE(eventually_reads("lamp", R"({"on":true})"));
  const auto temp = describe("temp");
  ASSERT_TRUE(temp.ok());
  EXPECT_EQ(json(temp.payload), R"({"out":21.5})");
  const auto fan = describe("fan");
  ASSERT_TRUE(fan.ok());
  ASSERT_TRUE(fan.payload && fan.payload->find("in")) << json(fan.payload);
  EXPECT_EQ(fan.payload->find("out"), nullptr);
  const auto lamp = describe("lamp");
  ASSERT_TRUE(lamp.ok());
  ASSERT_TRUE(lamp.payload && lamp.payload->find("in") && lamp.payload->find("out"))
      << json(lamp.payload);
  EXPECT_EQ(json(*lamp.payload->find("out")), R"({"on":true})");
}

// ---- server-opened streams ------------------------------------------------------

TEST_F(gateway_e2e, interval_stream_samples_the_cache_restarts_and_stops) {
  start_gateway(config(R"(
resources:
  temp: { read: sensors/temp, format: number }
)"));
  auto s = start_stream("temp", 100ms);
  ASSERT_EQ(s.rec->started.size(), 1u);
  ASSERT_TRUE(s.rec->started[0].ok());
  // Nothing while the cache is empty (over 3.5 intervals).
  pump_for(loop_, 350ms);
  EXPECT_TRUE(s.rec->samples.empty()) << s.rec->samples.size() << " samples before any value";

  auto& sensor = peer();
  sensor.publish("sensors/temp", "20", 1);
  ASSERT_TRUE(pump_until(loop_, [&] { return s.rec->samples.size() >= 6; }));
  for (const auto& v : s.rec->samples) EXPECT_EQ(json(v), "20");
  const auto span = s.rec->at[5] - s.rec->at[1];
  EXPECT_GE(span, 4 * 70ms) << "samples come faster than the interval";
  EXPECT_LE(span, 4 * 400ms) << "samples come much slower than the interval";
  sensor.publish("sensors/temp", "21", 1);
  ASSERT_TRUE(pump_until(loop_, [&] { return json(s.rec->samples.back()) == "21"; }));

  // The same stream id again with a new interval replaces the old one.
  ASSERT_TRUE(s.handle.restart(500ms));
  ASSERT_TRUE(pump_until(loop_, [&] { return s.rec->started.size() == 2; }));
  ASSERT_TRUE(s.rec->started[1].ok());
  const auto restarted = std::chrono::steady_clock::now();
  const auto from = s.rec->samples.size();
  ASSERT_TRUE(pump_until(
      loop_, [&] { return s.rec->samples.size() >= from + 3; }, 5s));
  // One right away, then at 500 and 1000 ms; the old 100 ms interval would be done in ~200 ms.
  EXPECT_GE(s.rec->at[from + 2] - restarted, 800ms);
  EXPECT_EQ(traffic().in(message_type::error), 0u);

  // STOP_STREAM: OK, then nothing more.
  const auto oks = traffic().in(message_type::ok);
  s.handle.stop();
  ASSERT_TRUE(pump_until(loop_, [&] { return traffic().in(message_type::ok) > oks; }));
  const auto data = traffic().in(message_type::stream_data);
  pump_for(loop_, 700ms);
  EXPECT_EQ(traffic().in(message_type::stream_data), data);
  EXPECT_EQ(registry_.find(alice)->server_streams, 0u);
}

TEST_F(gateway_e2e, event_stream_sends_every_mqtt_message) {
  start_gateway(config(R"(
resources:
  temp: { read: sensors/temp, format: number }
)"));
  auto& sensor = peer();
  sensor.publish("sensors/temp", "0", 1);
  EXPECT_TRUE(eventually_reads("temp", "0"));
  auto s = start_stream("temp", std::nullopt);
  ASSERT_TRUE(!s.rec->started.empty() && s.rec->started[0].ok());
  // The latest value once, right after the OK.
  ASSERT_TRUE(pump_until(loop_, [&] { return s.rec->samples.size() >= 1; }));
  EXPECT_EQ(json(s.rec->samples[0]), "0");
  constexpr int n = 50;
  for (int i = 1; i <= n; ++i) sensor.publish("sensors/temp", std::to_string(i), 1);
  ASSERT_TRUE(pump_until(loop_, [&] { return s.rec->samples.size() >= n + 1; }))
      << s.rec->samples.size();
  for (int i = 0; i <= n; ++i) EXPECT_EQ(json(s.rec->samples[i]), std::to_string(i));
  // No interval: nothing between messages.
  const auto got = s.rec->samples.size();
  pump_for(loop_, 300ms);
  EXPECT_EQ(s.rec->samples.size(), got);
}

TEST_F(gateway_e2e, no_upstream_bytes_without_a_stream) {
  // keepalive 1: the window below is measured in keep-alives.
  gateway_options o;
  o.keepalive = 1;
  start_gateway(config(R"(
resources:
  temp:  { read: sensors/temp, format: number }
  bridge: { read: zigbee2mqtt/bridge/state }
  zigbee/:name: { read: zigbee2mqtt/+, format: json }
  shelly/:id/relay: { read: shellies/+/relay/0, format: string }
)",
                       o));
  auto& sensor = peer();
  const auto t0 = traffic();
  constexpr int n = 300;
  for (int i = 0; i < n; ++i) {
    sensor.publish("sensors/temp", std::to_string(i), 1);
    sensor.publish("zigbee2mqtt/kitchen", R"({"temperature": )" + std::to_string(i) + "}", 1);
    sensor.publish("shellies/a/relay/0", i % 2 ? "on" : "off", 1);
  }
  int runs = 0;
  ASSERT_TRUE(eventually_reads("zigbee/kitchen", R"({"temperature":)" + std::to_string(n - 1) + "}",
                               10s, &runs));
  // Two more keep-alives from now: a window in which leaked samples would show.
  const auto keepalives = traffic().in(message_type::keep_alive);
  ASSERT_TRUE(pump_until(
      loop_, [&] { return traffic().in(message_type::keep_alive) >= keepalives + 2; }, 6s));
  const auto t1 = traffic();

  EXPECT_EQ(t1.in(message_type::stream_data), 0u);
  const auto ka = t1.in(message_type::keep_alive)-t0.in(message_type::keep_alive);
  const auto oks = t1.in(message_type::ok)-t0.in(message_type::ok);
  EXPECT_EQ(oks, static_cast<std::uint64_t>(runs));
  EXPECT_EQ(t1.frames_in - t0.frames_in, ka + oks)
      << "frames other than keep-alives and RUN answers";
  // A keep-alive is a couple of bytes, a RUN answer here a few dozen; 300 leaked
  // messages would be thousands.
  EXPECT_LE(t1.bytes_in - t0.bytes_in, ka * 8 + oks * 48);
  EXPECT_EQ(registry_.find(alice)->server_streams, 0u);
  // The messages did reach the gateway.
  EXPECT_GE(counter(gateway_status(), "mqtt_in"), 3u * n);
}

// ---- MQTT-typed streams opened by the gateway ----------------------------------------

class mqtt_streams : public gateway_e2e, public ::testing::WithParamInterface<const char*> {};

TEST_P(mqtt_streams, publish_and_subscribe_in_both_directions) {
  const std::string scheme = GetParam();
  gateway_options o;
  o.mqtt_streams = scheme;
  // spec: door, cmd, zb, hall (both in one); event: hall is two streams.
  const std::size_t fixed_streams = scheme == "spec" ? 4 : 5;
  start_gateway(config(R"(
streams:
  - local: door/state
    cloud: gw01/door
    scope: publish
    format: json
  - local: alerts/#
    cloud: gw01/alerts/#
    scope: publish
    qos: 1
  - local: cmd/lamp
    cloud: gw01/cmd/lamp
    scope: subscribe
    qos: 1
  - local: zb/+/set
    cloud: gw01/zb/+/set
    scope: subscribe
  - local: hall/light
    cloud: gw01/hall/light
    scope: both
)",
                       o),
                fixed_streams);
  ASSERT_EQ(device_streams().size(), fixed_streams);
  for (const auto& s : device_streams()) {
    EXPECT_NE(s.topic, "gw01/alerts/#") << "a wildcard publish stream opens per-topic streams only";
    EXPECT_EQ(s.scheme == ds::device_stream{}.scheme, scheme == "event") << s.topic;
  }
  ASSERT_TRUE(device_stream_on("gw01/door", false));
  ASSERT_TRUE(device_stream_on("gw01/cmd/lamp", true));
  // Only the event scheme carries qos (spec: {"type","scope"} only).
  EXPECT_EQ(device_stream_on("gw01/cmd/lamp", true)->qos, scheme == "event" ? 1 : 0);
  ASSERT_TRUE(device_stream_on("gw01/zb/+/set", true));
  ASSERT_TRUE(device_stream_on("gw01/hall/light", true));
  ASSERT_TRUE(device_stream_on("gw01/hall/light", false));

  auto& local = peer();
  for (const auto* t : {"cmd/lamp", "zb/+/set", "hall/light"}) local.subscribe(t);

  // Publish scope: local messages land in the cloud's topic table, converted.
  local.publish("door/state", R"({"open": true})", 1);
  ASSERT_TRUE(pump_until(loop_, [&] { return topics_.latest("gw01/door") != nullptr; }));
  EXPECT_EQ(json(topics_.latest("gw01/door")->value), R"({"open":true})");
  local.publish("door/state", "not json", 1);  // format json: dropped
  local.publish("door/state", R"({"open": false})", 1);
  ASSERT_TRUE(pump_until(loop_, [&] { return topics_.latest("gw01/door")->messages >= 2; }));
  EXPECT_EQ(json(topics_.latest("gw01/door")->value), R"({"open":false})");
  EXPECT_EQ(topics_.latest("gw01/door")->messages, 2u);

  // Wildcard publish: one stream per concrete topic, as topics appear.
  local.publish("alerts/smoke", "1", 1);
  local.publish("alerts/water/basement", "wet", 1);
  local.publish("alerts/smoke", "2", 1);
  ASSERT_TRUE(pump_until(loop_, [&] {
    const auto* e = topics_.latest("gw01/alerts/smoke");
    return e && e->messages == 2 && topics_.latest("gw01/alerts/water/basement");
  }));
  EXPECT_EQ(json(topics_.latest("gw01/alerts/smoke")->value), "2");
  EXPECT_EQ(json(topics_.latest("gw01/alerts/water/basement")->value), R"("wet")");
  EXPECT_EQ(device_streams().size(), fixed_streams + 2);
  ASSERT_TRUE(device_stream_on("gw01/alerts/smoke", false));
  EXPECT_EQ(device_stream_on("gw01/alerts/smoke", false)->qos, scheme == "event" ? 1 : 0);
  EXPECT_TRUE(device_stream_on("gw01/alerts/water/basement", false));
  EXPECT_EQ(counter(gateway_status(), "topic_streams"), 2u);

  // Subscribe scope, through the topic table ({"topic", "payload"} objects).
  ASSERT_EQ(topics_.publish("gw01/cmd/lamp", value("ON")), 1u);
  ASSERT_TRUE(wait_message(local, "cmd/lamp", 1));
  EXPECT_EQ(local.on("cmd/lamp")[0].payload, "ON");
  EXPECT_EQ(local.on("cmd/lamp")[0].qos, 1);
  ASSERT_EQ(topics_.publish("gw01/zb/kitchen/set", parse(R"({"state": "ON", "brightness": 128})")),
            1u);
  ASSERT_TRUE(wait_message(local, "zb/kitchen/set", 1));
  EXPECT_EQ(parse(local.on("zb/kitchen/set")[0].payload),
            parse(R"({"state":"ON","brightness":128})"));

  // Straight on the stream: {"payload"} is unwrapped, anything else goes whole.
  const auto cmd = device_stream_on("gw01/cmd/lamp", true)->sid;
  ASSERT_TRUE(registry_.deliver(alice, cmd, parse(R"({"payload": 42})")));
  ASSERT_TRUE(wait_message(local, "cmd/lamp", 2));
  EXPECT_EQ(local.on("cmd/lamp")[1].payload, "42");
  ASSERT_TRUE(registry_.deliver(alice, cmd, value("plain")));
  ASSERT_TRUE(wait_message(local, "cmd/lamp", 3));
  EXPECT_EQ(local.on("cmd/lamp")[2].payload, "plain");
  ASSERT_TRUE(registry_.deliver(alice, cmd, parse(R"({"a": 1, "b": [true]})")));
  ASSERT_TRUE(wait_message(local, "cmd/lamp", 4));
  EXPECT_EQ(local.on("cmd/lamp")[3].payload, R"({"a":1,"b":[true]})");
  ASSERT_TRUE(registry_.deliver(
      alice, cmd, value(pson::object{{"payload", value(pson::as_bytes, pson::bytes{1, 0, 2})}})));
  ASSERT_TRUE(wait_message(local, "cmd/lamp", 5));
  EXPECT_EQ(local.on("cmd/lamp")[4].payload, std::string("\x01\x00\x02", 3));

  // On a wildcard subscribe stream a value needs its concrete topic, inside the filter.
  const auto zb = device_stream_on("gw01/zb/+/set", true)->sid;
  const auto dropped = counter(gateway_status(), "dropped");
  ASSERT_TRUE(registry_.deliver(alice, zb, value("no topic")));
  ASSERT_TRUE(registry_.deliver(alice, zb, parse(R"({"topic": "gw01/other/set", "payload": 1})")));
  ASSERT_TRUE(
      registry_.deliver(alice, zb, parse(R"({"topic": "gw01/zb/hall/set", "payload": "x"})")));
  ASSERT_TRUE(wait_message(local, "zb/hall/set", 1));
  EXPECT_EQ(local.on("zb/hall/set")[0].payload, "x");
  EXPECT_GE(counter(gateway_status(), "dropped"), dropped + 2);
  for (const auto& m : local.messages()) {
    if (m.topic.starts_with("zb/")) {
      EXPECT_TRUE(m.topic == "zb/kitchen/set" || m.topic == "zb/hall/set")
          << m.topic << " " << m.payload;
    }
  }
  EXPECT_EQ(local.on("cmd/lamp").size(), 5u);

  // Both: cloud -> local, and what the gateway published does not come back up.
  ASSERT_EQ(topics_.publish("gw01/hall/light", value("on")), 1u);
  ASSERT_TRUE(wait_message(local, "hall/light", 1));
  EXPECT_EQ(local.on("hall/light")[0].payload, "on");
  local.publish("hall/light", "off", 1);
  ASSERT_TRUE(pump_until(
      loop_, [&] { return json(topics_.latest("gw01/hall/light")->value) == R"("off")"; }));
  EXPECT_EQ(topics_.latest("gw01/hall/light")->messages, 2u) << "the cloud's own value came back";
}

INSTANTIATE_TEST_SUITE_P(schemes, mqtt_streams, ::testing::Values("spec", "event"),
                         [](const auto& info) { return std::string(info.param); });

TEST_F(gateway_e2e, values_written_by_the_cloud_never_come_back_up) {
  start_gateway(config(R"(
resources:
  relay: { read: relay/state, write: relay/state }
  cmd:   { write: relay/cmd }
  seen:  { read: relay/cmd }
streams:
  - local: relay/cmd
    cloud: gw01/relay/cmd
    scope: publish
  - local: relay/#
    cloud: gw01/all/#
    scope: publish
)"),
                1);
  auto& local = peer();
  local.subscribe("relay/#");
  auto relay = start_stream("relay", std::nullopt);
  auto seen = start_stream("seen", std::nullopt);
  ASSERT_TRUE(!relay.rec->started.empty() && relay.rec->started[0].ok());

  EXPECT_TRUE(run("relay", value("on")).ok());
  EXPECT_TRUE(run("cmd", value("go")).ok());
  ASSERT_TRUE(wait_message(local, "relay/state", 1));
  ASSERT_TRUE(wait_message(local, "relay/cmd", 1));

  // A local device answers on the same topics; only that goes up.
  local.publish("relay/state", "device", 1);
  local.publish("relay/cmd", "device", 1);
  ASSERT_TRUE(pump_until(loop_, [&] {
    return topics_.latest("gw01/relay/cmd") && topics_.latest("gw01/all/cmd") &&
           topics_.latest("gw01/all/state") && !relay.rec->samples.empty() &&
           !seen.rec->samples.empty();
  }));
  EXPECT_EQ(topics_.latest("gw01/relay/cmd")->messages, 1u);
  EXPECT_EQ(json(topics_.latest("gw01/relay/cmd")->value), R"("device")");
  EXPECT_EQ(topics_.latest("gw01/all/cmd")->messages, 1u);
  EXPECT_EQ(topics_.latest("gw01/all/state")->messages, 1u);
  ASSERT_EQ(relay.rec->samples.size(), 1u);
  EXPECT_EQ(json(relay.rec->samples[0]), R"("device")");
  ASSERT_EQ(seen.rec->samples.size(), 1u);
  EXPECT_EQ(json(seen.rec->samples[0]), R"("device")");
}

// ---- the local broker goes away and comes back ------------------------------------

TEST_F(gateway_e2e, broker_restart_while_streaming_recovers) {
  start_gateway(config(R"(
resources:
  temp: { read: sensors/temp, format: number }
  lamp: { write: lamp/set, qos: 1 }
streams:
  - local: alerts/fire
    cloud: gw01/alerts/fire
    scope: publish
  - local: cmd/lamp
    cloud: gw01/cmd/lamp
    scope: subscribe
)"),
                2);
  auto s = start_stream("temp", std::nullopt);
  ASSERT_TRUE(!s.rec->started.empty() && s.rec->started[0].ok());
  {
    auto& sensor = peer();
    sensor.publish("sensors/temp", "1", 1);
    ASSERT_TRUE(pump_until(loop_, [&] { return s.rec->samples.size() == 1; }));
  }
  drop_peer();
  broker_->stop();
  ASSERT_TRUE(poll([&] { return state_of(gateway_status(), "mqtt") != "connected"; }));
  EXPECT_EQ(run("lamp", value("ON")).status, request_status::refused);
  broker_->start();  // same port, nothing retained (persistence off)
  ASSERT_TRUE(poll([&] { return state_of(gateway_status(), "mqtt") == "connected"; }, 30s))
      << "the gateway did not reconnect to the broker";
  // The subscriptions come back: the status topic is online again (published
  // after re-subscribing), and data flows on the stream that stayed open.
  EXPECT_TRUE(poll([&] { return retained(status_topic) == "online"; }, 5s));
  auto& local = peer();
  local.subscribe("cmd/lamp");
  local.subscribe("lamp/set");
  local.publish("sensors/temp", "2", 1);
  ASSERT_TRUE(pump_until(loop_, [&] { return s.rec->samples.size() == 2; }));
  EXPECT_EQ(json(s.rec->samples[1]), "2");
  local.publish("alerts/fire", "kitchen", 1);
  ASSERT_TRUE(pump_until(loop_, [&] { return topics_.latest("gw01/alerts/fire") != nullptr; }));
  EXPECT_EQ(json(topics_.latest("gw01/alerts/fire")->value), R"("kitchen")");
  ASSERT_EQ(topics_.publish("gw01/cmd/lamp", value("ON")), 1u);
  ASSERT_TRUE(wait_message(local, "cmd/lamp", 1));
  EXPECT_TRUE(run("lamp", value("ON")).ok());
  ASSERT_TRUE(wait_message(local, "lamp/set", 1));
  // The cloud session was never dropped.
  EXPECT_EQ(registry_.find(alice)->connections, 1u);
  EXPECT_TRUE(s.handle.active());
}

// ---- status topic ---------------------------------------------------------------------

TEST_F(gateway_e2e, status_topic_is_online_then_offline_on_stop_and_as_will) {
  const auto text = config("resources:\n  temp: { read: sensors/temp }\n");
  start_gateway(text);
  EXPECT_EQ(retained(status_topic), "online");
  EXPECT_EQ(stop_gateway(SIGTERM), 0);
  EXPECT_EQ(retained(status_topic), "offline");
  ASSERT_TRUE(pump_until(loop_, [&] { return !registry_.connected(alice); }));

  start_gateway(text);  // SIGINT stops as cleanly
  EXPECT_EQ(retained(status_topic), "online");
  EXPECT_EQ(stop_gateway(SIGINT), 0);
  EXPECT_EQ(retained(status_topic), "offline");

  start_gateway(text);  // waits for "online" on the status topic
  auto& watcher = peer();
  ASSERT_EQ(watcher.on(status_topic).back().payload, "online");
  EXPECT_EQ(stop_gateway(SIGKILL), 128 + SIGKILL);
  // The broker notices the dead connection and publishes the will.
  ASSERT_TRUE(
      pump_until(loop_, [&] { return watcher.on(status_topic).back().payload == "offline"; }));
  EXPECT_EQ(retained(status_topic), "offline");
}

// ---- $gateway --------------------------------------------------------------------------

TEST_F(gateway_e2e, gateway_resource_reports_version_uptime_states_and_counters) {
  start_gateway(config(R"(
resources:
  temp: { read: sensors/temp }
  fan:  { write: fan/set }
)"));
  const auto version = run_cli({"--version"}, dir_.path());
  ASSERT_EQ(version.exit_code, 0);
  auto& sensor = peer();
  for (int i = 0; i < 3; ++i) sensor.publish("sensors/temp", std::to_string(i), 1);
  EXPECT_TRUE(eventually_reads("temp", "2"));
  EXPECT_TRUE(run("fan", value(1)).ok());

  auto st = gateway_status();
  ASSERT_TRUE(st.is_object()) << json(st);
  ASSERT_TRUE(st.find("version") && st.find("version")->is_string()) << json(st);
  EXPECT_EQ("iotmp-gateway " + st.find("version")->as_string() + "\n", version.out);
  ASSERT_TRUE(st.find("uptime_s") && st.find("uptime_s")->is_number()) << json(st);
  EXPECT_EQ(state_of(st, "cloud"), "connected");
  EXPECT_EQ(state_of(st, "mqtt"), "connected");
  const auto* counters = st.find("counters");
  ASSERT_TRUE(counters && counters->is_object()) << json(st);
  for (const auto* key :
       {"mqtt_in", "mqtt_out", "cloud_in", "cloud_out", "dropped", "spooled", "reconnects"}) {
    ASSERT_TRUE(counters->find(key) && counters->find(key)->is_number())
        << key << " in " << json(st);
  }
  EXPECT_GE(counter(st, "mqtt_in"), 3u);
  EXPECT_GE(counter(st, "mqtt_out"), 1u);
  EXPECT_GE(counter(st, "cloud_in"), 3u);  // RUNs at least
  EXPECT_GE(counter(st, "cloud_out"), 3u);
  EXPECT_EQ(counter(st, "reconnects"), 0u);

  // Uptime moves.
  const auto uptime = [&] {
    std::uint64_t up = 0;
    const auto now = gateway_status();
    if (const auto* u = now.find("uptime_s")) u->get_unsigned(up);
    return up;
  };
  EXPECT_TRUE(poll([&] { return uptime() >= 1; }, 3s));
}

TEST_F(gateway_e2e, cloud_reconnect_reopens_streams_and_sends_what_waited) {
  start_gateway(config(R"(
resources:
  temp: { read: sensors/temp }
streams:
  - local: alerts/#
    cloud: gw01/alerts/#
    scope: publish
  - local: cmd/lamp
    cloud: gw01/cmd/lamp
    scope: subscribe
)"),
                1);
  auto& local = peer();
  local.subscribe("cmd/lamp");
  local.publish("alerts/smoke", "1", 1);
  ASSERT_TRUE(pump_until(loop_, [&] { return topics_.latest("gw01/alerts/smoke") != nullptr; }));
  auto s = start_stream("temp", std::nullopt);
  ASSERT_TRUE(!s.rec->started.empty() && s.rec->started[0].ok());

  // The server drops the connection; once the gateway noticed, a local message
  // on a stream waits for the stream to be open again.
  ASSERT_TRUE(registry_.kick(alice));
  ASSERT_TRUE(
      pump_until(loop_, [&] { return gw_->err().find("reconnecting in") != std::string::npos; }));
  EXPECT_TRUE(pump_until(loop_, [&] { return s.rec->ended.has_value(); }));  // all streams end
  local.publish("alerts/smoke", "while away", 1);
  ASSERT_TRUE(pump_until(
      loop_, [&] { return registry_.connected(alice) && registry_.find(alice)->connections == 2; },
      10s));
  // Reopened at once: the fixed subscribe stream and the topic seen before.
  ASSERT_TRUE(pump_until(loop_, [&] {
    return device_stream_on("gw01/cmd/lamp", true) && device_stream_on("gw01/alerts/smoke", false);
  }));
  ASSERT_TRUE(
      pump_until(loop_, [&] { return topics_.latest("gw01/alerts/smoke")->messages == 2; }));
  EXPECT_EQ(json(topics_.latest("gw01/alerts/smoke")->value), R"("while away")");
  ASSERT_EQ(topics_.publish("gw01/cmd/lamp", value("ON")), 1u);
  ASSERT_TRUE(wait_message(local, "cmd/lamp", 1));
  const auto st = gateway_status();
  EXPECT_EQ(counter(st, "reconnects"), 1u) << json(st);
  EXPECT_GE(counter(st, "spooled"), 1u) << json(st);
  EXPECT_EQ(state_of(st, "cloud"), "connected");
}

TEST_F(gateway_e2e, wildcard_publish_streams_are_capped) {
  start_gateway(config(R"(
max_topic_streams: 2
streams:
  - local: tele/+/SENSOR
    cloud: gw01/tasmota/+/sensor
    scope: publish
    format: json
)"));
  auto& tasmota = peer();
  for (const auto* device : {"a", "b", "c"}) {
    tasmota.publish(std::string("tele/") + device + "/SENSOR", R"({"Temperature": 20})", 1);
  }
  tasmota.publish("tele/a/SENSOR", R"({"Temperature": 21})", 1);
  ASSERT_TRUE(pump_until(loop_, [&] {
    const auto* a = topics_.latest("gw01/tasmota/a/sensor");
    return a && a->messages == 2 && topics_.latest("gw01/tasmota/b/sensor");
  }));
  EXPECT_EQ(topics_.latest("gw01/tasmota/c/sensor"), nullptr);
  EXPECT_EQ(device_streams().size(), 2u);
  const auto st = gateway_status();
  EXPECT_EQ(counter(st, "topic_streams"), 2u) << json(st);
  EXPECT_GE(counter(st, "dropped"), 1u) << json(st);
}

// ---- command line ---------------------------------------------------------------------

class gateway_cli : public ::testing::Test {
 protected:
  void SetUp() override { write_text(dir_ / "credential", "cli-credential\n", fs::perms(0600)); }
  fs::path file(const std::string& name, const std::string& text) {
    const auto p = dir_ / name;
    write_text(p, text, fs::perms(0644));
    return p;
  }
  std::string base() const {
    // Nine lines, cloud last: a test may append more cloud keys.
    return "mqtt:\n  uri: tcp://127.0.0.1:1\n"
           "cloud:\n  host: 127.0.0.1\n  port: 1\n  tls: false\n  username: alice\n  device: gw01\n"
           "  credential_file: " +
           (dir_ / "credential").string() + "\n";
  }
  temp_dir dir_;
};

TEST_F(gateway_cli, check_accepts_a_valid_config_without_touching_the_network) {
  const auto path = file("ok.yaml", base() + R"(resources:
  temp: { read: sensors/temp }
  lamp: { read: lamp/state, write: lamp/set }
  zigbee/:name: { read: zigbee2mqtt/+, write: zigbee2mqtt/+/set }
streams:
  - local: alerts/#
    scope: publish
  - local: hall/light
    scope: both
)");
  // Port 1 on both sides: nothing listens, and --check must not care.
  const auto r = run_cli({"--check", "-c", path.string()}, dir_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok: 3 resources, 2 streams\n");
  EXPECT_EQ(r.err, "");
  const auto none = run_cli({"-c", file("none.yaml", base()).string(), "--check"}, dir_.path());
  EXPECT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, "ok: 0 resources, 0 streams\n");
}

TEST_F(gateway_cli, check_reports_every_error_with_file_line_and_column) {
  const auto path = file("broken.yaml", base() + R"(  keepalive: 0
resources:
  temp:
    read: sensors/temp
    format: xml
  rooms/:room/temp:
    read: home/temperature
streams:
  - local: alerts/#
    scope: sideways
)");
  const auto r = run_cli({"--check", "-c", path.string()}, dir_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  const std::regex located(
      "^" + std::regex_replace(path.string(), std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
      R"(:[0-9]+:[0-9]+: .+$)");
  std::vector<std::string> lines;
  std::istringstream in(r.err);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u) << r.err;
  for (const auto& l : lines) EXPECT_TRUE(std::regex_match(l, located)) << l;
  const auto p = path.string();
  // keepalive (line 10 of the file: the base has 9 lines), format, wildcard mismatch, scope.
  EXPECT_TRUE(lines[0].starts_with(p + ":10:14: ")) << lines[0];
  EXPECT_TRUE(lines[1].starts_with(p + ":14:13: ")) << lines[1];
  EXPECT_TRUE(lines[2].starts_with(p + ":16:11: ")) << lines[2];
  EXPECT_TRUE(lines[3].starts_with(p + ":19:12: ")) << lines[3];

  // A credential others can read: refused, named, no place in the YAML.
  fs::permissions(dir_ / "credential", fs::perms(0644));
  const auto open = run_cli({"--check", "-c", file("ok.yaml", base()).string()}, dir_.path());
  EXPECT_EQ(open.exit_code, 1);
  EXPECT_NE(open.err.find((dir_ / "credential").string() + ": "), std::string::npos) << open.err;
  // A missing file: FILE: message.
  const auto missing = run_cli({"--check", "-c", (dir_ / "missing.yaml").string()}, dir_.path());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(missing.err.starts_with((dir_ / "missing.yaml").string() + ": ")) << missing.err;
}

TEST_F(gateway_cli, version_help_and_usage_errors) {
  const auto v = run_cli({"--version"}, dir_.path());
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_TRUE(std::regex_match(v.out, std::regex("iotmp-gateway [0-9]+\\.[0-9]+\\.[0-9]+.*\n")))
      << v.out;
  const auto h = run_cli({"--help"}, dir_.path());
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_TRUE(h.out.starts_with("usage: iotmp-gateway [-c FILE] [--check] [--version]")) << h.out;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--bogus"}, {"-c"}, {"extra"}, {"--check", "-x"}}) {
    const auto r = run_cli(args, dir_.path());
    EXPECT_EQ(r.exit_code, 2) << args[0];
    EXPECT_NE(r.err.find("usage: iotmp-gateway"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(gateway_cli, a_config_error_at_startup_exits_1) {
  const auto path = file("broken.yaml", base() + "resources:\n  temp:\n    format: json\n");
  const auto r = run_cli({"-c", path.string()}, dir_.path());
  EXPECT_EQ(r.exit_code, 1);
  // Logged with a priority prefix (journald), located.
  EXPECT_TRUE(std::regex_search(r.err, std::regex("<3>" + path.string() + R"(:[0-9]+:[0-9]+: )")))
      << r.err;
  const auto missing = run_cli({"-c", (dir_ / "missing.yaml").string()}, dir_.path());
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
}

// ---- idle memory (measured, not asserted) ------------------------------------------------

class idle_memory : public gateway_e2e {
 protected:
  void measure(const char* what) {
    // Settled: connected on both sides; give it a few keep-alive-free moments
    // of idling by waiting for the RUN round trip to be served twice.
    ASSERT_EQ(state_of(gateway_status(), "mqtt"), "connected");
    ASSERT_EQ(state_of(gateway_status(), "cloud"), "connected");
    const auto m = memory_of(gw_->pid());
    std::printf("idle VmHWM %s: %ld KiB (VmRSS %ld KiB)\n", what, m.hwm_kib, m.rss_kib);
    RecordProperty(std::string("VmHWM_KiB_") + what, std::to_string(m.hwm_kib));
    EXPECT_GT(m.hwm_kib, 0);
  }
};

TEST_F(idle_memory, demo_config) {
  // etc/demo.yaml as shipped, pointed at this test's devserver and broker.
  auto text = read_text(fs::path(IOTMP_SOURCE_DIR) / "etc" / "demo.yaml");
  const auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  };
  replace("port: 25204", "port: " + std::to_string(server_->port()));
  replace("tcp://localhost:1883", broker_->uri());
  replace("credential_file: demo-credential", "credential_file: " + (dir_ / "credential").string());
  replace("/tmp/iotmp-gateway-demo/spool", (dir_ / "spool").string());
  replace("username: demo", "username: alice");
  replace("device: gateway01", "device: gw01");
  const auto path = write_config(text);
  // One fixed subscribe stream (the wildcard publish streams open per topic).
  start_gateway_file(path, 1);
  auto& z2m = peer();
  z2m.publish("zigbee2mqtt/kitchen", R"({"temperature": 21.5, "humidity": 48})", 1);
  EXPECT_TRUE(eventually_reads("zigbee/kitchen", R"({"humidity":48,"temperature":21.5})"));
  measure("demo");
}

TEST_F(idle_memory, thousand_resources) {
  std::string body = "resources:\n";
  for (int i = 0; i < 1000; ++i) {
    char line[160];
    std::snprintf(
        line, sizeof line,
        "  sensor%04d: { read: site/sensor%04d/value, write: site/sensor%04d/set, format: json }\n",
        i, i, i);
    body += line;
  }
  start_gateway(config(body));
  auto& sensor = peer();
  sensor.publish("site/sensor0999/value", "1", 1);
  EXPECT_TRUE(eventually_reads("sensor0999", "1"));
  const auto api = describe();
  ASSERT_TRUE(api.ok());
  EXPECT_EQ(api.payload->as_object().size(), 1001u);
  measure("1000-resources");
}

}  // namespace
