#include "iotmp_gateway/iotmp/server_session.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <random>
#include <set>
#include <tuple>

#include "support/hex.hpp"
#include "support/print.hpp"

using namespace iotgw::iotmp;
using namespace std::chrono_literals;
using iotgw::byte_buffer;
using iotgw::byte_view;
using iotgw::codec_error;
using iotgw::pson::array;
using iotgw::pson::object;
using iotgw::pson::value;
using test_support::from_hex;
using test_support::to_hex;

using session = server_session;
using state = server_session::state;
using close_reason = server_session::close_reason;
using device_stream = server_session::device_stream;

namespace {

const time_point t0 = time_point{} + 1000h;

// Golden vectors (../shared/iotmp/vectors/vectors.tsv), copied so a test reads on its own.
constexpr std::string_view connect_hex =  // msg.connect: sid 0x1234 ["user","dev1","secret"]
    "031608b4241ae38475736572846465763186736563726574";
constexpr std::string_view connect_linux_order_hex =  // msg.connect@linux_order
    "03161ae3847573657284646576318673656372657408b424";
constexpr std::string_view mqtt_publish_linux =  // sid 0x2001 "devices/status"
    "084508814012c3856576656e74946465766963655f746f7069635f7075626c6973688573636f70658770"
    "75626c69736885746f7069638e646576696365732f7374617475732008";
constexpr std::string_view mqtt_publish_linux_order =  // same, @linux_order
    "084512c3856576656e74946465766963655f746f7069635f7075626c6973688573636f7065877075626c"
    "69736885746f7069638e646576696365732f7374617475732008088140";
constexpr std::string_view mqtt_publish_qos1_retained_linux =  // sid 0x2002
    "085408824012c5856576656e74946465766963655f746f7069635f7075626c69736883716f7301887265"
    "7461696e6564618573636f7065877075626c69736885746f7069638e646576696365732f737461747573"
    "2008";
constexpr std::string_view mqtt_subscribe_linux =  // sid 0x2003 "commands/#"
    "084308834012c3856576656e74946465766963655f746f7069635f7075626c6973688573636f70658973"
    "756273637269626585746f7069638a636f6d6d616e64732f232008";
constexpr std::string_view mqtt_publish_docs =  // sid 0x2010 "devices/status"
    "082e08904012c28573636f7065e1877075626c6973688474797065846d717474228e646576696365732f"
    "737461747573";
constexpr std::string_view mqtt_subscribe_docs =  // sid 0x2011 "commands/#"
    "082c08914012c28573636f7065e1897375627363726962658474797065846d717474228a636f6d6d616e"
    "64732f23";
constexpr std::string_view mqtt_pubsub_docs =  // sid 0x2012 "devices/dev1/io"
    "083908924012c28573636f7065e2877075626c697368897375627363726962658474797065846d717474"
    "228f646576696365732f646576312f696f";
constexpr std::string_view property_stream_linux =  // msg.start_stream.property.linux, 0x2005
    "084608854012c38763757272656e7461856576656e74966465766963655f70726f70657274795f757064"
    "6174658766696c74657273c18870726f706572747986636f6e6669672008";
constexpr std::string_view event_stream_linux =  // msg.start_stream.event.linux, 0x2006
    "082108864012c1856576656e74936465766963655f73746174655f6368616e67652008";
constexpr std::string_view stream_data_mqtt_publish =  // sid 0x2001 {"online":true}
    "0a0d0881401ac1866f6e6c696e6561";
constexpr std::string_view stream_data_mqtt_delivery =  // sid 0x2003 {"payload":"on"}
    "0a100883401ac1877061796c6f6164826f6e";
constexpr std::string_view stop_stream_device = "0903088140";  // STOP_STREAM sid 0x2001
constexpr std::string_view start_stream_interval =             // sid 0x0101 "temperature" 5000 ms
    "081e08810212c188696e74657276616c1f8827228b74656d7065726174757265";
constexpr std::string_view start_stream_event =  // sid 0x0102 "temperature"
    "0810088202228b74656d7065726174757265";
constexpr std::string_view write_bucket_linux =  // no sid, RESOURCE 5, PARAMETERS "env_bucket"
    "062c128a656e765f6275636b65741ac28868756d69646974791f418b74656d7065726174757265400000b4"
    "412005";
constexpr std::string_view write_bucket_linux_confirm =  // same with sid 0x1234
    "062f08b424128a656e765f6275636b65741ac28868756d69646974791f418b74656d706572617475726540"
    "0000b4412005";
constexpr std::string_view write_bucket_embedded =  // sid 0x1234, PARAMETERS 5, RESOURCE id
    "062f08b42410051ac28868756d69646974791f418b74656d7065726174757265400000b441228a656e765f"
    "6275636b6574";

const value bucket_record = object{{"humidity", 65}, {"temperature", 22.5}};

// Records every event; the decisions are switches a test flips.
struct recorder : session::observer {
  bool allow_device = true;
  bool accept_streams = true;
  session::answer run_answer{true, {}, {}};

  std::vector<session::credentials> logins;
  int authenticated = 0;
  std::vector<std::pair<std::uint16_t, session::answer>> answers;
  std::vector<std::tuple<std::uint16_t, bool, session::answer>> started;
  std::vector<std::pair<std::uint16_t, value>> data;
  std::vector<std::uint16_t> stopped;
  std::vector<device_stream> offered;
  std::vector<device_stream> opened;
  std::vector<device_stream> closed;
  std::vector<std::pair<device_stream, value>> published;
  std::vector<session::server_run> runs;

  // Hooks for tests of calls made from inside callbacks.
  std::function<void()> after_login;
  std::function<void(const device_stream&)> while_offered;

  bool authenticate(const session::credentials& c) override {
    logins.push_back(c);
    return allow_device;
  }
  void on_authenticated() override {
    ++authenticated;
    if (after_login) after_login();
  }
  void on_answer(std::uint16_t id, const session::answer& a) override {
    answers.emplace_back(id, a);
  }
  void on_stream_started(std::uint16_t sid, bool ok, const session::answer& a) override {
    started.emplace_back(sid, ok, a);
  }
  void on_stream_data(std::uint16_t sid, const value& v) override { data.emplace_back(sid, v); }
  void on_stream_stopped(std::uint16_t sid) override { stopped.push_back(sid); }
  bool accept_device_stream(const device_stream& s) override {
    offered.push_back(s);
    if (while_offered) while_offered(s);
    return accept_streams;
  }
  void on_device_stream_opened(const device_stream& s) override { opened.push_back(s); }
  void on_device_stream_data(const device_stream& s, const value& v) override {
    published.emplace_back(s, v);
  }
  void on_device_stream_closed(const device_stream& s) override { closed.push_back(s); }
  session::answer on_server_run(const session::server_run& r) override {
    runs.push_back(r);
    return run_answer;
  }
};

byte_buffer frame(const message& m) {
  return encode(m);
}

byte_buffer operator+(byte_buffer a, const byte_buffer& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Feeds in odd chunk sizes (1, 2, 3, 5, 7 bytes, repeating) so that frames
// straddle receive() calls everywhere.
state feed(session& s, const byte_buffer& bytes, time_point now = t0) {
  static constexpr std::size_t sizes[] = {1, 2, 3, 5, 7};
  state st = s.current_state();
  std::size_t pos = 0;
  for (std::size_t i = 0; pos < bytes.size(); ++i) {
    const std::size_t n = std::min(sizes[i % std::size(sizes)], bytes.size() - pos);
    st = s.receive(byte_view(bytes).subspan(pos, n), now);
    pos += n;
  }
  return st;
}
state feed_hex(session& s, std::string_view hex, time_point now = t0) {
  return feed(s, from_hex(hex), now);
}

// Decodes and clears everything the session queued for the device.
std::vector<message> drain(session& s) {
  frame_decoder d;
  d.feed(s.take_output());
  std::vector<message> out;
  message_view v;
  frame_decoder::status st;
  while ((st = d.next(v)) == frame_decoder::status::frame) out.push_back(message::from_view(v));
  EXPECT_EQ(st, frame_decoder::status::need_more) << "the session wrote a malformed frame";
  EXPECT_EQ(d.buffered(), 0u) << "the session wrote a partial frame";
  return out;
}

message ok(std::uint16_t sid) {
  return {message_type::ok, sid, {}, {}, {}};
}
message error(std::uint16_t sid) {
  return {message_type::error, sid, {}, {}, {}};
}
message bare(message_type t, std::optional<std::uint16_t> sid = {}) {
  return {t, sid, {}, {}, {}};
}

// A session past CONNECT (sid 0x1234), output drained.
struct server_session_test : ::testing::Test {
  recorder obs;
  session::options opts;
  std::unique_ptr<session> s;

  session& open(session::options o = {}) {
    s = std::make_unique<session>(obs, o, t0);
    EXPECT_EQ(feed_hex(*s, connect_hex), state::authenticated);
    EXPECT_EQ(drain(*s), std::vector<message>{ok(0x1234)});
    return *s;
  }
};

// ---------------------------------------------------------------- authentication

TEST(server_session, accepted_connect_is_answered_ok_with_its_stream_id) {
  recorder obs;
  session s(obs, t0);
  EXPECT_EQ(s.current_state(), state::awaiting_connect);
  EXPECT_EQ(feed_hex(s, connect_hex), state::authenticated);
  ASSERT_EQ(obs.logins.size(), 1u);
  EXPECT_EQ(obs.logins[0].username, "user");
  EXPECT_EQ(obs.logins[0].device, "dev1");
  EXPECT_EQ(obs.logins[0].credential, "secret");
  EXPECT_EQ(obs.authenticated, 1);
  EXPECT_EQ(to_hex(s.take_output()), "010308b424");  // msg.ok
  EXPECT_EQ(s.username(), "user");
  EXPECT_EQ(s.device(), "dev1");
}

TEST(server_session, connect_fields_may_come_in_any_order) {
  recorder obs;
  session s(obs, t0);
  EXPECT_EQ(feed_hex(s, connect_linux_order_hex), state::authenticated);
  EXPECT_EQ(drain(s), std::vector<message>{ok(0x1234)});
}

TEST(server_session, refused_connect_is_answered_error_and_closes) {
  recorder obs;
  obs.allow_device = false;
  session s(obs, t0);
  EXPECT_EQ(feed_hex(s, connect_hex), state::closed);
  EXPECT_EQ(s.reason(), close_reason::auth_refused);
  EXPECT_EQ(s.close_message(), "authentication refused for user/dev1") << "no credential in it";
  EXPECT_EQ(to_string(s.reason()), "authentication refused");
  EXPECT_EQ(to_string(s.current_state()), "closed");
  EXPECT_EQ(to_hex(s.take_output()), "020308b424");  // msg.error
  EXPECT_EQ(obs.authenticated, 0);
  EXPECT_EQ(s.username(), "");
  // Whatever follows is ignored: the I/O layer is closing the socket.
  EXPECT_EQ(feed_hex(s, "0500"), state::closed);
  EXPECT_TRUE(s.output().empty());
  EXPECT_FALSE(s.run("led", {}, {}, t0));
}

TEST(server_session, the_default_observer_refuses_every_device) {
  session::observer nobody;
  session s(nobody, t0);
  EXPECT_EQ(feed_hex(s, connect_hex), state::closed);
  EXPECT_EQ(s.reason(), close_reason::auth_refused);
  EXPECT_EQ(drain(s), std::vector<message>{error(0x1234)});
}

TEST(server_session, connect_without_three_strings_is_refused_without_asking) {
  for (const value& payload :
       {value(array{"user", "dev1"}), value(array{"user", "dev1", 7}), value("user"), value()}) {
    recorder obs;
    session s(obs, t0);
    EXPECT_EQ(feed(s, frame({message_type::connect, 9, {}, payload, {}})), state::closed);
    EXPECT_EQ(s.reason(), close_reason::protocol_error);
    EXPECT_TRUE(obs.logins.empty());
    EXPECT_EQ(drain(s), std::vector<message>{error(9)});
  }
  // No PAYLOAD at all, no stream id: ERROR with sid 0 (a missing sid means 0).
  recorder obs;
  session s(obs, t0);
  EXPECT_EQ(feed(s, frame(bare(message_type::connect))), state::closed);
  EXPECT_EQ(drain(s), std::vector<message>{error(0)});
}

TEST(server_session, any_frame_before_connect_is_a_protocol_error) {
  const std::vector<byte_buffer> firsts = {
      from_hex("0500"),                                     // KEEP_ALIVE
      frame({message_type::run, 1, {}, {}, value("led")}),  // RUN
      from_hex("010308b424"),                               // OK
      from_hex("0b00"),                                     // unknown type
      from_hex(mqtt_publish_linux),                         // START_STREAM
  };
  for (const auto& f : firsts) {
    recorder obs;
    session s(obs, t0);
    EXPECT_EQ(feed(s, f + from_hex(connect_hex)), state::closed) << to_hex(f);
    EXPECT_EQ(s.reason(), close_reason::protocol_error);
    EXPECT_EQ(s.close_message().rfind("expected CONNECT first, got ", 0), 0u) << s.close_message();
    EXPECT_TRUE(obs.logins.empty()) << "the CONNECT after it is not looked at";
    EXPECT_TRUE(s.output().empty());
  }
}

TEST(server_session, second_connect_is_a_protocol_error) {
  recorder obs;
  session s(obs, t0);
  EXPECT_EQ(feed_hex(s, std::string(connect_hex) + std::string(connect_hex)), state::closed);
  EXPECT_EQ(s.reason(), close_reason::protocol_error);
  EXPECT_EQ(obs.logins.size(), 1u);
}

TEST(server_session, malformed_frames_close_with_the_codec_error_text) {
  struct bad {
    std::string_view hex;
    codec_error error;
  };
  for (const bad& b :
       {bad{"80", codec_error::invalid_message_type},
        bad{"0106080119724a01", codec_error::legacy_wire_type},  // from malformed.tsv
        bad{"01030bb424", codec_error::invalid_wire_type},
        bad{"06ffffffff0f", codec_error::varint_too_long},
        bad{"01021a63", codec_error::invalid_discrete},
        bad{"010408808004", codec_error::invalid_stream_id}}) {
    // Before and after authentication alike.
    for (bool authenticate : {false, true}) {
      recorder obs;
      session s(obs, t0);
      if (authenticate) feed_hex(s, connect_hex);
      s.take_output();
      EXPECT_EQ(feed_hex(s, b.hex), state::closed) << b.hex;
      EXPECT_EQ(s.reason(), close_reason::protocol_error);
      EXPECT_EQ(s.close_message(), to_string(b.error)) << b.hex;
      EXPECT_TRUE(s.output().empty());
    }
  }
}

TEST(server_session, frames_over_the_size_limit_close_before_the_body_arrives) {
  recorder obs;
  session::options o;
  o.max_body = 64;
  session s(obs, o, t0);
  feed_hex(s, connect_hex);
  EXPECT_EQ(feed_hex(s, "0a41"), state::closed);  // declares 65 body bytes
  EXPECT_EQ(s.close_message(), to_string(codec_error::frame_too_large));
}

TEST(server_session, observer_may_send_requests_once_authenticated) {
  recorder obs;
  session* sp = nullptr;
  obs.after_login = [&] { sp->describe(std::nullopt, t0); };
  session s(obs, t0);
  sp = &s;
  feed_hex(s, connect_hex);
  // OK first: the device takes the very next frame as the answer to CONNECT.
  EXPECT_EQ(drain(s), (std::vector<message>{ok(0x1234), bare(message_type::describe, 1)}));
}

// ---------------------------------------------------------------- keep-alive and liveness

TEST_F(server_session_test, keep_alive_is_echoed) {
  open();
  EXPECT_EQ(feed_hex(*s, "050005000500"), state::authenticated);
  EXPECT_EQ(to_hex(s->take_output()), "050005000500");
}

TEST_F(server_session_test, silent_mode_stops_the_echo_and_nothing_else) {
  open();
  s->set_silent(true);
  EXPECT_TRUE(s->silent());
  EXPECT_EQ(feed_hex(*s, "0500"), state::authenticated);
  EXPECT_TRUE(s->output().empty());
  EXPECT_TRUE(s->describe("sum", t0)) << "the server still talks when asked to";
  EXPECT_EQ(drain(*s).size(), 1u);
  s->set_silent(false);
  feed_hex(*s, "0500");
  EXPECT_EQ(to_hex(s->take_output()), "0500");
}

TEST_F(server_session_test, expiry_counts_from_the_last_whole_frame) {
  s = std::make_unique<session>(obs, opts, t0);
  EXPECT_FALSE(s->expired(t0 + 10s, 10s));
  EXPECT_TRUE(s->expired(t0 + 10s + 1ms, 10s)) << "a device that never sends CONNECT is dropped";
  feed_hex(*s, connect_hex, t0 + 5s);
  EXPECT_EQ(s->last_receive(), t0 + 5s);
  EXPECT_FALSE(s->expired(t0 + 15s, 10s));
  EXPECT_TRUE(s->expired(t0 + 15s + 1ms, 10s));
  s->receive(from_hex("05"), t0 + 12s);  // half a frame is not a sign of life
  EXPECT_EQ(s->last_receive(), t0 + 5s);
  s->receive(from_hex("00"), t0 + 14s);
  EXPECT_EQ(s->last_receive(), t0 + 14s);
  EXPECT_FALSE(s->expired(t0 + 24s, 10s));
}

// ---------------------------------------------------------------- server requests

TEST_F(server_session_test, run_and_describe_answers_are_matched_by_stream_id) {
  open();
  const auto led = s->run("led", value(object{{"level", 128}, {"state", true}}), {}, t0);
  const auto sum = s->run("sum", value(object{{"a", 1}, {"b", 2}}), value(object{{"x", "y"}}), t0);
  const auto api = s->describe(std::nullopt, t0);
  const auto one = s->describe("sum", t0);
  ASSERT_TRUE(led && sum && api && one);
  EXPECT_EQ(s->pending_requests(), 4u);
  const std::vector<message> sent = {
      {message_type::run, *led, {}, value(object{{"level", 128}, {"state", true}}), value("led")},
      {message_type::run, *sum, value(object{{"x", "y"}}), value(object{{"a", 1}, {"b", 2}}),
       value("sum")},
      {message_type::describe, *api, {}, {}, {}},
      {message_type::describe, *one, {}, {}, value("sum")},
  };
  EXPECT_EQ(drain(*s), sent);

  // Answers out of order, mixed with traffic that must not disturb the matching.
  const auto answers =
      frame({message_type::ok, *one, {}, value(object{{"out", 3}}), {}}) + from_hex("0500") +
      frame({message_type::stream_data, 0x7777, {}, value(1), {}}) + from_hex("7f020801") +
      frame({message_type::error, *led, value(500), value(object{{"error", "boom"}}), {}}) +
      frame({message_type::ok, 0x7778, {}, {}, {}}) +  // answers nothing
      frame({message_type::ok, *api, {}, value(object{{"led", object{{"fn", 2}}}}), {}}) +
      frame(ok(*sum));
  EXPECT_EQ(feed(*s, answers), state::authenticated);
  ASSERT_EQ(obs.answers.size(), 4u);
  EXPECT_EQ(obs.answers[0].first, *one);
  EXPECT_TRUE(obs.answers[0].second.ok);
  EXPECT_EQ(obs.answers[0].second.payload, value(object{{"out", 3}}));
  EXPECT_EQ(obs.answers[1].first, *led);
  EXPECT_FALSE(obs.answers[1].second.ok);
  EXPECT_EQ(obs.answers[1].second.parameters, value(500));
  EXPECT_EQ(obs.answers[1].second.payload, value(object{{"error", "boom"}}));
  EXPECT_EQ(obs.answers[2].first, *api);
  EXPECT_EQ(obs.answers[3].first, *sum);
  EXPECT_TRUE(obs.answers[3].second.ok);
  EXPECT_FALSE(obs.answers[3].second.payload);
  EXPECT_EQ(s->pending_requests(), 0u);
  EXPECT_EQ(drain(*s), std::vector<message>{bare(message_type::keep_alive)});
  EXPECT_EQ(s->counters().ignored_answers, 1u);
  EXPECT_EQ(s->counters().dropped_data, 1u);
  EXPECT_EQ(s->counters().unknown_frames, 1u);
  // A second answer for the same id is ignored.
  feed(*s, frame(ok(*sum)));
  EXPECT_EQ(obs.answers.size(), 4u);
}

TEST_F(server_session_test, requests_time_out_and_late_answers_are_ignored) {
  opts.request_timeout = 5s;
  open(opts);
  const auto a = s->run("led", {}, {}, t0);
  const auto b = s->describe(std::nullopt, t0 + 2s);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(s->next_request_deadline(), t0 + 5s);
  EXPECT_TRUE(s->expire_requests(t0 + 5s - 1ms).empty());
  EXPECT_EQ(s->expire_requests(t0 + 5s), std::vector<std::uint16_t>{*a});
  EXPECT_EQ(s->next_request_deadline(), t0 + 7s);
  feed(*s, frame(ok(*a)));
  EXPECT_TRUE(obs.answers.empty());
  EXPECT_EQ(s->counters().ignored_answers, 1u);
  EXPECT_EQ(s->expire_requests(t0 + 1h), std::vector<std::uint16_t>{*b});
  EXPECT_FALSE(s->next_request_deadline());
}

TEST_F(server_session_test, requests_need_an_authenticated_session) {
  s = std::make_unique<session>(obs, opts, t0);
  EXPECT_FALSE(s->run("led", {}, {}, t0));
  EXPECT_FALSE(s->describe(std::nullopt, t0));
  EXPECT_FALSE(s->start_stream("temperature", 1000));
  EXPECT_TRUE(s->output().empty());
}

TEST_F(server_session_test, oversize_requests_are_not_sent) {
  open();
  EXPECT_FALSE(s->run("blob", value(std::string(max_body_size, 'x')), {}, t0));
  EXPECT_TRUE(s->output().empty());
  EXPECT_EQ(s->pending_requests(), 0u);
}

// ---------------------------------------------------------------- stream ids

TEST_F(server_session_test, stream_ids_skip_zero_and_every_id_in_use) {
  opts.first_stream_id = 0xfffe;
  open(opts);
  // 0x2001 is the device's own stream: ours must avoid it whenever it comes round.
  feed_hex(*s, mqtt_publish_linux);
  drain(*s);
  std::vector<std::uint16_t> ids;
  ids.push_back(*s->run("a", {}, {}, t0));
  ids.push_back(*s->start_stream("b", {}));
  ids.push_back(*s->describe(std::nullopt, t0));  // wraps past 0
  EXPECT_EQ(ids, (std::vector<std::uint16_t>{0xfffe, 0xffff, 1}));
  s->stop_stream(0xffff);  // reserved until the device answers the STOP
  // Fill everything else: only free ids are handed out, then none.
  std::set<std::uint16_t> seen(ids.begin(), ids.end());
  while (auto id = s->run("x", {}, {}, t0)) {
    EXPECT_TRUE(seen.insert(*id).second) << *id << " handed out twice";
  }
  EXPECT_EQ(seen.size(), 0xffffu - 1u) << "every id but 0 and the device's 0x2001";
  EXPECT_FALSE(seen.contains(0));
  EXPECT_FALSE(seen.contains(0x2001));
  EXPECT_FALSE(s->start_stream("y", 1000));
  // The STOP answer frees 0xffff: it is the next one out.
  feed(*s, frame(ok(0xffff)));
  EXPECT_EQ(s->run("z", {}, {}, t0), 0xffff);
}

TEST_F(server_session_test, device_stream_on_one_of_our_ids_is_refused) {
  opts.first_stream_id = 0x2001;
  open(opts);
  ASSERT_EQ(s->run("led", {}, {}, t0), 0x2001);
  drain(*s);
  feed_hex(*s, mqtt_publish_linux);  // the device picked 0x2001 too
  EXPECT_EQ(drain(*s), std::vector<message>{error(0x2001)});
  EXPECT_TRUE(obs.offered.empty());
  feed(*s, frame(ok(0x2001)));
  EXPECT_EQ(obs.answers.size(), 1u) << "our request is still matched";
}

TEST_F(server_session_test, ids_allocated_while_a_device_stream_is_decided_avoid_its_id) {
  opts.first_stream_id = 0x2001;
  open(opts);
  std::optional<std::uint16_t> inner;
  obs.while_offered = [&](const device_stream&) { inner = s->start_stream("temperature", {}); };
  feed_hex(*s, mqtt_publish_linux);
  EXPECT_EQ(inner, 0x2002);
  // Our START went out first (from inside the callback), then the OK.
  EXPECT_EQ(drain(*s),
            (std::vector<message>{
                {message_type::start_stream, 0x2002, {}, {}, value("temperature")}, ok(0x2001)}));
}

// ---------------------------------------------------------------- server-opened streams

TEST_F(server_session_test, a_restart_before_the_first_answer_gets_both_answers) {
  opts.first_stream_id = 0x0101;
  open(opts);
  ASSERT_EQ(s->start_stream("temperature", 6000), 0x0101);
  ASSERT_TRUE(s->restart_stream(0x0101, 3000));  // before the first START's answer
  (void)s->take_output();
  feed(*s, frame(ok(0x0101)));
  feed(*s, frame(error(0x0101)));  // the re-START is refused
  ASSERT_EQ(obs.started.size(), 2u) << "each START's answer is reported";
  EXPECT_TRUE(std::get<1>(obs.started[0]));
  EXPECT_FALSE(std::get<1>(obs.started[1]));
  EXPECT_FALSE(s->has_stream(0x0101)) << "a refused START ends the stream";
}

TEST_F(server_session_test, interval_stream_start_restart_stop) {
  opts.first_stream_id = 0x0101;
  open(opts);
  const auto sid = s->start_stream("temperature", 5000);
  ASSERT_EQ(sid, 0x0101);
  EXPECT_EQ(to_hex(s->take_output()), start_stream_interval);
  EXPECT_TRUE(s->has_stream(0x0101));

  // OK (msg.ok.stream_ack), then the echo and a sample (msg.stream_data.sample).
  feed_hex(*s,
           "0103088102"
           "0a120881021ac18763656c73697573400000b441"
           "0a050881021818");
  ASSERT_EQ(obs.started.size(), 1u);
  EXPECT_EQ(std::get<0>(obs.started[0]), 0x0101);
  EXPECT_TRUE(std::get<1>(obs.started[0]));
  ASSERT_EQ(obs.data.size(), 2u);
  EXPECT_EQ(obs.data[0], (std::pair<std::uint16_t, value>{0x0101, object{{"celsius", 22.5}}}));
  EXPECT_EQ(obs.data[1].second, value(24));

  // A consumer joins at 3 s: GCD 1 s, same sid.
  EXPECT_TRUE(s->restart_stream(0x0101, 1000));
  EXPECT_EQ(drain(*s), (std::vector<message>{{message_type::start_stream,
                                              0x0101,
                                              value(object{{"interval", 1000}}),
                                              {},
                                              value("temperature")}}));
  feed(*s, frame(ok(0x0101)));
  EXPECT_EQ(obs.started.size(), 2u) << "the restart's OK is reported too";
  feed(*s, frame(ok(0x0101)));
  EXPECT_EQ(obs.started.size(), 2u) << "a stray second OK is not";

  EXPECT_TRUE(s->restart_stream(0x0101, std::nullopt));  // back to an event stream
  EXPECT_EQ(
      drain(*s),
      (std::vector<message>{{message_type::start_stream, 0x0101, {}, {}, value("temperature")}}));
  EXPECT_FALSE(s->restart_stream(0x0202, 1000));

  EXPECT_TRUE(s->stop_stream(0x0101));
  EXPECT_EQ(to_hex(s->take_output()), "0903088102");  // msg.stop_stream
  EXPECT_FALSE(s->has_stream(0x0101));
  EXPECT_FALSE(s->stop_stream(0x0101));
  EXPECT_FALSE(s->restart_stream(0x0101, 1000));
  // A sample racing the STOP, then the STOP's OK: neither reaches the observer.
  const auto ignored = s->counters().ignored_answers;
  feed_hex(*s,
           "0a120881021ac18763656c73697573400000b441"
           "0103088102");
  EXPECT_EQ(obs.data.size(), 2u);
  EXPECT_EQ(s->counters().ignored_answers, ignored) << "the STOP's OK was expected";
  EXPECT_TRUE(s->output().empty());
}

TEST_F(server_session_test, event_stream_has_no_parameters) {
  opts.first_stream_id = 0x0102;
  open(opts);
  ASSERT_EQ(s->start_stream("temperature", std::nullopt), 0x0102);
  EXPECT_EQ(to_hex(s->take_output()), start_stream_event);
}

TEST_F(server_session_test, refused_stream_is_forgotten) {
  open();
  const auto sid = *s->start_stream("nothing", 1000);
  drain(*s);
  feed(*s, frame({message_type::error, sid, {}, value(object{{"message", "not found"}}), {}}));
  ASSERT_EQ(obs.started.size(), 1u);
  EXPECT_FALSE(std::get<1>(obs.started[0]));
  EXPECT_EQ(std::get<2>(obs.started[0]).payload, value(object{{"message", "not found"}}));
  EXPECT_FALSE(s->has_stream(sid));
  feed(*s, frame({message_type::stream_data, sid, {}, value(1), {}}));
  EXPECT_TRUE(obs.data.empty());
}

TEST_F(server_session_test, device_may_stop_a_server_stream) {
  open();
  const auto sid = *s->start_stream("temperature", 1000);
  drain(*s);
  feed(*s, frame(bare(message_type::stop_stream, sid)));
  EXPECT_EQ(drain(*s), std::vector<message>{ok(sid)});
  EXPECT_EQ(obs.stopped, std::vector<std::uint16_t>{sid});
  EXPECT_FALSE(s->has_stream(sid));
  feed(*s, frame(bare(message_type::stop_stream, 0x4444)));
  EXPECT_EQ(drain(*s), std::vector<message>{error(0x4444)}) << "STOP of an unknown stream";
}

// ---------------------------------------------------------------- device-opened MQTT streams

device_stream expected(std::uint16_t sid, std::string topic, bool pub, bool sub,
                       session::mqtt_scheme scheme, std::uint8_t qos = 0, bool retained = false) {
  return {sid, std::move(topic), pub, sub, qos, retained, scheme};
}

TEST_F(server_session_test, event_scheme_streams_are_parsed_and_accepted) {
  open();
  using enum session::mqtt_scheme;
  struct row {
    std::string_view hex;
    device_stream stream;
  };
  const row rows[] = {
      {mqtt_publish_linux, expected(0x2001, "devices/status", true, false, event)},
      {mqtt_publish_qos1_retained_linux,
       expected(0x2002, "devices/status", true, false, event, 1, true)},
      {mqtt_subscribe_linux, expected(0x2003, "commands/#", false, true, event)},
  };
  for (const auto& r : rows) {
    obs.offered.clear();
    feed_hex(*s, r.hex);
    ASSERT_EQ(obs.offered.size(), 1u);
    EXPECT_EQ(obs.offered[0], r.stream) << r.hex;
    EXPECT_EQ(drain(*s), std::vector<message>{ok(r.stream.sid)});  // msg.ok.start_stream_ack
    ASSERT_NE(s->find_device_stream(r.stream.sid), nullptr);
    EXPECT_EQ(*s->find_device_stream(r.stream.sid), r.stream);
  }
  EXPECT_EQ(obs.opened.size(), 3u);
  EXPECT_EQ(s->device_stream_count(), 3u);
}

TEST_F(server_session_test, event_scheme_in_linux_field_order) {
  open();
  feed_hex(*s, mqtt_publish_linux_order);
  ASSERT_EQ(obs.offered.size(), 1u);
  EXPECT_EQ(obs.offered[0],
            expected(0x2001, "devices/status", true, false, session::mqtt_scheme::event));
  EXPECT_EQ(to_hex(s->take_output()), "0103088140");
}

TEST_F(server_session_test, spec_scheme_streams_are_parsed_and_accepted) {
  open();
  using enum session::mqtt_scheme;
  struct row {
    std::string_view hex;
    device_stream stream;
  };
  const row rows[] = {
      {mqtt_publish_docs, expected(0x2010, "devices/status", true, false, spec)},
      {mqtt_subscribe_docs, expected(0x2011, "commands/#", false, true, spec)},
      {mqtt_pubsub_docs, expected(0x2012, "devices/dev1/io", true, true, spec)},
  };
  for (const auto& r : rows) {
    obs.offered.clear();
    feed_hex(*s, r.hex);
    ASSERT_EQ(obs.offered.size(), 1u);
    EXPECT_EQ(obs.offered[0], r.stream) << r.hex;
    EXPECT_EQ(drain(*s), std::vector<message>{ok(r.stream.sid)});
  }
  EXPECT_EQ(s->device_stream_count(), 3u);
}

TEST_F(server_session_test, refused_device_stream_gets_error_and_is_not_kept) {
  obs.accept_streams = false;
  open();
  feed_hex(*s, mqtt_subscribe_docs);
  EXPECT_EQ(obs.offered.size(), 1u);
  EXPECT_EQ(drain(*s), std::vector<message>{error(0x2011)});
  EXPECT_EQ(s->find_device_stream(0x2011), nullptr);
  EXPECT_TRUE(obs.opened.empty());
  EXPECT_FALSE(s->deliver(0x2011, value("x")));
}

TEST_F(server_session_test, property_event_and_malformed_stream_requests_get_error_unasked) {
  open();
  const object mqtt_pub{{"event", "device_topic_publish"}, {"scope", "publish"}, {"topic", "t"}};
  auto with = [&](const char* key, value v) {
    object o = mqtt_pub;
    o.insert_or_assign(key, std::move(v));
    return value(o);
  };
  const std::vector<byte_buffer> requests = {
      from_hex(property_stream_linux),
      from_hex(event_stream_linux),
      frame({message_type::start_stream, 0x31, with("qos", 3), {}, value(8)}),
      frame({message_type::start_stream, 0x32, with("qos", -1), {}, value(8)}),
      frame({message_type::start_stream, 0x33, with("scope", "sideways"), {}, value(8)}),
      frame({message_type::start_stream, 0x34, with("scope", array{"publish"}), {}, value(8)}),
      frame({message_type::start_stream, 0x35, with("topic", ""), {}, value(8)}),
      frame({message_type::start_stream, 0x36, with("retained", 1), {}, value(8)}),
      frame({message_type::start_stream, 0x37, value(mqtt_pub), {}, value(5)}),  // not code 8
      frame({message_type::start_stream, 0x38, {}, {}, value(8)}),               // no PARAMETERS
      frame({message_type::start_stream,
             0x39,
             value(object{{"scope", array{}}, {"type", "mqtt"}}),
             {},
             value("t")}),
      frame({message_type::start_stream,
             0x3a,
             value(object{{"scope", array{"publish", "sideways"}}, {"type", "mqtt"}}),
             {},
             value("t")}),
      frame({message_type::start_stream, 0x3b, value(object{{"type", "event"}}), {}, value("t")}),
      frame({message_type::start_stream,
             0x3c,
             value(object{{"interval", 1000}}),
             {},
             value("temperature")}),  // a device resource stream aimed at the server
  };
  for (const auto& r : requests) {
    feed(*s, r);
    const auto out = drain(*s);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].type, message_type::error) << to_hex(r);
  }
  EXPECT_TRUE(obs.offered.empty());
  EXPECT_EQ(s->device_stream_count(), 0u);
  EXPECT_EQ(s->current_state(), state::authenticated);
}

TEST_F(server_session_test, publish_stream_data_goes_to_the_observer) {
  open();
  feed_hex(*s, std::string(mqtt_publish_linux) + std::string(mqtt_subscribe_linux));
  drain(*s);
  feed_hex(*s, stream_data_mqtt_publish);  // sid 0x2001 {"online":true}
  ASSERT_EQ(obs.published.size(), 1u);
  EXPECT_EQ(obs.published[0].first.topic, "devices/status");
  EXPECT_EQ(obs.published[0].second, value(object{{"online", true}}));
  // Data from the device on a subscribe-only stream has nowhere to go.
  feed(*s, frame({message_type::stream_data, 0x2003, {}, value("x"), {}}));
  EXPECT_EQ(obs.published.size(), 1u);
  EXPECT_EQ(s->counters().dropped_data, 1u);
  EXPECT_TRUE(s->output().empty()) << "STREAM_DATA is never answered";
}

TEST_F(server_session_test, deliver_sends_stream_data_on_subscribe_streams_only) {
  open();
  feed_hex(*s, std::string(mqtt_publish_linux) + std::string(mqtt_subscribe_linux) +
                   std::string(mqtt_pubsub_docs));
  drain(*s);
  EXPECT_TRUE(s->deliver(0x2003, value(object{{"payload", "on"}})));
  EXPECT_EQ(to_hex(s->take_output()), stream_data_mqtt_delivery);
  EXPECT_TRUE(s->deliver(0x2012, value(42)));
  EXPECT_EQ(drain(*s),
            (std::vector<message>{{message_type::stream_data, 0x2012, {}, value(42), {}}}));
  EXPECT_FALSE(s->deliver(0x2001, value(1))) << "publish-only stream";
  EXPECT_FALSE(s->deliver(0x5555, value(1))) << "unknown stream";
  EXPECT_TRUE(s->output().empty());
}

TEST(server_session, opened_callback_may_deliver_after_the_ok) {
  // Where a devserver sends retained messages: after the OK, never before it.
  struct retained_sender : recorder {
    session* s = nullptr;
    void on_device_stream_opened(const device_stream& d) override {
      s->deliver(d.sid, value(object{{"payload", "retained"}}));
    }
  } obs;
  session s(obs, t0);
  obs.s = &s;
  feed_hex(s, std::string(connect_hex) + std::string(mqtt_subscribe_linux));
  EXPECT_EQ(
      drain(s),
      (std::vector<message>{
          ok(0x1234),
          ok(0x2003),
          {message_type::stream_data, 0x2003, {}, value(object{{"payload", "retained"}}), {}}}));
}

TEST_F(server_session_test, device_stops_its_stream) {
  open();
  feed_hex(*s, mqtt_publish_linux);
  drain(*s);
  feed_hex(*s, stop_stream_device);
  EXPECT_EQ(to_hex(s->take_output()), "0103088140");
  ASSERT_EQ(obs.closed.size(), 1u);
  EXPECT_EQ(obs.closed[0].topic, "devices/status");
  EXPECT_EQ(s->find_device_stream(0x2001), nullptr);
  feed_hex(*s, stream_data_mqtt_publish);
  EXPECT_TRUE(obs.published.empty()) << "data after the STOP is dropped";
}

TEST_F(server_session_test, server_closes_a_device_stream) {
  open();
  feed_hex(*s, mqtt_subscribe_linux);
  drain(*s);
  EXPECT_TRUE(s->close_device_stream(0x2003));
  EXPECT_EQ(to_hex(s->take_output()), "0903088340");
  EXPECT_FALSE(s->deliver(0x2003, value(1)));
  EXPECT_FALSE(s->close_device_stream(0x2003));
  feed(*s, frame(ok(0x2003)));
  EXPECT_EQ(s->counters().ignored_answers, 0u);
  EXPECT_TRUE(obs.closed.empty()) << "no callback for the server's own STOP";
}

TEST_F(server_session_test, same_device_sid_again_replaces_the_stream) {
  open();
  feed_hex(*s, mqtt_publish_linux);
  feed(*s,
       frame({message_type::start_stream,
              0x2001,
              value(object{
                  {"event", "device_topic_publish"}, {"scope", "subscribe"}, {"topic", "other/#"}}),
              {},
              value(8)}));
  EXPECT_EQ(drain(*s), (std::vector<message>{ok(0x2001), ok(0x2001)}));
  ASSERT_EQ(obs.closed.size(), 1u);
  EXPECT_EQ(obs.closed[0].topic, "devices/status");
  EXPECT_EQ(s->find_device_stream(0x2001)->topic, "other/#");
}

// ---------------------------------------------------------------- device -> server RUN

TEST_F(server_session_test, server_run_linux_layout_without_stream_id_is_not_answered) {
  open();
  feed_hex(*s, write_bucket_linux);
  ASSERT_EQ(obs.runs.size(), 1u);
  EXPECT_EQ(obs.runs[0].code, server_resource::write_bucket);
  EXPECT_EQ(obs.runs[0].id, "env_bucket");
  EXPECT_EQ(obs.runs[0].payload, bucket_record);
  EXPECT_FALSE(obs.runs[0].stream_id);
  EXPECT_EQ(obs.runs[0].layout, session::run_layout::code_in_resource);
  EXPECT_TRUE(s->output().empty());
}

TEST_F(server_session_test, server_run_linux_layout_with_stream_id_is_answered) {
  open();
  feed_hex(*s, write_bucket_linux_confirm);
  ASSERT_EQ(obs.runs.size(), 1u);
  EXPECT_EQ(obs.runs[0].stream_id, 0x1234);
  EXPECT_EQ(obs.runs[0].id, "env_bucket");
  EXPECT_EQ(to_hex(s->take_output()), "010308b424");
}

TEST_F(server_session_test, server_run_embedded_layout_and_a_refusal) {
  open();
  obs.run_answer = {false, {}, value(object{{"error", "no such bucket"}})};
  feed_hex(*s, write_bucket_embedded);
  ASSERT_EQ(obs.runs.size(), 1u);
  EXPECT_EQ(obs.runs[0].code, server_resource::write_bucket);
  EXPECT_EQ(obs.runs[0].id, "env_bucket");
  EXPECT_EQ(obs.runs[0].payload, bucket_record);
  EXPECT_EQ(obs.runs[0].layout, session::run_layout::code_in_parameters);
  EXPECT_EQ(
      drain(*s),
      (std::vector<message>{
          {message_type::error, 0x1234, {}, value(object{{"error", "no such bucket"}}), {}}}));
}

TEST_F(server_session_test, server_run_answer_may_carry_a_payload) {
  open();
  obs.run_answer = {true, {}, value(object{{"interval", 60}})};
  feed(*s, frame({message_type::run, 7, value("config"), {}, value(1)}));  // READ_DEVICE_PROPERTY
  ASSERT_EQ(obs.runs.size(), 1u);
  EXPECT_EQ(obs.runs[0].code, server_resource::read_device_property);
  EXPECT_FALSE(obs.runs[0].payload);
  EXPECT_EQ(to_hex(s->take_output()), "010f08071ac188696e74657276616c1f3c");
}

TEST_F(server_session_test, call_device_id_array_comes_as_json) {
  open();
  feed(*s, frame({message_type::run, {}, value(array{"dev2", "led"}), value(true), value(3)}));
  ASSERT_EQ(obs.runs.size(), 1u);
  EXPECT_EQ(obs.runs[0].code, server_resource::call_device);
  EXPECT_EQ(obs.runs[0].id, R"(["dev2","led"])");
}

TEST_F(server_session_test, other_device_runs_are_refused_unasked) {
  open();
  const std::vector<message> runs = {
      {message_type::run, 1, value("x"), {}, value(8)},           // SUBSCRIBE_EVENT is no RUN
      {message_type::run, 2, value("x"), {}, value(0)},           // legacy NONE
      {message_type::run, 3, value("x"), {}, value(99)},          // unknown code
      {message_type::run, 4, value(object{}), {}, value("led")},  // a path: not a server resource
  };
  for (const auto& r : runs) feed(*s, frame(r));
  EXPECT_EQ(drain(*s), (std::vector<message>{error(1), error(2), error(3), error(4)}));
  feed(*s, frame({message_type::run, {}, {}, {}, value(99)}));  // no sid: no answer either way
  EXPECT_TRUE(s->output().empty());
  EXPECT_TRUE(obs.runs.empty());
}

TEST_F(server_session_test, describe_from_the_device_is_refused) {
  open();
  feed(*s, frame({message_type::describe, 5, {}, {}, {}}));
  EXPECT_EQ(drain(*s), std::vector<message>{error(5)});
}

// ---------------------------------------------------------------- unknown types, closing

TEST_F(server_session_test, unknown_message_types_are_skipped) {
  open();
  feed_hex(*s,
           "0000"
           "0b00"
           "7f020801"
           "0b0401020304"
           "0500");
  EXPECT_EQ(s->current_state(), state::authenticated);
  EXPECT_EQ(s->counters().unknown_frames, 4u);
  EXPECT_EQ(to_hex(s->take_output()), "0500") << "the frame after them is still handled";
}

TEST_F(server_session_test, disconnect_from_the_device_closes_and_clears_everything) {
  open();
  s->run("led", {}, {}, t0);
  s->start_stream("temperature", 1000);
  feed_hex(*s, mqtt_subscribe_linux);
  drain(*s);
  EXPECT_EQ(feed_hex(*s,
                     "0400"
                     "0500"),
            state::closed);
  EXPECT_EQ(s->reason(), close_reason::peer_disconnect);
  EXPECT_TRUE(s->output().empty()) << "nothing after the DISCONNECT is handled";
  EXPECT_EQ(s->pending_requests(), 0u);
  EXPECT_FALSE(s->has_stream(1));
  EXPECT_EQ(s->device_stream_count(), 0u);
  EXPECT_FALSE(s->next_request_deadline());
  EXPECT_FALSE(s->run("led", {}, {}, t0));
  EXPECT_FALSE(s->deliver(0x2003, value(1)));
  EXPECT_TRUE(s->expire_requests(t0 + 1h).empty());
  EXPECT_EQ(s->username(), "user") << "kept for the log";
}

TEST_F(server_session_test, disconnect_with_a_stream_id_is_acknowledged) {
  open();
  EXPECT_EQ(feed_hex(*s, "04020801"), state::closed);  // msg.disconnect.sid1
  EXPECT_EQ(drain(*s), std::vector<message>{ok(1)});
}

TEST_F(server_session_test, server_disconnect_queues_disconnect_and_closes) {
  open();
  s->disconnect();
  EXPECT_EQ(s->current_state(), state::closed);
  EXPECT_EQ(s->reason(), close_reason::local);
  EXPECT_EQ(to_hex(s->take_output()), "0400");
  s->disconnect();
  EXPECT_TRUE(s->output().empty());
}

TEST_F(server_session_test, close_from_a_callback_stops_the_frames_behind_it) {
  open();
  obs.while_offered = [&](const device_stream&) { s->close(close_reason::local, "enough"); };
  EXPECT_EQ(feed_hex(*s, std::string(mqtt_publish_linux) + "0500"), state::closed);
  EXPECT_EQ(s->close_message(), "enough");
  EXPECT_TRUE(s->output().empty()) << "no OK for the stream, no keep-alive echo";
  EXPECT_EQ(s->device_stream_count(), 0u);
}

// ---------------------------------------------------------------- chunking

// A whole conversation gives the same frames and events however it is cut.
TEST(server_session, any_split_of_the_input_gives_the_same_output) {
  const byte_buffer conversation =
      from_hex(connect_hex) + from_hex("0500") + from_hex(mqtt_publish_linux) +
      from_hex(mqtt_subscribe_docs) + from_hex(stream_data_mqtt_publish) +
      from_hex(write_bucket_embedded) + from_hex("0b0401020304") + from_hex(write_bucket_linux) +
      frame({message_type::stream_data, 0x2001, {}, value(std::string(300, 'z')), {}}) +
      from_hex(stop_stream_device) + from_hex("0500");

  auto run_once = [&](const std::vector<std::size_t>& cuts) {
    recorder obs;
    session s(obs, t0);
    std::size_t pos = 0;
    for (std::size_t cut : cuts) {
      const std::size_t n = std::min(cut, conversation.size() - pos);
      s.receive(byte_view(conversation).subspan(pos, n), t0);
      pos += n;
    }
    s.receive(byte_view(conversation).subspan(pos), t0);
    EXPECT_EQ(obs.published.size(), 2u);
    EXPECT_EQ(obs.runs.size(), 2u);
    EXPECT_EQ(obs.closed.size(), 1u);
    return s.take_output();
  };
  const byte_buffer whole = run_once({});
  session::observer unused;
  session reader(unused, t0);
  reader.output() = whole;
  EXPECT_EQ(drain(reader), (std::vector<message>{ok(0x1234), bare(message_type::keep_alive),
                                                 ok(0x2001), ok(0x2011), ok(0x1234), ok(0x2001),
                                                 bare(message_type::keep_alive)}));
  std::mt19937 rng(4242);
  for (int round = 0; round < 100; ++round) {
    std::vector<std::size_t> cuts;
    for (std::size_t total = 0; total < conversation.size();) {
      cuts.push_back(std::uniform_int_distribution<std::size_t>(0, 23)(rng));
      total += cuts.back();
    }
    ASSERT_EQ(to_hex(run_once(cuts)), to_hex(whole)) << "round " << round;
  }
}

}  // namespace
