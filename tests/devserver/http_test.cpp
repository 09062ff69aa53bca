// The devserver's HTTP and WebSocket API over real loopback sockets: the
// server, the GCD merger and libwebsockets on the test's loop, the hand-made
// device on the IOTMP side (so every answer, refusal and silence is under the
// test's control), and independent HTTP/WebSocket clients on other threads.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "devserver/http_client.hpp"
#include "devserver/test_device.hpp"
#include "iotmp_gateway/devserver/http_server.hpp"
#include "iotmp_gateway/devserver/registry.hpp"
#include "iotmp_gateway/devserver/server.hpp"
#include "iotmp_gateway/devserver/stream_merger.hpp"
#include "iotmp_gateway/devserver/topic_table.hpp"
#include "iotmp_gateway/pson/json.hpp"
#include "support/loop.hpp"

using namespace devserver_test;
namespace ds = iotgw::devserver;
using http_test::http_response;
using http_test::ws_client;
using pson::object;
using pson::value;
using std::chrono::milliseconds;

namespace {

value parse(const std::string& text) {
  value v;
  if (pson::parse_json(text, v)) throw std::runtime_error("not JSON: " + text);
  return v;
}
std::string field(const std::string& json, std::string_view key) {
  const auto v = parse(json);
  const value* f = v.find(key);
  return f == nullptr ? "<none>" : (f->is_string() ? f->as_string() : pson::to_json(*f));
}

class http_api : public test_support::loop_test {
 protected:
  void SetUp() override { start(); }

  void start(milliseconds request_timeout = 10s,
             const std::function<void(ds::http_options&)>& tweak = {}) {
    ds::server_options o;
    o.port = 0;
    o.allow_any = true;
    o.request_timeout = request_timeout;
    server_ = std::make_unique<ds::server>(loop_, registry_, o);
    ASSERT_TRUE(server_->start().ok());
    merger_ = std::make_unique<ds::stream_merger>(registry_);
    ds::http_options h;
    h.port = 0;
    h.log = [this](int priority, std::string_view text) {
      logs_.push_back("<" + std::to_string(priority) + ">" + std::string(text));
    };
    if (tweak) tweak(h);
    http_ = std::make_unique<ds::http_server>(loop_, registry_, *merger_, h);
    const auto st = http_->start();
    ASSERT_TRUE(st.ok()) << st.message;
    ASSERT_NE(http_->port(), 0);
  }

  void TearDown() override {
    stop();
    loop_test::TearDown();  // checks that the loop closes with nothing left open
  }

  void stop() {
    sockets_.clear();
    devices_.clear();
    stream_ids_.clear();
    // Two-phase lws shutdown: close, then the destructor frees the context
    // once lws' handles are closed.
    if (http_) http_->close();
    http_.reset();
    merger_.reset();
    server_.reset();
  }

  // Runs the loop until cond holds; a ticker wakes it for conditions fed by
  // the client threads.
  bool wait(const std::function<bool()>& cond, milliseconds deadline = 10s) {
    auto tick = iotgw::uv::timer::create(loop_);
    tick->start(1ms, 1ms, [] {});
    const bool ok = run_until(loop_, cond, deadline);
    tick->close();
    loop_.run(UV_RUN_NOWAIT);
    return ok;
  }

  http_response get(const std::string& target, std::vector<std::string> headers = {}) {
    const auto port = http_->port();
    return http_test::off_loop(
        loop_, [=] { return http_test::request(port, "GET", target, "", headers); });
  }
  http_response post(const std::string& target, const std::string& body,
                     std::vector<std::string> headers = {}) {
    const auto port = http_->port();
    return http_test::off_loop(
        loop_, [=] { return http_test::request(port, "POST", target, body, headers); });
  }

  // A WebSocket, once its handshake is over (open or refused).
  ws_client& ws(const std::string& target, std::vector<std::string> headers = {}, int rcvbuf = 0) {
    sockets_.push_back(
        std::make_unique<ws_client>(http_->port(), target, std::move(headers), rcvbuf));
    ws_client& c = *sockets_.back();
    EXPECT_TRUE(wait([&] { return c.handshake_status() != 0; })) << "no handshake answer";
    return c;
  }

  // A connected device that records everything; `answers` decides RUNs.
  test_device& device(const std::string& user = "alice", const std::string& name = "gw01") {
    devices_.push_back(std::make_unique<test_device>(loop_, server_->port()));
    test_device& d = *devices_.back();
    EXPECT_TRUE(d.connect_and_authenticate(user, name));
    EXPECT_TRUE(wait([&] { return registry_.connected({user, name}); }));
    return d;
  }

  // Answers every START_STREAM with OK and remembers its stream id by resource.
  void accept_streams(test_device& d) {
    d.on_message = [this, &d](const message& m) {
      if (m.type == message_type::start_stream) {
        stream_ids_[m.resource->as_string()] = *m.stream_id;
        d.ok(*m.stream_id);
      } else if (m.type == message_type::stop_stream) {
        d.ok(*m.stream_id);
      }
    };
  }

  std::size_t frames_of(const ws_client& c) const { return c.count(); }

  bool logged(std::string_view part) const {
    for (const auto& l : logs_) {
      if (l.find(part) != std::string::npos) return true;
    }
    return false;
  }

  const std::string dev = "/v3/users/alice/devices/gw01";
  ds::topic_table topics_;
  ds::device_registry registry_{topics_};
  std::unique_ptr<ds::server> server_;
  std::unique_ptr<ds::stream_merger> merger_;
  std::unique_ptr<ds::http_server> http_;
  std::vector<std::unique_ptr<test_device>> devices_;
  std::vector<std::unique_ptr<ws_client>> sockets_;
  std::map<std::string, std::uint16_t> stream_ids_;
  std::vector<std::string> logs_;
};

// ---- HTTP --------------------------------------------------------------------------

TEST_F(http_api, get_runs_the_resource_and_answers_its_json) {
  auto& d = device();
  d.on_message = [&](const message& m) {
    if (m.type == message_type::run) d.ok(*m.stream_id, value(object{{"celsius", 21.5}}));
  };
  const auto r = get(dev + "/resources/temperature");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"celsius":21.5})");
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  const auto run = d.next(message_type::run);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->resource, value("temperature"));
  EXPECT_FALSE(run->payload);  // GET: no input
}

TEST_F(http_api, post_runs_with_the_json_body_as_input) {
  auto& d = device();
  d.on_message = [&](const message& m) {
    if (m.type == message_type::run) d.ok(*m.stream_id);  // a write: no output
  };
  const auto r = post(dev + "/resources/lamp", R"({"state": "ON", "brightness": 128})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "null");
  const auto run = d.next(message_type::run);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->payload, value(object{{"brightness", 128}, {"state", "ON"}}));
}

TEST_F(http_api, resource_names_keep_slashes_and_are_decoded_once) {
  auto& d = device();
  d.on_message = [&](const message& m) {
    if (m.type == message_type::run) d.ok(*m.stream_id, *m.resource);  // echoes the name
  };
  EXPECT_EQ(get(dev + "/resources/rooms/kitchen/temp").body, R"("rooms/kitchen/temp")");
  EXPECT_EQ(get(dev + "/resources/rooms%2Fliving%20room/temp").body, R"("rooms/living room/temp")");
  EXPECT_EQ(get(dev + "/resources/$gateway").body, R"("$gateway")");
  // %25 is '%': "%2541" names "%41", not "A".
  EXPECT_EQ(get(dev + "/resources/odd%2541%3Fname").body, R"("odd%41?name")");
}

TEST_F(http_api, offline_device_is_503_with_a_json_error) {
  const auto r = get("/v3/users/alice/devices/nobody/resources/temperature");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(field(r.body, "status"), "offline");
  EXPECT_EQ(field(r.body, "error"), "the device alice/nobody is not connected");
  EXPECT_EQ(post("/v3/users/alice/devices/nobody/resources/x", "1").status, 503);
  EXPECT_EQ(get("/v3/users/alice/devices/nobody/api").status, 503);
}

TEST_F(http_api, refused_request_is_404_with_the_devices_reason) {
  auto& d = device();
  d.on_message = [&](const message& m) {
    if (m.type == message_type::run)
      d.error(*m.stream_id, value(object{{"error", "unknown resource"}}));
  };
  const auto r = get(dev + "/resources/nothing");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(field(r.body, "error"), "unknown resource");
  EXPECT_EQ(field(r.body, "status"), "refused");
}

TEST_F(http_api, silent_device_is_504) {
  stop();
  start(300ms);  // the registry's request timeout
  auto& d = device();
  const auto r = get(dev + "/resources/slow");
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(field(r.body, "status"), "timeout");
  EXPECT_TRUE(d.next(message_type::run));  // it was asked
}

TEST_F(http_api, device_gone_before_answering_is_503) {
  auto& d = device();
  d.on_message = [&](const message& m) {
    if (m.type == message_type::run) d.close();
  };
  const auto r = get(dev + "/resources/temperature");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(field(r.body, "status"), "disconnected");
}

TEST_F(http_api, malformed_requests) {
  auto& d = device();
  // Malformed JSON: 400 naming the place, and nothing reaches the device.
  auto r = post(dev + "/resources/lamp", R"({"state": ON})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(field(r.body, "error").find("malformed JSON body at byte 10"), std::string::npos)
      << r.body;
  r = post(dev + "/resources/lamp", "[1, 2");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(d.count(message_type::run), 0u);
  // Unknown endpoints and methods.
  EXPECT_EQ(get("/v3/nothing").status, 404);
  EXPECT_EQ(get("/v3/users/alice/gadgets/gw01").status, 404);
  EXPECT_EQ(get("/v3/users//devices").status, 404);  // lws folds "//": no user
  EXPECT_EQ(post("/v3/devices", "{}").status, 405);
  const auto del = http_test::off_loop(loop_, [port = http_->port(), this] {
    return http_test::request(port, "DELETE", dev + "/resources/lamp");
  });
  EXPECT_EQ(del.status, 405);
  // A body over the limit (it could never fit in an IOTMP frame).
  r = post(dev + "/resources/lamp", "\"" + std::string(300 * 1024, 'x') + "\"");
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(d.count(message_type::run), 0u);
  // Publishing needs a topic name and a value.
  EXPECT_EQ(post("/v3/topics/a/%23", "1").status, 400);
  EXPECT_EQ(post("/v3/topics/a/b", "").status, 400);
}

TEST_F(http_api, post_from_another_origin_is_refused) {
  device();
  const auto r = post(dev + "/resources/lamp", "1", {"origin: http://evil.example"});
  EXPECT_EQ(r.status, 403) << r.body;
  // The page's own origin is fine.
  const auto same =
      post("/v3/topics/a/b", "1", {"origin: http://127.0.0.1:" + std::to_string(http_->port())});
  EXPECT_EQ(same.status, 200) << same.body;
}

TEST_F(http_api, describe_the_api_and_one_resource) {
  auto& d = device();
  d.on_message = [&](const message& m) {
    if (m.type != message_type::describe) return;
    if (m.resource) {
      d.ok(*m.stream_id, value(object{{"out", 21.5}}));
    } else {
      d.ok(*m.stream_id,
           value(object{{"temperature", object{{"fn", 3}}}, {"lamp", object{{"fn", 4}}}}));
    }
  };
  auto r = get(dev + "/api");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"lamp":{"fn":4},"temperature":{"fn":3}})");
  r = get(dev + "/resources");  // the same listing
  EXPECT_EQ(r.body, R"({"lamp":{"fn":4},"temperature":{"fn":3}})");
  r = get(dev + "/api/temperature");
  EXPECT_EQ(r.body, R"({"out":21.5})");
  ASSERT_TRUE(d.next(message_type::describe));
  ASSERT_TRUE(d.next(message_type::describe));
  const auto one = d.next(message_type::describe);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->resource, value("temperature"));
}

TEST_F(http_api, device_lists_show_the_connected_state) {
  auto& a = device("alice", "gw01");
  device("bob", "pi");
  auto all = parse(get("/v3/devices").body);
  ASSERT_TRUE(all.is_array());
  ASSERT_EQ(all.as_array().size(), 2u);
  EXPECT_EQ(*all.as_array()[0].find("device"), value("gw01"));
  EXPECT_EQ(*all.as_array()[0].find("connected"), value(true));
  auto alice = parse(get("/v3/users/alice/devices").body);
  ASSERT_EQ(alice.as_array().size(), 1u);
  EXPECT_EQ(*alice.as_array()[0].find("user"), value("alice"));
  EXPECT_TRUE(alice.as_array()[0].find("connected_since")->is_string());

  a.close();
  ASSERT_TRUE(wait([&] { return !registry_.connected({"alice", "gw01"}); }));
  alice = parse(get("/v3/users/alice/devices").body);
  EXPECT_EQ(*alice.as_array()[0].find("connected"), value(false));
  const auto one = get(dev);
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(field(one.body, "connected"), "false");
  EXPECT_EQ(get("/v3/users/alice/devices/never").status, 404);
  EXPECT_EQ(get("/v3/users/carol/devices").body, "[]");
}

TEST_F(http_api, page_is_served_at_the_root) {
  const auto r = get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("<title>iotmp-devserver</title>"), std::string::npos);
  EXPECT_EQ(get("/index.html").body, r.body);
}

// ---- topics ------------------------------------------------------------------------

TEST_F(http_api, topics_latest_live_and_publish_to_subscribe_streams) {
  auto& d = device();
  d.on_message = [&](const message& m) {
    if (m.type == message_type::start_stream) d.ok(*m.stream_id);
  };
  EXPECT_EQ(get("/v3/topics/gw01/alerts/smoke").status, 404);
  // The device opens a publish stream and a subscribe stream (MQTT, docs scheme).
  d.send(spec_stream(0x2001, "gw01/alerts/smoke", {"publish"}));
  d.send(spec_stream(0x2002, "gw01/zigbee/+/set", {"subscribe"}));
  ASSERT_TRUE(wait([&] { return d.count(message_type::ok) >= 3; }));  // CONNECT + 2 streams

  auto& live = ws("/v3/topics/gw01/%23");
  ASSERT_TRUE(live.open());
  d.stream_data(0x2001, value("smoke detected"));
  ASSERT_TRUE(wait([&] { return live.count() >= 1; }));
  EXPECT_EQ(live.messages()[0], R"({"topic":"gw01/alerts/smoke","value":"smoke detected"})");

  EXPECT_EQ(get("/v3/topics/gw01/alerts/smoke").body, R"("smoke detected")");
  const auto listing = parse(get("/v3/topics").body);
  ASSERT_EQ(listing.as_array().size(), 1u);
  EXPECT_EQ(*listing.as_array()[0].find("messages"), value(1));
  EXPECT_EQ(get("/v3/topics/gw01/%23").status, 200);  // a filter lists its matches

  // A late subscriber gets what is there first.
  auto& late = ws("/v3/topics/%23");
  ASSERT_TRUE(wait([&] { return late.count() >= 1; }));
  EXPECT_EQ(late.messages()[0], R"({"topic":"gw01/alerts/smoke","value":"smoke detected"})");

  // POST reaches the device's subscribe stream as {"topic", "payload"}.
  const auto r = post("/v3/topics/gw01/zigbee/lamp/set", R"({"state":"ON"})");
  EXPECT_EQ(r.status, 200) << r.body;
  // The device's subscribe stream and the two sockets above.
  EXPECT_EQ(field(r.body, "subscribers"), "3");
  const auto data = d.next(message_type::stream_data);
  ASSERT_TRUE(data);
  EXPECT_EQ(data->stream_id, 0x2002);
  EXPECT_EQ(data->payload,
            value(object{{"payload", object{{"state", "ON"}}}, {"topic", "gw01/zigbee/lamp/set"}}));
  // And the live socket saw the publish too.
  ASSERT_TRUE(wait([&] { return live.count() >= 1 && late.count() >= 2; }));

  auto& bad = ws("/v3/topics/a/%23/b");
  ASSERT_TRUE(wait([&] { return bad.closed().has_value(); }));
  EXPECT_EQ(bad.closed()->code, 1008);
}

// ---- WebSocket streams ---------------------------------------------------------------

TEST_F(http_api, websocket_event_stream_of_one_resource) {
  auto& d = device();
  accept_streams(d);
  auto& c = ws(dev + "/resources/temperature");
  ASSERT_TRUE(c.open());
  const auto start = d.next(message_type::start_stream);
  ASSERT_TRUE(start);
  EXPECT_EQ(start->resource, value("temperature"));
  EXPECT_FALSE(start->parameters);  // an event stream
  d.stream_data(*start->stream_id, value(21.5));
  d.stream_data(*start->stream_id, value(object{{"celsius", 22}}));
  ASSERT_TRUE(wait([&] { return c.count() >= 2; }));
  EXPECT_EQ(c.messages(), (std::vector<std::string>{"21.5", R"({"celsius":22})"}));
  const auto state = merger_->state({"alice", "gw01"}, "temperature");
  ASSERT_TRUE(state);
  EXPECT_TRUE(state->event_stream);
  EXPECT_EQ(state->event_consumers, 1u);

  // Closing the socket ends the device stream.
  sockets_.clear();
  EXPECT_TRUE(d.next(message_type::stop_stream));
  EXPECT_TRUE(wait([&] { return !merger_->state({"alice", "gw01"}, "temperature"); }));
}

TEST_F(http_api, websocket_interval_in_seconds_may_be_fractional) {
  auto& d = device();
  accept_streams(d);
  auto& c = ws(dev + "/resources/temperature?interval=0.5");
  ASSERT_TRUE(c.open());
  const auto start = d.next(message_type::start_stream);
  ASSERT_TRUE(start);
  EXPECT_EQ(start->parameters, value(object{{"interval", 500}}));
  EXPECT_EQ(merger_->state({"alice", "gw01"}, "temperature")->interval, milliseconds(500));

  for (const auto* bad : {"?interval=0", "?interval=soon", "?interval=-1"}) {
    auto& b = ws(dev + "/resources/temperature" + bad);
    ASSERT_TRUE(wait([&] { return b.closed().has_value(); })) << bad;
    EXPECT_EQ(b.closed()->code, 1008) << bad;
    EXPECT_NE(b.closed()->reason.find("not a number of seconds above 0"), std::string::npos);
  }
  auto& nowhere = ws("/v3/nothing");
  ASSERT_TRUE(wait([&] { return nowhere.closed().has_value(); }));
  EXPECT_EQ(nowhere.closed()->code, 1008);
}

TEST_F(http_api, websocket_refused_stream_closes_with_4404) {
  auto& d = device();
  d.on_message = [&](const message& m) {
    if (m.type == message_type::start_stream) d.error(*m.stream_id);
  };
  auto& c = ws(dev + "/resources/nothing?interval=1");
  ASSERT_TRUE(wait([&] { return c.closed().has_value(); }));
  EXPECT_EQ(c.closed()->code, 4404);
  EXPECT_EQ(c.closed()->reason, "the device refused to stream nothing");
}

TEST_F(http_api, multiplexed_websocket_subscribes_and_unsubscribes) {
  auto& d = device();
  accept_streams(d);
  auto& c = ws(dev + "/resources");
  ASSERT_TRUE(c.open());
  c.send_text(R"({"resource": "temperature", "interval": 2, "enabled": true})");
  c.send_text(R"({"resource": "zigbee/kitchen", "enabled": true})");
  ASSERT_TRUE(wait([&] { return stream_ids_.size() == 2; }));
  EXPECT_EQ(merger_->state({"alice", "gw01"}, "temperature")->interval, milliseconds(2000));
  EXPECT_TRUE(merger_->state({"alice", "gw01"}, "zigbee/kitchen")->event_stream);
  d.stream_data(stream_ids_["temperature"], value(21.5));
  d.stream_data(stream_ids_["zigbee/kitchen"], value(object{{"battery", 97}}));
  ASSERT_TRUE(wait([&] { return c.count() >= 2; }));
  EXPECT_EQ(c.messages()[0], R"({"resource":"temperature","value":21.5})");
  EXPECT_EQ(c.messages()[1], R"({"resource":"zigbee/kitchen","value":{"battery":97}})");

  // Malformed frames get an error and change nothing.
  c.send_text("{nope");
  c.send_text(R"({"interval": 1})");
  c.send_text(R"({"resource": "x", "interval": -2})");
  ASSERT_TRUE(wait([&] { return c.count() >= 5; }));
  EXPECT_NE(c.messages()[2].find("not JSON"), std::string::npos);
  EXPECT_NE(c.messages()[3].find("\\\"resource\\\" must be a non-empty string"), std::string::npos)
      << c.messages()[3];
  EXPECT_NE(c.messages()[4].find("0 or above"), std::string::npos);

  // A new interval re-STARTs; enabled:false stops.
  c.send_text(R"({"resource": "temperature", "interval": 0.25})");
  ASSERT_TRUE(wait([&] {
    const auto s = merger_->state({"alice", "gw01"}, "temperature");
    return s && s->interval == milliseconds(250);
  }));
  c.send_text(R"({"resource": "zigbee/kitchen", "enabled": false})");
  ASSERT_TRUE(wait([&] { return !merger_->state({"alice", "gw01"}, "zigbee/kitchen"); }));
  EXPECT_TRUE(d.next(message_type::stop_stream));

  // A refused resource reports on the socket, which stays open.
  d.on_message = [&](const message& m) {
    if (m.type == message_type::start_stream) d.error(*m.stream_id);
  };
  c.send_text(R"({"resource": "nothing"})");
  ASSERT_TRUE(wait([&] { return c.count() >= 6; }));
  EXPECT_EQ(field(c.messages()[5], "status"), "refused");
  EXPECT_EQ(field(c.messages()[5], "resource"), "nothing");
  EXPECT_TRUE(c.open());
  c.send_binary("x");
  ASSERT_TRUE(wait([&] { return c.closed().has_value(); }));
  EXPECT_EQ(c.closed()->code, 1003);
}

TEST_F(http_api, consumers_at_different_intervals_share_one_device_stream_at_the_gcd) {
  auto& d = device();
  accept_streams(d);
  const ds::device_id gw{"alice", "gw01"};
  auto interval = [&] { return merger_->state(gw, "temperature")->interval; };
  auto& six = ws(dev + "/resources/temperature?interval=0.6");
  ASSERT_TRUE(wait([&] { return stream_ids_.size() == 1; }));
  EXPECT_EQ(interval(), milliseconds(600));
  auto& nine = ws(dev + "/resources/temperature?interval=0.9");
  ASSERT_TRUE(wait([&] { return interval() == milliseconds(300); }));
  EXPECT_EQ(merger_->state(gw, "temperature")->interval_consumers, 2u);
  // Every START_STREAM went out on the same stream id: one device stream.
  EXPECT_EQ(d.count(message_type::start_stream), 2u);
  std::set<std::uint16_t> sids;
  for (const auto& m : d.received()) {
    if (m.type == message_type::start_stream) sids.insert(*m.stream_id);
  }
  EXPECT_EQ(sids.size(), 1u);

  // One leaves: the stream goes back to the other's period.
  const auto* six_ptr = &six;
  sockets_.erase(std::find_if(sockets_.begin(), sockets_.end(),
                              [&](const auto& p) { return p.get() == six_ptr; }));
  ASSERT_TRUE(wait([&] { return interval() == milliseconds(900); }));
  EXPECT_TRUE(nine.open());
  sockets_.clear();
  ASSERT_TRUE(wait([&] { return !merger_->state(gw, "temperature"); }));
  EXPECT_TRUE(d.next(message_type::stop_stream));
}

TEST_F(http_api, slow_websocket_reader_drops_oldest_samples_in_bounded_memory) {
  stop();
  start(10s, [](ds::http_options& h) {
    h.ws_queue_frames = 32;
    h.ws_queue_bytes = 64 * 1024;
  });
  auto& d = device();
  accept_streams(d);
  auto& c = ws(dev + "/resources", {}, 4096);  // small receive buffer
  ASSERT_TRUE(c.open());
  c.send_text(R"({"resource": "camera"})");
  ASSERT_TRUE(wait([&] { return stream_ids_.count("camera") == 1; }));
  c.pause();
  const std::string blob(8 * 1024, 'x');
  std::size_t peak = 0;
  for (int i = 0; i < 400; ++i) {
    d.stream_data(stream_ids_["camera"], value(object{{"n", i}, {"blob", blob}}));
    if (i % 20 == 0) loop_.run(UV_RUN_NOWAIT);
    peak = std::max(peak, http_->queued_frames());
  }
  // Everything the device sent has been through the server: written to the
  // socket, dropped, or queued.
  ASSERT_TRUE(wait([&] {
    const auto& st = http_->stats();
    peak = std::max(peak, http_->queued_frames());
    return st.samples_sent + st.samples_dropped + http_->queued_frames() >= 400;
  }));
  EXPECT_LE(peak, 32u);
  EXPECT_LE(http_->queued_frames(), 32u);
  EXPECT_GT(http_->stats().samples_dropped, 0u);

  c.resume();
  // The newest sample arrives (oldest go first), and a frame says how many were lost.
  ASSERT_TRUE(wait(
      [&] {
        const auto m = c.messages();
        return !m.empty() && m.back().find("\"n\":399") != std::string::npos;
      },
      20s));
  bool told = false;
  for (const auto& m : c.messages()) told = told || m.find("\"dropped\":") != std::string::npos;
  EXPECT_TRUE(told);
  EXPECT_LT(c.count(), 400u);
}

TEST_F(http_api, websocket_from_another_origin_is_refused) {
  device();
  auto& evil = ws(dev + "/resources/temperature", {"origin: http://evil.example"});
  EXPECT_NE(evil.handshake_status(), 101);
  auto& same = ws(dev + "/resources/temperature",
                  {"origin: http://127.0.0.1:" + std::to_string(http_->port())});
  EXPECT_EQ(same.handshake_status(), 101);
}

TEST_F(http_api, stops_cleanly_with_open_sockets_and_requests_in_flight) {
  auto& d = device();
  accept_streams(d);
  auto& c = ws(dev + "/resources/temperature?interval=1");
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(wait([&] { return stream_ids_.size() == 1; }));
  // A RUN the device never answers, from a client on another thread.
  auto pending = std::async(std::launch::async, [port = http_->port(), this] {
    try {
      return http_test::request(port, "GET", dev + "/resources/slow").status;
    } catch (const std::exception&) {
      return -1;
    }
  });
  ASSERT_TRUE(wait([&] { return d.count(message_type::run) == 1; }));
  http_->close();
  // The socket sees the server go; the request's connection is closed.
  ASSERT_TRUE(wait([&] { return c.ended(); }));
  ASSERT_TRUE(wait([&] { return pending.wait_for(0s) == std::future_status::ready; }));
  EXPECT_NE(pending.get(), 200);
  EXPECT_EQ(merger_->consumers(), 0u);
  http_.reset();  // TearDown checks the loop closes with nothing left open
}

TEST_F(http_api, busy_port_is_an_error) {
  ds::http_options h;
  h.port = http_->port();
  ds::http_server second(loop_, registry_, *merger_, h);
  const auto st = second.start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message.find("cannot listen"), std::string::npos) << st.message;
}

}  // namespace
