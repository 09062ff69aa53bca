#include "iotmp_gateway/iotmp/device_session.hpp"
#include "iotmp_gateway/iotmp/backoff.hpp"

#include <gtest/gtest.h>

#include <set>

#include "iotmp_gateway/iotmp/mqtt_stream.hpp"
#include "iotmp_gateway/pson/codec.hpp"
#include "support/hex.hpp"
#include "support/print.hpp"
#include "support/vectors.hpp"

using namespace iotgw::iotmp;
using namespace std::chrono_literals;
using iotgw::byte_buffer;
using iotgw::pson::array;
using iotgw::pson::object;
using iotgw::pson::value;

namespace {

// A resource whose behaviour the test sets: a latest value, an I/O kind, and
// whether RUN answers at once or keeps the reply for later.
class test_resource : public resource {
 public:
  explicit test_resource(resource_io io) : io_(io) {}
  resource_io io() const override { return io_; }
  void run(const resource_call& call, reply r) override {
    ++runs;
    last_path = std::string(call.path);
    last_captures = call.placeholders;
    last_input = call.input ? std::optional<value>(*call.input) : std::nullopt;
    last_reply = r;
    if (!defer) r.ok(gives_output(io_) ? latest : std::nullopt);
  }
  std::optional<value> sample(const resource_call&) override { return latest; }
  value example_input() const override { return value(object{{"state", "ON"}}); }

  resource_io io_;
  std::optional<value> latest;
  bool defer = false;
  int runs = 0;
  std::string last_path;
  captures last_captures;
  std::optional<value> last_input;
  reply last_reply;
};

struct recorded_events : session_observer {
  void on_authenticated() override { ++authenticated; }
  void on_auth_failed(std::string_view reason) override { auth_failures.emplace_back(reason); }
  void on_connection_failed(std::string_view reason) override { failures.emplace_back(reason); }
  void on_device_stream_open(device_stream_id id, const value* initial) override {
    opened.push_back(id);
    if (initial) initial_values.push_back(*initial);
  }
  void on_device_stream_refused(device_stream_id id) override { refused.push_back(id); }
  void on_device_stream_data(device_stream_id id, const value& data) override {
    data_in.emplace_back(id, data);
  }
  void on_device_stream_closed(device_stream_id id) override { closed.push_back(id); }
  void on_server_answer(std::uint16_t sid, bool ok, const value* payload) override {
    answers.push_back({sid, ok, payload ? *payload : value()});
  }
  struct answer {
    std::uint16_t sid;
    bool ok;
    value payload;
  };
  int authenticated = 0;
  std::vector<std::string> auth_failures, failures;
  std::vector<device_stream_id> opened, refused, closed;
  std::vector<value> initial_values;
  std::vector<std::pair<device_stream_id, value>> data_in;
  std::vector<answer> answers;
};

class device_session_test : public ::testing::Test {
 protected:
  device_session_test() {
    registry.add("temperature", temperature);
    registry.add("lamp", lamp);
    registry.add("lamp/set", lamp_set);
    registry.add("rooms/:room/temp", room_temp);
  }

  session_config config() {
    session_config c;
    c.username = "alice";
    c.device = "gw1";
    c.credential = "s3cr3t";
    c.keepalive = 60s;
    return c;
  }

  // Everything the session wrote since the last call, decoded.
  std::vector<message> sent() {
    iotgw::iotmp::frame_decoder d;
    d.feed(session.output());
    session.output().clear();
    std::vector<message> out;
    message_view v;
    while (d.next(v) == frame_decoder::status::frame) out.push_back(message::from_view(v));
    EXPECT_EQ(d.buffered(), 0u);
    return out;
  }

  void server_sends(const message& m) {
    const auto bytes = encode(m);
    // In two pieces, to exercise reassembly.
    const std::size_t half = bytes.size() / 2;
    session.on_data(iotgw::byte_view(bytes).first(half), now);
    session.on_data(iotgw::byte_view(bytes).subspan(half), now);
  }

  void connect_and_authenticate() {
    session.on_connected(now);
    const auto frames = sent();
    ASSERT_EQ(frames.size(), 1u);
    ASSERT_EQ(frames[0].type, message_type::connect);
    server_sends({message_type::ok, frames[0].stream_id, {}, {}, {}});
    ASSERT_EQ(session.state(), session_state::ready);
  }

  message single_sent() {
    auto frames = sent();
    EXPECT_EQ(frames.size(), 1u);
    return frames.empty() ? message{} : frames[0];
  }

  value error_payload(const char* text) { return value(object{{"error", text}}); }

  time_point now = time_point{} + 1000h;
  std::shared_ptr<test_resource> temperature = std::make_shared<test_resource>(resource_io::output);
  std::shared_ptr<test_resource> lamp = std::make_shared<test_resource>(resource_io::input_output);
  std::shared_ptr<test_resource> lamp_set = std::make_shared<test_resource>(resource_io::input);
  std::shared_ptr<test_resource> room_temp = std::make_shared<test_resource>(resource_io::output);
  resource_registry registry;
  recorded_events events;
  device_session session{config(), registry, events, 42};
};

TEST_F(device_session_test, connect_sends_the_credentials_and_waits_for_ok) {
  EXPECT_EQ(session.state(), session_state::disconnected);
  session.on_connected(now);
  EXPECT_EQ(session.state(), session_state::authenticating);
  const auto connect = single_sent();
  EXPECT_EQ(connect.type, message_type::connect);
  ASSERT_TRUE(connect.stream_id);
  EXPECT_NE(*connect.stream_id, 0);
  EXPECT_EQ(connect.payload, value(array{"alice", "gw1", "s3cr3t"}));
  EXPECT_FALSE(connect.parameters) << "reference clients send no CONNECT parameters";
  server_sends({message_type::keep_alive, {}, {}, {}, {}});
  EXPECT_EQ(session.state(), session_state::authenticating) << "only OK authenticates";
  server_sends({message_type::ok, connect.stream_id, {}, {}, {}});
  EXPECT_EQ(session.state(), session_state::ready);
  EXPECT_EQ(events.authenticated, 1);
}

TEST_F(device_session_test, error_answer_is_an_authentication_failure) {
  session.on_connected(now);
  const auto connect = single_sent();
  server_sends({message_type::error, connect.stream_id, {}, value(object{{"error", "bad creds"}}), {}});
  ASSERT_EQ(events.auth_failures.size(), 1u);
  EXPECT_EQ(events.auth_failures[0], R"(authentication failed: {"error":"bad creds"})");
  EXPECT_EQ(session.state(), session_state::disconnected);
  server_sends({message_type::ok, connect.stream_id, {}, {}, {}});
  EXPECT_EQ(events.authenticated, 0) << "nothing is processed after the failure";
}

TEST_F(device_session_test, a_server_that_never_answers_connect_times_out) {
  session.on_connected(now);
  sent();
  ASSERT_EQ(session.next_deadline(), now + 15s);
  session.on_timer(now + 14s);
  EXPECT_TRUE(events.failures.empty());
  session.on_timer(now + 15s);
  ASSERT_EQ(events.failures.size(), 1u);
  EXPECT_EQ(events.failures[0], "no answer to CONNECT within 15 s");
}

TEST_F(device_session_test, keep_alive_every_period_and_dead_peer_after_two) {
  connect_and_authenticate();
  EXPECT_EQ(session.next_deadline(), now + 60s);
  now += 60s;
  session.on_timer(now);
  EXPECT_EQ(single_sent().type, message_type::keep_alive);
  server_sends({message_type::keep_alive, {}, {}, {}, {}});  // the echo
  now += 60s;
  session.on_timer(now);
  EXPECT_EQ(single_sent().type, message_type::keep_alive);
  // The server goes silent: 2 x keepalive after the last byte the link is dead.
  const auto last_byte = now - 60s;
  now = last_byte + 119s;
  session.on_timer(now);
  EXPECT_TRUE(events.failures.empty()) << "119 s of silence is still alive";
  EXPECT_EQ(session.next_deadline(), last_byte + 120s);
  now = last_byte + 120s;
  session.on_timer(now);
  ASSERT_EQ(events.failures.size(), 1u);
  EXPECT_EQ(events.failures[0], "nothing received from the server for 120 s");
}

TEST_F(device_session_test, run_reads_the_latest_value) {
  connect_and_authenticate();
  server_sends({message_type::run, 7, {}, {}, value("temperature")});
  EXPECT_EQ(single_sent(), (message{message_type::ok, 7, {}, {}, {}}))
      << "no PAYLOAD field before any value was received";
  temperature->latest = value(21.5);
  server_sends({message_type::run, 8, {}, {}, value("temperature")});
  EXPECT_EQ(single_sent(), (message{message_type::ok, 8, {}, value(21.5), {}}));
}

TEST_F(device_session_test, run_errors) {
  connect_and_authenticate();
  server_sends({message_type::run, 1, {}, {}, value("nope")});
  EXPECT_EQ(single_sent(), (message{message_type::error, 1, {}, error_payload("unknown resource"), {}}));
  server_sends({message_type::run, 2, {}, value(5), value("temperature")});
  EXPECT_EQ(single_sent(),
            (message{message_type::error, 2, {}, error_payload("resource takes no input"), {}}));
  server_sends({message_type::run, 3, {}, {}, value("lamp/set")});
  EXPECT_EQ(single_sent(),
            (message{message_type::error, 3, {}, error_payload("resource needs an input"), {}}));
  server_sends({message_type::run, 4, {}, {}, value(5u)});
  EXPECT_EQ(single_sent(),
            (message{message_type::error, 4, {}, error_payload("RUN without a resource path"), {}}));
  EXPECT_EQ(temperature->runs + lamp_set->runs, 0);
}

TEST_F(device_session_test, run_without_stream_id_is_done_but_not_answered) {
  connect_and_authenticate();
  server_sends({message_type::run, {}, {}, value(object{{"state", "ON"}}), value("lamp/set")});
  EXPECT_EQ(lamp_set->runs, 1);
  EXPECT_EQ(lamp_set->last_input, value(object{{"state", "ON"}}));
  EXPECT_TRUE(sent().empty());
  server_sends({message_type::run, {}, {}, {}, value("nope")});
  EXPECT_TRUE(sent().empty()) << "not even errors are answered";
}

TEST_F(device_session_test, answers_may_come_later_but_not_after_a_reconnect) {
  connect_and_authenticate();
  lamp_set->defer = true;
  server_sends({message_type::run, 11, value(object{{"p", 1}}), value(true), value("lamp/set")});
  EXPECT_TRUE(sent().empty());
  EXPECT_TRUE(lamp_set->last_reply.expects_answer());
  lamp_set->last_reply.ok();
  EXPECT_EQ(single_sent(), (message{message_type::ok, 11, {}, {}, {}}));

  server_sends({message_type::run, 12, {}, value(true), value("lamp/set")});
  const reply stale = lamp_set->last_reply;
  session.on_closed();
  connect_and_authenticate();
  stale.error("broker down");
  EXPECT_TRUE(sent().empty()) << "stream 12 belonged to the previous connection";
}

TEST_F(device_session_test, placeholders_reach_the_resource) {
  connect_and_authenticate();
  room_temp->latest = value(19);
  server_sends({message_type::run, 5, {}, {}, value("rooms/kitchen/temp")});
  EXPECT_EQ(single_sent(), (message{message_type::ok, 5, {}, value(19), {}}));
  EXPECT_EQ(room_temp->last_path, "rooms/kitchen/temp");
  EXPECT_EQ(room_temp->last_captures, (captures{{"room", "kitchen"}}));
  server_sends({message_type::run, 6, {}, {}, value("rooms/kitchen/temp/x")});
  EXPECT_EQ(single_sent().type, message_type::error);
}

TEST_F(device_session_test, describe_lists_the_api_and_one_resource) {
  connect_and_authenticate();
  server_sends({message_type::describe, 1, {}, {}, {}});
  EXPECT_EQ(single_sent(), (message{message_type::ok, 1, {},
                                    value(object{{"lamp", value(object{{"fn", 4}})},
                                                 {"lamp/set", value(object{{"fn", 2}})},
                                                 {"rooms/:room/temp", value(object{{"fn", 3}})},
                                                 {"temperature", value(object{{"fn", 3}})}}),
                                    {}}));
  lamp->latest = value("ON");
  server_sends({message_type::describe, 2, {}, {}, value("lamp")});
  EXPECT_EQ(single_sent(),
            (message{message_type::ok, 2, {},
                     value(object{{"in", value(object{{"state", "ON"}})}, {"out", "ON"}}), {}}));
  server_sends({message_type::describe, 3, {}, {}, value("temperature")});
  EXPECT_EQ(single_sent(), (message{message_type::ok, 3, {}, value(object{{"out", nullptr}}), {}}));
  server_sends({message_type::describe, 4, {}, {}, value("nope")});
  EXPECT_EQ(single_sent().type, message_type::error);
}

TEST_F(device_session_test, interval_stream_samples_the_latest_value) {
  connect_and_authenticate();
  server_sends({message_type::start_stream, 0x0101, value(object{{"interval", 5000}}), {},
                value("temperature")});
  EXPECT_EQ(single_sent(), (message{message_type::ok, 0x0101, {}, {}, {}}))
      << "no first sample while nothing is known";
  EXPECT_TRUE(session.is_streamed("temperature"));
  now += 5s;
  session.on_timer(now);
  EXPECT_TRUE(sent().empty()) << "nothing while the cache is empty";
  temperature->latest = value(21.5);
  now += 5s;
  EXPECT_EQ(session.next_deadline(), now);
  session.on_timer(now);
  EXPECT_EQ(single_sent(), (message{message_type::stream_data, 0x0101, {}, value(21.5), {}}));
  now += 4999ms;
  session.on_timer(now);
  EXPECT_TRUE(sent().empty());
  now += 1ms;
  session.on_timer(now);
  EXPECT_EQ(single_sent().type, message_type::stream_data);

  // The same stream id with a new interval replaces it: one stream, new period.
  server_sends({message_type::start_stream, 0x0101, value(1000), {}, value("temperature")});
  auto frames = sent();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0], (message{message_type::ok, 0x0101, {}, {}, {}}));
  EXPECT_EQ(frames[1], (message{message_type::stream_data, 0x0101, {}, value(21.5), {}}))
      << "the current value right after the OK";
  EXPECT_EQ(session.server_stream_count(), 1u);
  now += 1s;
  session.on_timer(now);
  EXPECT_EQ(sent().size(), 1u);

  server_sends({message_type::stop_stream, 0x0101, {}, {}, {}});
  EXPECT_EQ(single_sent(), (message{message_type::ok, 0x0101, {}, {}, {}}));
  now += 10s;
  session.on_timer(now);
  EXPECT_TRUE(sent().empty()) << "no samples after STOP_STREAM";
  EXPECT_FALSE(session.is_streamed("temperature"));
}

TEST_F(device_session_test, event_stream_sends_on_every_change_and_only_when_streamed) {
  connect_and_authenticate();
  room_temp->latest = value(20);
  session.resource_changed("rooms/kitchen/temp");
  EXPECT_TRUE(sent().empty()) << "nobody streams: nothing goes upstream";
  server_sends({message_type::start_stream, 0x0102, {}, {}, value("rooms/kitchen/temp")});
  auto frames = sent();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[1], (message{message_type::stream_data, 0x0102, {}, value(20), {}}));
  room_temp->latest = value(21);
  session.resource_changed("rooms/kitchen/temp");
  EXPECT_EQ(single_sent(), (message{message_type::stream_data, 0x0102, {}, value(21), {}}));
  session.resource_changed("rooms/bedroom/temp");
  EXPECT_TRUE(sent().empty());
  now += 1h;
  session.on_timer(now);
  for (const auto& m : sent()) EXPECT_NE(m.type, message_type::stream_data) << "no timer samples";
}

TEST_F(device_session_test, stream_refusals) {
  connect_and_authenticate();
  server_sends({message_type::start_stream, 1, {}, {}, value("nope")});
  EXPECT_EQ(single_sent(), (message{message_type::error, 1, {}, error_payload("unknown resource"), {}}));
  server_sends({message_type::start_stream, 2, {}, {}, value("lamp/set")});
  EXPECT_EQ(single_sent().type, message_type::error) << "write-only cannot be streamed";
  EXPECT_EQ(session.server_stream_count(), 0u);
}

TEST_F(device_session_test, server_data_on_its_stream_is_input) {
  connect_and_authenticate();
  server_sends({message_type::start_stream, 9, {}, {}, value("lamp")});
  sent();
  server_sends({message_type::stream_data, 9, {}, value("OFF"), {}});
  EXPECT_EQ(lamp->runs, 1);
  EXPECT_EQ(lamp->last_input, value("OFF"));
  EXPECT_FALSE(lamp->last_reply.expects_answer());
  server_sends({message_type::stream_data, 999, {}, value("x"), {}});
  EXPECT_TRUE(sent().empty()) << "data for an unknown stream is dropped silently";
}

TEST_F(device_session_test, streams_end_with_the_connection) {
  connect_and_authenticate();
  temperature->latest = value(1);
  server_sends({message_type::start_stream, 3, value(object{{"interval", 1000}}), {},
                value("temperature")});
  session.on_closed();
  EXPECT_EQ(session.server_stream_count(), 0u);
  EXPECT_EQ(session.next_deadline(), std::nullopt);
  connect_and_authenticate();
  now += 5s;
  session.on_timer(now);
  EXPECT_TRUE(sent().empty());
}

TEST_F(device_session_test, device_streams_open_after_every_authentication) {
  const auto requests =
      mqtt_stream_requests(mqtt_stream_scheme::event, "devices/status", mqtt_scope::publish, 0, false);
  ASSERT_EQ(requests.size(), 1u);
  const auto id = session.add_device_stream(requests[0].resource, requests[0].parameters);
  EXPECT_EQ(session.send_stream_data(id, iotgw::pson::encode(value(1))), send_status::not_open);

  connect_and_authenticate();
  const auto start = single_sent();
  EXPECT_EQ(start.type, message_type::start_stream);
  EXPECT_EQ(start.resource, value(8));
  EXPECT_EQ(start.parameters, requests[0].parameters);
  EXPECT_EQ(session.send_stream_data(id, iotgw::pson::encode(value(1))), send_status::not_open)
      << "no STREAM_DATA before the server's OK";

  server_sends({message_type::ok, start.stream_id, {}, value("initial"), {}});
  EXPECT_EQ(events.opened, (std::vector<device_stream_id>{id}));
  EXPECT_EQ(events.initial_values, (std::vector<value>{value("initial")}));
  const auto payload = iotgw::pson::encode(value(object{{"online", true}}));
  EXPECT_EQ(session.send_stream_data(id, payload), send_status::sent);
  EXPECT_EQ(single_sent(),
            (message{message_type::stream_data, start.stream_id, {}, value(object{{"online", true}}), {}}));

  // Reconnect: closed, then opened again with a new START_STREAM.
  session.on_closed();
  EXPECT_EQ(events.closed, (std::vector<device_stream_id>{id}));
  connect_and_authenticate();
  const auto again = single_sent();
  EXPECT_EQ(again.type, message_type::start_stream);
  EXPECT_EQ(again.parameters, requests[0].parameters);

  session.remove_device_stream(id);
  EXPECT_EQ(single_sent(), (message{message_type::stop_stream, again.stream_id, {}, {}, {}}));
}

TEST_F(device_session_test, subscribe_streams_deliver_and_can_be_stopped_by_the_server) {
  connect_and_authenticate();
  const auto req =
      mqtt_stream_requests(mqtt_stream_scheme::spec, "commands/#", mqtt_scope::subscribe, 0, false);
  const auto id = session.add_device_stream(req[0].resource, req[0].parameters);
  const auto start = single_sent();
  EXPECT_EQ(start.resource, value("commands/#"));
  server_sends({message_type::ok, start.stream_id, {}, {}, {}});
  server_sends({message_type::stream_data, start.stream_id, {}, value(object{{"payload", "on"}}), {}});
  ASSERT_EQ(events.data_in.size(), 1u);
  EXPECT_EQ(events.data_in[0].first, id);
  EXPECT_EQ(events.data_in[0].second, value(object{{"payload", "on"}}));
  server_sends({message_type::stop_stream, start.stream_id, {}, {}, {}});
  EXPECT_EQ(single_sent(), (message{message_type::ok, start.stream_id, {}, {}, {}}));
  EXPECT_EQ(events.closed, (std::vector<device_stream_id>{id}));
  EXPECT_FALSE(session.device_stream_open(id));
}

TEST_F(device_session_test, removed_stream_ids_are_given_out_again_lowest_first) {
  // Owners index per-stream data by id: ids stay small and dense.
  const auto a = session.add_device_stream(value("a"), value(object{}));
  const auto b = session.add_device_stream(value("b"), value(object{}));
  const auto c = session.add_device_stream(value("c"), value(object{}));
  EXPECT_EQ((std::vector<device_stream_id>{a, b, c}), (std::vector<device_stream_id>{1, 2, 3}));
  session.remove_device_stream(c);
  session.remove_device_stream(a);
  EXPECT_EQ(session.add_device_stream(value("d"), value(object{})), a);
  EXPECT_EQ(session.add_device_stream(value("e"), value(object{})), c);
  EXPECT_EQ(session.add_device_stream(value("f"), value(object{})), 4u);

  // A reused id is the new stream, on the wire and for its events.
  connect_and_authenticate();
  const auto starts = sent();
  ASSERT_EQ(starts.size(), 4u);
  EXPECT_EQ(starts[0].resource, value("d")) << "reopened in id order";
  EXPECT_EQ(starts[1].resource, value("b"));
  EXPECT_EQ(starts[2].resource, value("e"));
  EXPECT_EQ(starts[3].resource, value("f"));
  server_sends({message_type::ok, starts[2].stream_id, {}, {}, {}});
  EXPECT_EQ(events.opened, (std::vector<device_stream_id>{c}));
  EXPECT_EQ(session.send_stream_data(c, iotgw::pson::encode(value(5))), send_status::sent);
  EXPECT_EQ(single_sent().stream_id, starts[2].stream_id);
  EXPECT_EQ(session.send_stream_data(a, iotgw::pson::encode(value(5))), send_status::not_open);
  EXPECT_EQ(session.send_stream_data(9, iotgw::pson::encode(value(5))), send_status::not_open)
      << "an id never given out";
  session.remove_device_stream(9);  // and removing it is harmless
}

TEST_F(device_session_test, refused_device_stream_is_reported) {
  const auto id = session.add_device_stream(value(8), value(object{{"event", "x"}}));
  connect_and_authenticate();
  const auto start = single_sent();
  server_sends({message_type::error, start.stream_id, {}, {}, {}});
  EXPECT_EQ(events.refused, (std::vector<device_stream_id>{id}));
  EXPECT_EQ(session.send_stream_data(id, iotgw::pson::encode(value(1))), send_status::not_open);
}

TEST_F(device_session_test, a_full_socket_pushes_back) {
  connect_and_authenticate();
  const auto id = session.add_device_stream(value("t"), value(object{}));
  server_sends({message_type::ok, single_sent().stream_id, {}, {}, {}});
  temperature->latest = value(3);
  server_sends({message_type::start_stream, 4, {}, {}, value("temperature")});
  sent();
  session.set_writable(false);
  EXPECT_EQ(session.send_stream_data(id, iotgw::pson::encode(value(1))), send_status::would_block);
  session.resource_changed("temperature");
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(session.stats().samples_skipped, 1u);
  session.set_writable(true);
  EXPECT_EQ(session.send_stream_data(id, iotgw::pson::encode(value(1))), send_status::sent);
  EXPECT_EQ(session.send_stream_data(id, iotgw::pson::encode(value(std::string(300000, 'x')))),
            send_status::too_large);
}

// Within one loop turn the driver has not written yet, so the writable flag
// cannot stop a burst: the pending output has its own bound, and the driver
// learns (once) that producers stopped on it.
TEST_F(device_session_test, a_full_batch_pushes_back_before_the_driver_writes) {
  connect_and_authenticate();
  const auto id = session.add_device_stream(value("t"), value(object{}));
  server_sends({message_type::ok, single_sent().stream_id, {}, {}, {}});
  sent();
  const auto chunk = iotgw::pson::encode(value(std::string(10000, 'x')));
  for (int i = 0; i < 1000 && session.send_stream_data(id, chunk) == send_status::sent; ++i) {
  }
  EXPECT_GE(session.output().size(), session.config().max_pending_output);
  EXPECT_LT(session.output().size(), session.config().max_pending_output + 10100);
  EXPECT_TRUE(session.take_output_full());
  EXPECT_FALSE(session.take_output_full());
  sent();  // the driver took the batch
  EXPECT_EQ(session.send_stream_data(id, chunk), send_status::sent);
}

TEST_F(device_session_test, server_calls_in_both_layouts) {
  connect_and_authenticate();
  const value record(object{{"humidity", 65}, {"temperature", 22.5}});
  EXPECT_EQ(session.call_server(server_resource::write_bucket, "env_bucket", &record, false), 0);
  // IOTMP-Linux layout, fire and forget: the golden vector msg.run.server.write_bucket.linux.
  const auto frame = encode(single_sent());
  EXPECT_EQ(test_support::to_hex(frame),
            "062c128a656e765f6275636b65741ac28868756d69646974791f418b74656d7065726174757265400000b4412005");
  const auto sid = session.call_server(server_resource::write_bucket, "env_bucket", &record, true);
  ASSERT_TRUE(sid && *sid != 0);
  const auto confirmed = single_sent();
  EXPECT_EQ(confirmed.stream_id, sid);
  server_sends({message_type::ok, *sid, {}, {}, {}});
  ASSERT_EQ(events.answers.size(), 1u);
  EXPECT_TRUE(events.answers[0].ok);

  session_config embedded = config();
  embedded.run_layout = server_run_layout::embedded_client;
  device_session other(embedded, registry, events, 7);
  other.on_connected(now);
  iotgw::iotmp::frame_decoder d;
  d.feed(other.output());
  message_view v;
  ASSERT_EQ(d.next(v), frame_decoder::status::frame);
  const auto connect_sid = v.stream_id;
  other.output().clear();
  const auto ok = encode(message{message_type::ok, connect_sid, {}, {}, {}});
  other.on_data(ok, now);
  const auto esid = other.call_server(server_resource::write_bucket, "env_bucket", &record, true);
  d.feed(other.output());
  ASSERT_EQ(d.next(v), frame_decoder::status::frame);
  EXPECT_EQ(message::from_view(v),
            (message{message_type::run, esid, value(5), record, value("env_bucket")}));
  EXPECT_FALSE(session.call_server(server_resource::write_bucket, "b", nullptr, true).has_value() &&
               session.state() != session_state::ready);
}

TEST_F(device_session_test, broken_server_input_fails_the_connection) {
  connect_and_authenticate();
  const auto bad = test_support::from_hex("01041ac10101");  // PSON map with an integer key
  session.on_data(bad, now);
  ASSERT_EQ(events.failures.size(), 1u);
  EXPECT_EQ(events.failures[0], "malformed frame from server: PSON map key is not a string");
  EXPECT_EQ(session.state(), session_state::disconnected);
}

TEST_F(device_session_test, disconnect_and_unknown_types) {
  connect_and_authenticate();
  session.on_data(test_support::from_hex("0b03ffffff"), now);  // unknown type 11 with a body
  EXPECT_TRUE(events.failures.empty());
  EXPECT_EQ(session.state(), session_state::ready);
  server_sends({message_type::disconnect, {}, {}, {}, {}});
  ASSERT_EQ(events.failures.size(), 1u);
  EXPECT_EQ(events.failures[0], "server sent DISCONNECT");
}

TEST_F(device_session_test, stream_ids_we_choose_never_collide) {
  connect_and_authenticate();
  std::set<std::uint16_t> seen;
  for (int i = 0; i < 2000; ++i) {
    session.add_device_stream(value("t"), value(object{}));
    const auto m = single_sent();
    ASSERT_TRUE(m.stream_id);
    EXPECT_TRUE(seen.insert(*m.stream_id).second) << "reused " << *m.stream_id;
    EXPECT_NE(*m.stream_id, 0);
  }
}

std::string vector_hex(const std::string& name) {
  for (const auto& row : test_support::read_tsv(test_support::vectors_dir() + "/vectors.tsv")) {
    if (row.columns.at(0) == name) return row.columns.at(2);
  }
  ADD_FAILURE() << "no vector " << name;
  return {};
}

TEST(mqtt_stream_requests, match_the_golden_vectors) {
  using s = mqtt_stream_scheme;
  const struct {
    const char* row;
    std::uint16_t sid;
    mqtt_stream_scheme scheme;
    const char* topic;
    mqtt_scope scope;
    unsigned qos;
    bool retained;
  } cases[] = {
      {"msg.start_stream.mqtt_publish.linux", 0x2001, s::event, "devices/status", mqtt_scope::publish, 0, false},
      {"msg.start_stream.mqtt_publish_qos1_retained.linux", 0x2002, s::event, "devices/status",
       mqtt_scope::publish, 1, true},
      {"msg.start_stream.mqtt_subscribe.linux", 0x2003, s::event, "commands/#", mqtt_scope::subscribe, 0, false},
      {"msg.start_stream.mqtt_subscribe_qos1.linux", 0x2004, s::event, "commands/#", mqtt_scope::subscribe, 1,
       true /* retained is never sent on a subscribe stream */},
      {"msg.start_stream.mqtt_publish.docs", 0x2010, s::spec, "devices/status", mqtt_scope::publish, 0, false},
      {"msg.start_stream.mqtt_subscribe.docs", 0x2011, s::spec, "commands/#", mqtt_scope::subscribe, 0, false},
      {"msg.start_stream.mqtt_pubsub.docs", 0x2012, s::spec, "devices/dev1/io", mqtt_scope::both, 0, false},
  };
  for (const auto& c : cases) {
    const auto requests = mqtt_stream_requests(c.scheme, c.topic, c.scope, c.qos, c.retained);
    ASSERT_EQ(requests.size(), 1u) << c.row;
    const auto& r = requests[0];
    EXPECT_EQ(test_support::to_hex(
                  encode(message{message_type::start_stream, c.sid, r.parameters, {}, r.resource})),
              vector_hex(c.row))
        << c.row;
  }
  const auto both = mqtt_stream_requests(s::event, "a/b", mqtt_scope::both, 1, true);
  ASSERT_EQ(both.size(), 2u) << "the event scheme has no two-way stream";
  EXPECT_EQ(both[0].parameters.find("scope")->as_string(), "publish");
  EXPECT_EQ(both[1].parameters.find("scope")->as_string(), "subscribe");
  EXPECT_EQ(both[1].parameters.find("retained"), nullptr) << "never retained on subscribe";
}

TEST(backoff, decorrelated_jitter_stays_within_bounds_and_resets) {
  backoff b(1000ms, 60000ms, 1);
  std::chrono::milliseconds previous = 1000ms;
  std::chrono::milliseconds largest{0};
  for (int i = 0; i < 200; ++i) {
    const auto d = b.next();
    EXPECT_GE(d, 1000ms);
    EXPECT_LE(d, 60000ms);
    EXPECT_LE(d, previous * 3);
    previous = d;
    largest = std::max(largest, d);
  }
  EXPECT_GT(largest, 30000ms) << "it grows towards the cap";
  b.reset();
  EXPECT_LE(b.next(), 3000ms);
  backoff zero(0ms, 0ms, 1);
  EXPECT_GE(zero.next(), 1ms) << "never a hot loop";
}

}  // namespace
