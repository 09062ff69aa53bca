// The router's logic with the session's wire output decoded and a recording
// local broker. End-to-end behaviour with a real mosquitto is in tests/integration.
#include "iotmp_gateway/bridge/router.hpp"

#include <gtest/gtest.h>

#include "iotmp_gateway/pson/codec.hpp"
#include "support/print.hpp"
#include "support/session_harness.hpp"

using namespace iotgw;
using namespace iotgw::bridge;
using iotmp::message;
using iotmp::message_type;
using pson::object;
using pson::value;

namespace {

class recording_broker : public local_broker {
 public:
  struct published {
    std::string topic, payload;
    unsigned qos;
    bool retain;
    publish_done done;
  };
  link_state state() const override { return state_; }
  void publish(std::string topic, std::string payload, unsigned qos, bool retain,
               publish_done done) override {
    log.push_back({std::move(topic), std::move(payload), qos, retain, std::move(done)});
  }
  link_state state_ = link_state::connected;
  std::vector<published> log;
};

struct session_events : iotmp::session_observer {
  router* target = nullptr;
  void on_device_stream_open(iotmp::device_stream_id id, const value* v) override {
    target->on_device_stream_open(id, v);
  }
  void on_device_stream_refused(iotmp::device_stream_id id) override {
    target->on_device_stream_refused(id);
  }
  void on_device_stream_data(iotmp::device_stream_id id, const value& v) override {
    target->on_device_stream_data(id, v);
  }
};

class router_test : public ::testing::Test {
 protected:
  router_test() { events.target = &r; }

  config::gateway_config base_config() {
    config::gateway_config c;
    c.cloud.device = "gw1";
    c.resources = {
        {"temperature", "sensors/temp", "", config::payload_format::number, 0, false},
        {"lamp", "lamp/state", "lamp/set", config::payload_format::auto_detect, 1, false},
        {"zigbee/:name", "zigbee2mqtt/+", "zigbee2mqtt/+/set", config::payload_format::json, 0, false},
        {"relay", "", "shellies/s1/relay/0/command", config::payload_format::string, 0, false},
    };
    return c;
  }

  // Answers every START_STREAM in frames with OK; returns them.
  std::vector<message> accept_streams(const std::vector<message>& frames) {
    std::vector<message> starts;
    for (const auto& m : frames) {
      if (m.type != message_type::start_stream) continue;
      starts.push_back(m);
      server.send({message_type::ok, m.stream_id, {}, {}, {}});
    }
    return starts;
  }

  iotmp::resource_registry registry;
  session_events events;
  iotmp::device_session session{iotmp::session_config{"u", "gw1", "c"}, registry, events, 1};
  recording_broker broker;
  iotmp::time_point now{};
  router r{session, registry, broker, "1.2.3", [this] { return now; }};
  test_support::fake_server server{session};
};

TEST_F(router_test, read_resources_answer_the_latest_converted_value) {
  r.configure(base_config());
  server.authenticate();
  server.send({message_type::run, 1, {}, {}, value("temperature")});
  EXPECT_EQ(server.sent().at(0), (message{message_type::ok, 1, {}, {}, {}}));
  r.on_local_message("sensors/temp", "21.5", false);
  r.on_local_message("sensors/temp", "not a number", false);
  EXPECT_EQ(r.stats().invalid, 1u);
  server.send({message_type::run, 2, {}, {}, value("temperature")});
  EXPECT_EQ(server.sent().at(0), (message{message_type::ok, 2, {}, value(21.5), {}}))
      << "an invalid payload does not replace the value";
  EXPECT_EQ(r.stats().mqtt_in, 2u);
}

TEST_F(router_test, placeholders_map_topics_to_resource_paths) {
  r.configure(base_config());
  server.authenticate();
  r.on_local_message("zigbee2mqtt/kitchen", R"({"temperature":21.5,"humidity":48})", true);
  r.on_local_message("zigbee2mqtt/hall", R"({"temperature":19})", false);
  server.send({message_type::run, 1, {}, {}, value("zigbee/kitchen")});
  EXPECT_EQ(server.sent().at(0),
            (message{message_type::ok, 1, {}, value(object{{"humidity", 48}, {"temperature", 21.5}}), {}}));
  server.send({message_type::run, 2, {}, value(object{{"state", "ON"}}), value("zigbee/hall")});
  ASSERT_EQ(broker.log.size(), 1u);
  EXPECT_EQ(broker.log[0].topic, "zigbee2mqtt/hall/set");
  EXPECT_EQ(broker.log[0].payload, R"({"state":"ON"})");
  EXPECT_TRUE(server.sent().empty()) << "the answer waits for the broker";
  broker.log[0].done(true, "");
  EXPECT_EQ(server.sent().at(0), (message{message_type::ok, 2, {}, value(object{{"temperature", 19}}), {}}));
  EXPECT_EQ(r.stats().mqtt_out, 1u);
}

TEST_F(router_test, writes_fail_cleanly) {
  r.configure(base_config());
  server.authenticate();
  server.send({message_type::run, 1, {}, value("ON"), value("relay")});
  broker.log.at(0).done(false, "not connected to the broker");
  EXPECT_EQ(server.sent().at(0),
            (message{message_type::error, 1, {}, value(object{{"error", "not connected to the broker"}}), {}}));
  broker.state_ = link_state::disconnected;
  server.send({message_type::run, 2, {}, value("ON"), value("relay")});
  EXPECT_EQ(server.sent().at(0).type, message_type::error);
  EXPECT_EQ(broker.log.size(), 1u) << "nothing is published while the broker is down";
}

TEST_F(router_test, event_streams_forward_every_message_and_nothing_when_unwatched) {
  r.configure(base_config());
  server.authenticate();
  r.on_local_message("sensors/temp", "20", false);
  EXPECT_TRUE(server.sent().empty()) << "no stream: no upstream bytes";
  server.send({message_type::start_stream, 0x101, {}, {}, value("temperature")});
  auto frames = server.sent();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[1], (message{message_type::stream_data, 0x101, {}, value(20), {}}));
  r.on_local_message("sensors/temp", "21", false);
  r.on_local_message("sensors/temp", "22", false);
  frames = server.sent();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[1].payload, value(22));
}

TEST_F(router_test, gateway_resource_reports_state_and_counters) {
  r.configure(base_config());
  server.authenticate();
  now += std::chrono::seconds(42);
  r.on_local_message("sensors/temp", "20", false);
  server.send({message_type::run, 9, {}, {}, value("$gateway")});
  const auto answer = server.sent().at(0);
  ASSERT_TRUE(answer.payload);
  const value& s = *answer.payload;
  EXPECT_EQ(*s.find("version"), value("1.2.3"));
  EXPECT_EQ(*s.find("uptime_s"), value(42));
  EXPECT_EQ(*s.find("cloud"), value("connected"));
  EXPECT_EQ(*s.find("mqtt"), value("connected"));
  const value* c = s.find("counters");
  ASSERT_TRUE(c);
  for (const char* key : {"mqtt_in", "mqtt_out", "cloud_in", "cloud_out", "dropped", "spooled", "reconnects"}) {
    EXPECT_TRUE(c->find(key)) << key;
  }
  EXPECT_EQ(*c->find("mqtt_in"), value(1));
}

TEST_F(router_test, publish_stream_holds_data_until_the_server_ok) {
  auto cfg = base_config();
  cfg.streams = {{"alerts/fire", "gw1/alerts/fire", iotmp::mqtt_scope::publish, 1, false,
                  config::payload_format::auto_detect}};
  cfg.cloud.mqtt_streams = iotmp::mqtt_stream_scheme::event;
  r.configure(cfg);
  r.on_local_message("alerts/fire", "kitchen", false);  // cloud down: held
  EXPECT_EQ(r.stats().spooled, 1u);
  const auto frames = server.authenticate();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].parameters, value(object{{"event", "device_topic_publish"}, {"qos", 1},
                                               {"scope", "publish"}, {"topic", "gw1/alerts/fire"}}));
  r.on_local_message("alerts/fire", "hall", false);
  EXPECT_TRUE(server.sent().empty()) << "no STREAM_DATA before the OK";
  accept_streams(frames);
  const auto data = server.sent();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[0], (message{message_type::stream_data, frames[0].stream_id, {}, value("kitchen"), {}}));
  EXPECT_EQ(data[1].payload, value("hall"));
  EXPECT_EQ(r.held_back_bytes(), 0u);
}

TEST_F(router_test, wildcard_publish_opens_one_stream_per_topic_up_to_the_cap) {
  auto cfg = base_config();
  cfg.streams = {{"alerts/#", "gw1/alerts/#", iotmp::mqtt_scope::publish, 0, false,
                  config::payload_format::string}};
  cfg.max_topic_streams = 2;
  r.configure(cfg);
  EXPECT_TRUE(server.authenticate().empty()) << "no stream for the filter itself";
  r.on_local_message("alerts/fire", "1", false);
  r.on_local_message("alerts/water", "2", false);
  r.on_local_message("alerts/fire", "3", false);
  r.on_local_message("alerts/smoke", "4", false);  // over the cap
  EXPECT_EQ(r.topic_stream_count(), 2u);
  EXPECT_EQ(r.stats().dropped, 1u);
  const auto starts = accept_streams(server.sent());
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[0].resource, value("gw1/alerts/fire"));
  EXPECT_EQ(starts[1].resource, value("gw1/alerts/water"));
  const auto data = server.sent();
  ASSERT_EQ(data.size(), 3u);
  EXPECT_EQ(data[0].stream_id, starts[0].stream_id);
  EXPECT_EQ(data[1].stream_id, starts[0].stream_id) << "per-stream order: 1 then 3";
  EXPECT_EQ(data[1].payload, value("3"));
  EXPECT_EQ(data[2].stream_id, starts[1].stream_id);

  // After a reconnect the topics seen before are reopened at once.
  session.on_closed();
  const auto again = server.authenticate();
  EXPECT_EQ(again.size(), 2u);
}

TEST_F(router_test, refused_topic_streams_do_not_count) {
  auto cfg = base_config();
  cfg.streams = {{"alerts/#", "", iotmp::mqtt_scope::publish, 0, false, config::payload_format::string}};
  cfg.max_topic_streams = 1;
  r.configure(cfg);
  server.authenticate();
  r.on_local_message("alerts/a", "1", false);
  const auto start = server.sent().at(0);
  server.send({message_type::error, start.stream_id, {}, {}, {}});
  EXPECT_EQ(r.topic_stream_count(), 0u);
  EXPECT_EQ(r.stats().dropped, 1u) << "what waited for the refused stream";
  r.on_local_message("alerts/b", "2", false);
  EXPECT_EQ(r.topic_stream_count(), 1u);
}

TEST_F(router_test, subscribe_stream_delivers_locally) {
  auto cfg = base_config();
  cfg.streams = {{"cmd/#", "gw1/cmd/#", iotmp::mqtt_scope::subscribe, 1, false, config::payload_format::auto_detect},
                 {"display/text", "", iotmp::mqtt_scope::subscribe, 0, false, config::payload_format::auto_detect}};
  r.configure(cfg);
  const auto starts = accept_streams(server.authenticate());
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[0].parameters, value(object{{"scope", pson::array{"subscribe"}}, {"type", "mqtt"}}));
  server.send({message_type::stream_data, starts[0].stream_id, {},
               value(object{{"payload", "ON"}, {"topic", "gw1/cmd/lamp/power"}}), {}});
  ASSERT_EQ(broker.log.size(), 1u);
  EXPECT_EQ(broker.log[0].topic, "cmd/lamp/power");
  EXPECT_EQ(broker.log[0].payload, "ON");
  EXPECT_EQ(broker.log[0].qos, 1u);
  server.send({message_type::stream_data, starts[0].stream_id, {},
               value(object{{"payload", "x"}, {"topic", "elsewhere/lamp"}}), {}});
  server.send({message_type::stream_data, starts[0].stream_id, {}, value("no topic"), {}});
  EXPECT_EQ(broker.log.size(), 1u);
  EXPECT_EQ(r.stats().dropped, 2u) << "outside the filter, and no topic on a wildcard stream";
  server.send({message_type::stream_data, starts[1].stream_id, {}, value(object{{"payload", "hello"}}), {}});
  server.send({message_type::stream_data, starts[1].stream_id, {}, value(object{{"line", 2}}), {}});
  ASSERT_EQ(broker.log.size(), 3u);
  EXPECT_EQ(broker.log[1].topic, "display/text");
  EXPECT_EQ(broker.log[1].payload, "hello");
  EXPECT_EQ(broker.log[2].payload, R"({"line":2})");
}

TEST_F(router_test, both_scope_in_each_scheme) {
  auto cfg = base_config();
  cfg.streams = {{"io/dev1", "", iotmp::mqtt_scope::both, 0, false, config::payload_format::auto_detect}};
  r.configure(cfg);
  auto starts = accept_streams(server.authenticate());
  ASSERT_EQ(starts.size(), 1u) << "spec scheme: one two-way stream";
  r.on_local_message("io/dev1", "1", false);
  EXPECT_EQ(server.sent().at(0).stream_id, starts[0].stream_id);
  server.send({message_type::stream_data, starts[0].stream_id, {}, value("down"), {}});
  ASSERT_EQ(broker.log.size(), 1u);
  EXPECT_EQ(broker.log[0].topic, "io/dev1");

  cfg.cloud.mqtt_streams = iotmp::mqtt_stream_scheme::event;
  session.on_closed();
  r.configure(cfg);
  starts = accept_streams(server.authenticate());
  ASSERT_EQ(starts.size(), 2u) << "event scheme: a publish and a subscribe stream";
  r.on_local_message("io/dev1", "2", false);
  EXPECT_EQ(server.sent().at(0).stream_id, starts[0].stream_id);
}

TEST_F(router_test, subscriptions_cover_reads_and_publish_streams) {
  auto cfg = base_config();
  cfg.streams = {{"alerts/#", "", iotmp::mqtt_scope::publish, 2, false, config::payload_format::auto_detect},
                 {"cmd/#", "", iotmp::mqtt_scope::subscribe, 1, false, config::payload_format::auto_detect}};
  r.configure(cfg);
  EXPECT_EQ(r.subscriptions(), (std::vector<subscription>{{"alerts/#", 2},
                                                           {"lamp/state", 1},
                                                           {"sensors/temp", 1},
                                                           {"zigbee2mqtt/+", 1}}));
}

TEST_F(router_test, overlapping_filters_are_subscribed_once) {
  // mosquitto 2 delivers a message once per matching subscription: each copy
  // would be routed (and streamed) again.
  auto cfg = base_config();
  cfg.resources.push_back({"fire", "alerts/fire", "", config::payload_format::auto_detect, 0, false});
  cfg.resources.push_back({"any", "zigbee2mqtt/kitchen", "", config::payload_format::auto_detect, 0, false});
  cfg.streams = {{"alerts/#", "", iotmp::mqtt_scope::publish, 0, false, config::payload_format::auto_detect},
                 {"+/temp", "", iotmp::mqtt_scope::publish, 2, false, config::payload_format::auto_detect}};
  r.configure(cfg);
  EXPECT_EQ(r.subscriptions(), (std::vector<subscription>{{"+/temp", 2},
                                                           {"alerts/#", 1},
                                                           {"lamp/state", 1},
                                                           {"zigbee2mqtt/+", 1}}));
}

TEST_F(router_test, held_data_is_bounded_oldest_first) {
  auto cfg = base_config();
  cfg.streams = {{"bulk", "", iotmp::mqtt_scope::publish, 0, false, config::payload_format::string}};
  r.configure(cfg);
  const std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 100; ++i) r.on_local_message("bulk", chunk, false);  // cloud down
  EXPECT_LE(r.held_back_bytes(), router::max_held_bytes);
  EXPECT_GT(r.stats().dropped, 0u);
  EXPECT_EQ(r.stats().spooled, 100u);
}

TEST_F(router_test, retained_messages_fill_the_cache_but_are_not_stream_data) {
  auto cfg = base_config();
  cfg.streams = {{"sensors/temp", "", iotmp::mqtt_scope::publish, 0, false, config::payload_format::auto_detect}};
  r.configure(cfg);
  accept_streams(server.authenticate());
  r.on_local_message("sensors/temp", "18", true);
  EXPECT_TRUE(server.sent().empty());
  server.send({message_type::run, 1, {}, {}, value("temperature")});
  EXPECT_EQ(server.sent().at(0).payload, value(18));
}

TEST_F(router_test, reconfigure_applies_only_the_difference) {
  auto cfg = base_config();
  cfg.streams = {{"alerts/fire", "", iotmp::mqtt_scope::publish, 0, false, config::payload_format::string},
                 {"cmd/x", "", iotmp::mqtt_scope::subscribe, 0, false, config::payload_format::string}};
  r.configure(cfg);
  const auto starts = accept_streams(server.authenticate());
  ASSERT_EQ(starts.size(), 2u);
  r.on_local_message("sensors/temp", "21", false);

  auto next = cfg;
  next.resources.push_back({"humidity", "sensors/hum", "", config::payload_format::number, 0, false});
  next.resources.erase(next.resources.begin() + 3);  // "relay" goes
  next.streams[1].qos = 1;                           // the subscribe stream changes
  r.reconfigure(next);
  const auto frames = server.sent();
  ASSERT_EQ(frames.size(), 2u) << "only the changed stream is reopened";
  // The new one opens first, so that what waits for the old one can move over.
  EXPECT_EQ(frames[0].type, message_type::start_stream);
  EXPECT_EQ(frames[0].parameters, starts[1].parameters);
  EXPECT_EQ(frames[1], (message{message_type::stop_stream, starts[1].stream_id, {}, {}, {}}));

  server.send({message_type::run, 1, {}, {}, value("temperature")});
  EXPECT_EQ(server.sent().at(0).payload, value(21)) << "the cached value survives";
  r.on_local_message("sensors/hum", "48", false);
  server.send({message_type::run, 2, {}, {}, value("humidity")});
  EXPECT_EQ(server.sent().at(0).payload, value(48)) << "the new resource works at once";
  server.send({message_type::run, 3, {}, value("ON"), value("relay")});
  EXPECT_EQ(server.sent().at(0).type, message_type::error) << "the removed one is gone";
  r.on_local_message("alerts/fire", "still open", false);
  EXPECT_EQ(server.sent().at(0).stream_id, starts[0].stream_id) << "the unchanged stream stayed open";
}

TEST_F(router_test, reconfigure_moves_held_data_to_the_reopened_stream) {
  auto cfg = base_config();
  cfg.streams = {{"bulk", "", iotmp::mqtt_scope::publish, 0, false, config::payload_format::string}};
  r.configure(cfg);
  r.on_local_message("bulk", "1", false);  // cloud down: held
  r.on_local_message("bulk", "2", false);
  auto next = cfg;
  next.streams[0].cloud = "gw1/bulk";
  r.reconfigure(next);
  EXPECT_EQ(r.stats().dropped, 0u);
  const auto starts = accept_streams(server.authenticate());
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0].resource, value("gw1/bulk"));
  const auto data = server.sent();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[0].payload, value("1"));
  EXPECT_EQ(data[1].payload, value("2"));
}

}  // namespace

TEST_F(router_test, configured_as_compares_the_resource_and_stream_lists_in_order) {
  auto cfg = base_config();
  cfg.streams = {{"alerts/fire", "", iotmp::mqtt_scope::publish, 0, false, config::payload_format::string},
                 {"cmd/x", "gw1/cmd", iotmp::mqtt_scope::subscribe, 1, false, config::payload_format::json}};
  r.configure(cfg);
  EXPECT_TRUE(r.configured_as(cfg));
  EXPECT_EQ(r.resource_count(), 4u);
  EXPECT_EQ(r.stream_count(), 2u);
  auto other = cfg;
  other.streams[1].cloud = "";
  EXPECT_FALSE(r.configured_as(other)) << "a cloud topic no longer named";
  other = cfg;
  other.streams[0].retained = true;
  EXPECT_FALSE(r.configured_as(other));
  other = cfg;
  std::swap(other.streams[0], other.streams[1]);
  EXPECT_FALSE(r.configured_as(other));
  other = cfg;
  other.resources[0].qos = 1;
  EXPECT_FALSE(r.configured_as(other));
  other = cfg;
  other.streams.pop_back();
  EXPECT_FALSE(r.configured_as(other));
}

TEST_F(router_test, streams_to_one_cloud_topic_share_what_waits_when_one_is_refused) {
  auto cfg = base_config();
  cfg.streams = {{"a", "shared", iotmp::mqtt_scope::publish, 0, false, config::payload_format::string},
                 {"b", "shared", iotmp::mqtt_scope::publish, 0, false, config::payload_format::string}};
  r.configure(cfg);
  r.on_local_message("a", "1", false);  // cloud down: held under "shared"
  r.on_local_message("a", "2", false);
  const auto frames = server.authenticate();
  std::vector<message> starts;
  for (const auto& m : frames) {
    if (m.type == message_type::start_stream) starts.push_back(m);
  }
  ASSERT_EQ(starts.size(), 2u);
  server.send({message_type::error, starts[0].stream_id, {}, {}, {}});  // "a" refused
  EXPECT_EQ(r.stats().dropped, 0u) << "the stream of \"b\" can carry it";
  server.send({message_type::ok, starts[1].stream_id, {}, {}, {}});
  const auto data = server.sent();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[0], (message{message_type::stream_data, starts[1].stream_id, {}, value("1"), {}}));
  EXPECT_EQ(data[1].payload, value("2"));
  EXPECT_EQ(r.held_back_bytes(), 0u);
}

TEST_F(router_test, a_refused_stream_drops_what_waits_for_its_cloud_topic_alone) {
  auto cfg = base_config();
  cfg.streams = {{"a", "only-a", iotmp::mqtt_scope::publish, 0, false, config::payload_format::string},
                 {"b", "only-b", iotmp::mqtt_scope::publish, 0, false, config::payload_format::string}};
  r.configure(cfg);
  r.on_local_message("a", "1", false);
  r.on_local_message("b", "2", false);
  const auto frames = server.authenticate();
  ASSERT_EQ(frames.size(), 2u);
  server.send({message_type::error, frames[0].stream_id, {}, {}, {}});
  EXPECT_EQ(r.stats().dropped, 1u);
  server.send({message_type::ok, frames[1].stream_id, {}, {}, {}});
  const auto data = server.sent();
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0], (message{message_type::stream_data, frames[1].stream_id, {}, value("2"), {}}));
}
