// The devserver over real loopback sockets, driven by a hand-made device.
#include "iotmp_gateway/devserver/server.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "devserver/test_device.hpp"
#include "iotmp_gateway/devserver/registry.hpp"
#include "iotmp_gateway/devserver/topic_table.hpp"
#include "iotmp_gateway/devserver/watcher.hpp"
#include "net/net_support.hpp"
#include "support/loop.hpp"

using namespace devserver_test;
namespace ds = iotgw::devserver;
using ds::device_event;
using ds::device_id;
using ds::request_result;
using ds::request_status;
using iotgw::byte_buffer;
using pson::array;
using pson::object;
using pson::value;

namespace {

class devserver : public test_support::loop_test {
 protected:
  void TearDown() override {
    // Their callbacks point into the finished test body; closing the server
    // below reports disconnects.
    for (const auto id : listeners_) registry_.remove_listener(id);
    server_.reset();
    loop_test::TearDown();
  }

  ds::server& start(const std::function<void(ds::server_options&)>& tweak = {}) {
    ds::server_options o;
    o.port = 0;
    o.allow_any = true;
    o.log = [this](int priority, std::string_view text) {
      logs_.push_back("<" + std::to_string(priority) + ">" + std::string(text));
    };
    if (tweak) tweak(o);
    tls_ = o.tls;
    server_ = std::make_unique<ds::server>(loop_, registry_, o);
    const auto st = server_->start();
    EXPECT_TRUE(st.ok()) << st.message;
    return *server_;
  }

  std::unique_ptr<test_device> new_device() {
    return std::make_unique<test_device>(loop_, server_->port(), tls_client_);
  }

  // A connected, authenticated device.
  std::unique_ptr<test_device> device(const std::string& user = "alice",
                                      const std::string& name = "gw01") {
    auto d = new_device();
    EXPECT_TRUE(d->connect_and_authenticate(user, name)) << d->connect_error();
    EXPECT_TRUE(run_until(loop_, [&] { return registry_.connected({user, name}); }));
    return d;
  }

  void on_event(ds::device_registry::event_callback cb) {
    listeners_.push_back(registry_.add_listener(std::move(cb)));
  }

  bool wait(const std::function<bool()>& cond, std::chrono::milliseconds deadline = 5s) {
    return run_until(loop_, cond, deadline);
  }

  bool logged(std::string_view part) const {
    for (const auto& l : logs_) {
      if (l.find(part) != std::string::npos) return true;
    }
    return false;
  }

  static std::string resource_of(const message& m) {
    return m.resource && m.resource->is_string() ? m.resource->as_string() : "";
  }

  ds::topic_table topics_;
  ds::device_registry registry_{topics_};
  std::unique_ptr<ds::server> server_;
  std::shared_ptr<net::tls_context> tls_;
  std::shared_ptr<net::tls_context> tls_client_;
  std::vector<std::string> logs_;
  std::vector<ds::device_registry::listener_id> listeners_;
  const device_id alice{"alice", "gw01"};
};

// --- authentication -----------------------------------------------------------

TEST_F(devserver, allow_any_accepts_and_lists_the_device) {
  start();
  std::vector<device_event::kind> events;
  on_event([&](const device_event& ev) { events.push_back(ev.type); });
  auto d = device();
  const auto all = registry_.devices();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, alice);
  EXPECT_TRUE(all[0].connected);
  EXPECT_EQ(all[0].connections, 1u);
  EXPECT_NE(all[0].peer.find("127.0.0.1:"), std::string::npos);
  EXPECT_EQ(events, std::vector<device_event::kind>{device_event::kind::connected});
  ASSERT_EQ(server_->connect_attempts().size(), 1u);
  EXPECT_TRUE(server_->connect_attempts()[0].accepted);
  EXPECT_EQ(server_->connect_attempts()[0].user, "alice");
  EXPECT_EQ(server_->open_connections(), 1u);
  // The OK answers the CONNECT's stream id.
  ASSERT_FALSE(d->received().empty());
  EXPECT_EQ(d->received()[0].type, message_type::ok);
  EXPECT_EQ(d->received()[0].stream_id, 1);
}

TEST_F(devserver, users_file_accepts_listed_devices_only) {
  start([](ds::server_options& o) {
    o.allow_any = false;
    o.users = std::make_shared<const ds::credential_store>(
        ds::credential_store::parse("alice gw01 s3cret\nbob * shared\n"));
  });
  auto good = new_device();
  ASSERT_TRUE(good->connect());
  EXPECT_TRUE(good->authenticate("alice", "gw01", "s3cret"));
  auto any_of_bob = new_device();
  ASSERT_TRUE(any_of_bob->connect());
  EXPECT_TRUE(any_of_bob->authenticate("bob", "whatever", "shared"));

  for (auto [user, device, credential] :
       {std::tuple{"alice", "gw01", "wrong"}, std::tuple{"alice", "gw02", "s3cret"},
        std::tuple{"mallory", "gw01", "s3cret"}}) {
    auto bad = new_device();
    ASSERT_TRUE(bad->connect());
    EXPECT_FALSE(bad->authenticate(user, device, credential));
    // The ERROR for the CONNECT arrives before the close.
    ASSERT_FALSE(bad->received().empty());
    EXPECT_EQ(bad->received()[0].type, message_type::error);
    EXPECT_EQ(bad->received()[0].stream_id, 1);
    EXPECT_TRUE(bad->wait_closed());
  }
  EXPECT_EQ(registry_.devices().size(), 2u);
  EXPECT_FALSE(registry_.connected({"alice", "gw02"}));
  const auto& attempts = server_->connect_attempts();
  ASSERT_EQ(attempts.size(), 5u);
  EXPECT_TRUE(attempts[0].accepted);
  EXPECT_TRUE(attempts[1].accepted);
  EXPECT_FALSE(attempts[2].accepted);
  EXPECT_EQ(attempts[4].user, "mallory");
  EXPECT_TRUE(logged("authentication refused for alice/gw01"));
  for (const auto& l : logs_) EXPECT_EQ(l.find("s3cret"), std::string::npos) << l;
}

TEST_F(devserver, nobody_gets_in_without_users_or_allow_any) {
  start([](ds::server_options& o) { o.allow_any = false; });
  auto d = new_device();
  ASSERT_TRUE(d->connect());
  EXPECT_FALSE(d->authenticate("alice", "gw01"));
  // Nor with an empty name under --allow-any.
  server_.reset();
  start();
  auto e = new_device();
  ASSERT_TRUE(e->connect());
  EXPECT_FALSE(e->authenticate("", "gw01"));
}

// --- requests -------------------------------------------------------------------

TEST_F(devserver, run_round_trips) {
  start();
  auto d = device();
  std::vector<request_result> results;
  auto collect = [&](const request_result& r) { results.push_back(r); };

  ASSERT_EQ(registry_.run(alice, "temperature", std::nullopt, collect), request_status::ok);
  EXPECT_TRUE(results.empty());  // never from within run()
  auto run = d->next(message_type::run);
  ASSERT_TRUE(run);
  EXPECT_EQ(resource_of(*run), "temperature");
  EXPECT_FALSE(run->payload);
  d->ok(*run->stream_id, value(21.5));
  ASSERT_TRUE(wait([&] { return results.size() == 1; }));
  EXPECT_EQ(results[0].status, request_status::ok);
  EXPECT_EQ(results[0].payload, value(21.5));

  const value input(object{{"state", "ON"}, {"brightness", 128}});
  ASSERT_EQ(registry_.run(alice, "lamp", input, collect), request_status::ok);
  run = d->next(message_type::run);
  ASSERT_TRUE(run);
  EXPECT_EQ(resource_of(*run), "lamp");
  EXPECT_EQ(run->payload, input);
  d->error(*run->stream_id, value(object{{"error", "broker down"}}));
  ASSERT_TRUE(wait([&] { return results.size() == 2; }));
  EXPECT_EQ(results[1].status, request_status::refused);
  EXPECT_EQ(results[1].payload, value(object{{"error", "broker down"}}));
  EXPECT_EQ(registry_.find(alice)->pending_requests, 0u);
}

TEST_F(devserver, describe_round_trips) {
  start();
  auto d = device();
  std::vector<request_result> results;
  auto collect = [&](const request_result& r) { results.push_back(r); };
  ASSERT_EQ(registry_.describe(alice, std::nullopt, collect), request_status::ok);
  auto m = d->next(message_type::describe);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->resource);
  const value api(object{{"temperature", object{{"fn", 3}}}});
  d->ok(*m->stream_id, api);
  ASSERT_EQ(registry_.describe(alice, "temperature", collect), request_status::ok);
  m = d->next(message_type::describe);
  ASSERT_TRUE(m);
  EXPECT_EQ(resource_of(*m), "temperature");
  d->ok(*m->stream_id, value(object{{"out", 21.5}}));
  ASSERT_TRUE(wait([&] { return results.size() == 2; }));
  EXPECT_EQ(results[0].payload, api);
  EXPECT_EQ(results[1].payload, value(object{{"out", 21.5}}));
}

TEST_F(devserver, requests_end_offline_timeout_or_disconnected) {
  start([](ds::server_options& o) { o.request_timeout = 200ms; });
  bool called = false;
  EXPECT_EQ(registry_.run(alice, "x", std::nullopt, [&](const request_result&) { called = true; }),
            request_status::offline);
  EXPECT_EQ(registry_.start_stream(alice, "x", std::nullopt, {}).start_error(),
            request_status::offline);

  auto d = device();
  std::vector<request_result> results;
  auto collect = [&](const request_result& r) { results.push_back(r); };
  ASSERT_EQ(registry_.run(alice, "slow", std::nullopt, collect), request_status::ok);
  auto run = d->next(message_type::run);
  ASSERT_TRUE(run);
  ASSERT_TRUE(wait([&] { return results.size() == 1; }));
  EXPECT_EQ(results[0].status, request_status::timeout);
  d->ok(*run->stream_id, value(1));  // too late: ignored
  d->keep_alive();
  ASSERT_TRUE(d->next(message_type::keep_alive));
  EXPECT_EQ(results.size(), 1u);

  ASSERT_EQ(registry_.run(alice, "never", std::nullopt, collect), request_status::ok);
  ASSERT_TRUE(d->next(message_type::run));
  d->close();
  ASSERT_TRUE(wait([&] { return results.size() == 2; }));
  EXPECT_EQ(results[1].status, request_status::disconnected);
  EXPECT_FALSE(called);
  EXPECT_FALSE(registry_.connected(alice));
}

// --- server-opened streams ----------------------------------------------------------

TEST_F(devserver, interval_stream_restart_and_stop) {
  start();
  auto d = device();
  std::vector<value> samples;
  std::vector<request_result> starts;
  ds::stream_callbacks cbs;
  cbs.on_sample = [&](const value& v) { samples.push_back(v); };
  cbs.on_started = [&](const request_result& r) { starts.push_back(r); };
  auto h = registry_.start_stream(alice, "temperature", 1000ms, cbs);
  ASSERT_TRUE(h);
  auto m = d->next(message_type::start_stream);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->stream_id, h.sid());
  EXPECT_EQ(resource_of(*m), "temperature");
  EXPECT_EQ(m->parameters, value(object{{"interval", 1000}}));
  d->ok(h.sid());
  d->stream_data(h.sid(), value(21.5));
  d->stream_data(h.sid(), value(21.75));
  ASSERT_TRUE(wait([&] { return samples.size() == 2; }));
  EXPECT_EQ(samples[1], value(21.75));
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_TRUE(starts[0].ok());
  EXPECT_EQ(registry_.find(alice)->server_streams, 1u);

  ASSERT_TRUE(h.restart(500ms));
  m = d->next(message_type::start_stream);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->stream_id, h.sid());
  EXPECT_EQ(m->parameters, value(object{{"interval", 500}}));
  d->ok(h.sid());
  ASSERT_TRUE(wait([&] { return starts.size() == 2; }));

  h.stop();
  EXPECT_FALSE(h.active());
  m = d->next(message_type::stop_stream);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->stream_id, h.sid());
  d->ok(h.sid());
  d->stream_data(h.sid(), value(99));  // raced the STOP: dropped
  d->keep_alive();
  ASSERT_TRUE(d->next(message_type::keep_alive));
  EXPECT_EQ(samples.size(), 2u);
  EXPECT_FALSE(h.restart(1000ms));
  EXPECT_EQ(registry_.find(alice)->server_streams, 0u);
}

TEST_F(devserver, event_stream_refused_and_stopped_by_the_device) {
  start();
  auto d = device();
  std::vector<request_result> starts;
  ds::stream_callbacks cbs;
  cbs.on_started = [&](const request_result& r) { starts.push_back(r); };
  auto refused = registry_.start_stream(alice, "nothing", std::nullopt, cbs);
  auto m = d->next(message_type::start_stream);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->parameters);  // an event stream has no interval
  d->error(refused.sid());
  ASSERT_TRUE(wait([&] { return starts.size() == 1; }));
  EXPECT_EQ(starts[0].status, request_status::refused);
  EXPECT_FALSE(refused.active());

  std::vector<request_status> ended;
  ds::stream_callbacks cbs2;
  cbs2.on_ended = [&](request_status why) { ended.push_back(why); };
  auto h = registry_.start_stream(alice, "door", std::nullopt, cbs2);
  ASSERT_TRUE(d->next(message_type::start_stream));
  d->ok(h.sid());
  d->send({message_type::stop_stream, h.sid(), {}, {}, {}});
  ASSERT_TRUE(wait([&] { return !ended.empty(); }));
  EXPECT_EQ(ended[0], request_status::stopped);
  EXPECT_FALSE(h.active());
  auto ok = d->next(message_type::ok);  // the server acknowledges the device's STOP
  ASSERT_TRUE(ok);
  while (ok && ok->stream_id != h.sid()) ok = d->next(message_type::ok);
  EXPECT_TRUE(ok);
}

TEST_F(devserver, streams_end_with_the_connection) {
  start();
  auto d = device();
  std::vector<request_status> ended;
  ds::stream_callbacks cbs;
  cbs.on_ended = [&](request_status why) { ended.push_back(why); };
  auto h = registry_.start_stream(alice, "temperature", 1000ms, cbs);
  ASSERT_TRUE(d->next(message_type::start_stream));
  d->close();
  ASSERT_TRUE(wait([&] { return !ended.empty(); }));
  EXPECT_EQ(ended, std::vector<request_status>{request_status::disconnected});
  EXPECT_FALSE(h.active());
  h.stop();  // harmless
}

// --- device-opened MQTT streams and the topic table -------------------------------

TEST_F(devserver, device_publish_streams_land_in_the_topic_table) {
  start();
  auto d = device();
  std::vector<std::pair<std::string, value>> seen;
  topics_.subscribe("alice/#",
                    [&](const std::string& t, const value& v) { seen.emplace_back(t, v); });
  std::vector<std::string> published;
  on_event([&](const device_event& ev) {
    if (ev.type == device_event::kind::published) published.push_back(ev.stream->topic);
  });

  d->send(event_stream(0x2001, "alice/alerts/door", "publish"));
  d->send(spec_stream(0x2002, "alice/status", {"publish"}));
  auto ok1 = d->next(message_type::ok);
  ASSERT_TRUE(ok1);
  auto ok2 = d->next(message_type::ok);  // the CONNECT's OK came first
  ASSERT_TRUE(ok2);
  auto ok3 = d->next(message_type::ok);
  ASSERT_TRUE(ok3);
  EXPECT_EQ(ok2->stream_id, 0x2001);
  EXPECT_EQ(ok3->stream_id, 0x2002);
  const auto info = registry_.find(alice);
  ASSERT_EQ(info->device_streams.size(), 2u);
  EXPECT_EQ(info->device_streams[0].topic, "alice/alerts/door");
  EXPECT_EQ(info->device_streams[0].scheme, iotmp::server_session::mqtt_scheme::event);
  EXPECT_EQ(info->device_streams[1].scheme, iotmp::server_session::mqtt_scheme::spec);

  d->stream_data(0x2001, value("open"));
  d->stream_data(0x2002, value(object{{"battery", 97}}));
  ASSERT_TRUE(wait([&] { return seen.size() == 2; }));
  EXPECT_EQ(seen[0], (std::pair<std::string, value>{"alice/alerts/door", value("open")}));
  ASSERT_NE(topics_.latest("alice/status"), nullptr);
  EXPECT_EQ(topics_.latest("alice/status")->value, value(object{{"battery", 97}}));
  EXPECT_EQ(published, (std::vector<std::string>{"alice/alerts/door", "alice/status"}));

  // The device closes one; the table keeps its latest value.
  d->send({message_type::stop_stream, 0x2001, {}, {}, {}});
  ASSERT_TRUE(wait([&] { return registry_.find(alice)->device_streams.size() == 1; }));
  EXPECT_NE(topics_.latest("alice/alerts/door"), nullptr);
}

TEST_F(devserver, subscribe_streams_receive_publishes_in_both_schemes) {
  start();
  auto a = device("alice", "gw01");
  auto b = device("alice", "gw02");
  a->send(event_stream(10, "cmd/#", "subscribe"));
  a->send(spec_stream(11, "lamp/set", {"subscribe"}));
  a->send(spec_stream(12, "io", {"publish", "subscribe"}));
  b->send(spec_stream(20, "io", {"subscribe"}));
  ASSERT_TRUE(wait([&] { return topics_.subscription_count() == 4; }));

  EXPECT_EQ(topics_.publish("cmd/kitchen/light", value("ON")), 1u);
  EXPECT_EQ(topics_.publish("lamp/set", value(object{{"state", "OFF"}})), 1u);
  EXPECT_EQ(topics_.publish("io", value(1)), 2u);
  for (std::uint16_t sid : {10, 11, 12}) {
    auto m = a->next(message_type::stream_data);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->stream_id, sid);
  }
  const auto& got = a->received();
  std::vector<value> payloads;
  for (const auto& m : got) {
    if (m.type == message_type::stream_data) payloads.push_back(*m.payload);
  }
  ASSERT_EQ(payloads.size(), 3u);
  EXPECT_EQ(payloads[0], value(object{{"topic", "cmd/kitchen/light"}, {"payload", "ON"}}));
  EXPECT_EQ(payloads[1],
            value(object{{"topic", "lamp/set"}, {"payload", object{{"state", "OFF"}}}}));
  EXPECT_EQ(payloads[2], value(object{{"topic", "io"}, {"payload", 1}}));
  ASSERT_TRUE(b->next(message_type::stream_data));

  // What a publishes on its `both` stream reaches b, not a itself.
  a->stream_data(12, value(2));
  auto m = b->next(message_type::stream_data);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload, value(object{{"topic", "io"}, {"payload", 2}}));
  a->keep_alive();
  ASSERT_TRUE(a->next(message_type::keep_alive));
  EXPECT_EQ(a->count(message_type::stream_data), 3u);
  EXPECT_EQ(topics_.latest("io")->value, value(2));

  // Direct delivery bypasses the wrapping; subscriptions end with the connection.
  EXPECT_TRUE(registry_.deliver(alice, 11, value("raw")));
  m = a->next(message_type::stream_data);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload, value("raw"));
  EXPECT_FALSE(registry_.deliver(alice, 99, value("raw")));
  a->close();
  ASSERT_TRUE(wait([&] { return topics_.subscription_count() == 1; }));
}

TEST_F(devserver, invalid_device_streams_are_refused) {
  start();
  auto d = device();
  bool refuse_all = false;
  registry_.set_stream_policy(
      [&](const device_id&, const ds::device_stream&) { return !refuse_all; });
  d->send(event_stream(30, "a/+", "publish"));       // publishing on a filter
  d->send(spec_stream(31, "a/#/b", {"subscribe"}));  // not a filter
  d->send(spec_stream(32, "a", {"sideways"}));       // unknown scope
  d->send(event_stream(33, "a", "subscribe"));       // fine
  for (std::uint16_t sid : {30, 31, 32}) {
    auto e = d->next(message_type::error);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->stream_id, sid);
  }
  refuse_all = true;
  d->send(event_stream(34, "b", "subscribe"));
  auto e = d->next(message_type::error);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->stream_id, 34);
  EXPECT_EQ(registry_.find(alice)->device_streams.size(), 1u);
}

// --- device -> server RUN ------------------------------------------------------------

TEST_F(devserver, server_runs_are_recorded_and_answered) {
  start();
  auto d = device();
  const value record(object{{"temperature", 21.5}});
  // IOTMP-Linux layout: RESOURCE = code, PARAMETERS = bucket.
  d->send({message_type::run, 7, value("temps"), record, value(5u)});
  // IOTMP-Embedded layout: PARAMETERS = code, RESOURCE = bucket.
  d->send({message_type::run, 8, value(5u), value(object{{"temperature", 22}}), value("temps")});
  for (std::uint16_t sid : {7, 8}) {
    std::optional<message> ok;
    do {
      ok = d->next(message_type::ok);
    } while (ok && ok->stream_id != sid);
    ASSERT_TRUE(ok) << sid;
  }
  ASSERT_EQ(registry_.buckets().count("temps"), 1u);
  const auto& records = registry_.buckets().at("temps");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].from, alice);
  EXPECT_EQ(records[0].value, record);
  EXPECT_EQ(registry_.server_runs().size(), 2u);

  // Properties: set, then read back; a missing one is an ERROR.
  d->send({message_type::run, 9, value("config"), value(object{{"rate", 5}}), value(2u)});
  d->send({message_type::run, 10, value("config"), std::nullopt, value(1u)});
  d->send({message_type::run, 11, value("missing"), std::nullopt, value(1u)});
  std::optional<message> read;
  do {
    read = d->next(message_type::ok);
  } while (read && read->stream_id != 10);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->payload, value(object{{"rate", 5}}));
  auto err = d->next(message_type::error);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->stream_id, 11);
  ASSERT_NE(registry_.property(alice, "config"), nullptr);

  // A handler can answer instead.
  registry_.set_server_run_handler([](const device_id&, const iotmp::server_session::server_run& r)
                                       -> std::optional<iotmp::server_session::answer> {
    if (r.code != iotmp::server_resource::call_endpoint) return std::nullopt;
    return iotmp::server_session::answer{false, std::nullopt, value("no endpoint")};
  });
  d->send({message_type::run, 12, value("email"), std::nullopt, value(4u)});
  err = d->next(message_type::error);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->stream_id, 12);
  EXPECT_EQ(err->payload, value("no endpoint"));
}

// --- counters -------------------------------------------------------------------------

TEST_F(devserver, counters_show_no_upstream_data_without_a_stream) {
  start();
  auto d = device();
  for (int i = 0; i < 3; ++i) d->keep_alive();
  ASSERT_TRUE(wait([&] { return d->count(message_type::keep_alive) == 3; }));
  auto info = registry_.find(alice);
  const auto connect_size =
      iotmp::encode(message{message_type::connect, 1, std::nullopt,
                            value(array{"alice", "gw01", "secret"}), std::nullopt})
          .size();
  EXPECT_EQ(info->traffic.frames_in, 4u);
  EXPECT_EQ(info->traffic.bytes_in, connect_size + 3 * 2);
  EXPECT_EQ(info->traffic.in(message_type::keep_alive), 3u);
  EXPECT_EQ(info->traffic.in(message_type::stream_data), 0u);
  EXPECT_EQ(info->traffic.out(message_type::keep_alive), 3u);
  EXPECT_EQ(info->traffic.out(message_type::ok), 1u);
  EXPECT_EQ(info->traffic.frames_out, 4u);
  EXPECT_EQ(info->traffic.bytes_out, d->raw().size());

  auto h = registry_.start_stream(alice, "temperature", 1000ms, {});
  ASSERT_TRUE(d->next(message_type::start_stream));
  d->ok(h.sid());
  d->stream_data(h.sid(), value(21.5));
  ASSERT_TRUE(
      wait([&] { return registry_.find(alice)->traffic.in(message_type::stream_data) == 1; }));

  // Totals add up over connections.
  d->close();
  ASSERT_TRUE(wait([&] { return !registry_.connected(alice); }));
  auto d2 = device();
  info = registry_.find(alice);
  EXPECT_EQ(info->traffic.frames_in, 1u);
  EXPECT_EQ(info->total.frames_in, 7u);
  EXPECT_EQ(info->connections, 2u);
}

// --- test hooks -------------------------------------------------------------------------

TEST_F(devserver, silent_mode_stops_the_keepalive_echo) {
  start();
  auto d = device();
  ASSERT_TRUE(registry_.set_silent(alice, true));
  EXPECT_TRUE(registry_.find(alice)->silent);
  d->keep_alive();
  // A RUN sent after it is a barrier: the session answers in order.
  ASSERT_EQ(registry_.run(alice, "x", std::nullopt, [](const request_result&) {}),
            request_status::ok);
  ASSERT_TRUE(d->next(message_type::run));
  EXPECT_EQ(d->count(message_type::keep_alive), 0u);
  ASSERT_TRUE(registry_.set_silent(alice, false));
  d->keep_alive();
  EXPECT_TRUE(d->next(message_type::keep_alive));
  EXPECT_FALSE(registry_.set_silent({"nobody", "x"}, true));
}

TEST_F(devserver, kick_closes_the_connection) {
  start();
  auto d = device();
  std::vector<std::string> reasons;
  on_event([&](const device_event& ev) {
    if (ev.type == device_event::kind::disconnected) reasons.push_back(ev.reason);
  });
  ASSERT_TRUE(registry_.kick(alice));
  EXPECT_FALSE(registry_.connected(alice));
  EXPECT_TRUE(d->wait_closed());
  EXPECT_EQ(reasons, std::vector<std::string>{"kicked"});
  EXPECT_FALSE(registry_.kick(alice));

  auto g = device();
  ASSERT_TRUE(registry_.kick(alice, true));
  EXPECT_TRUE(g->next(message_type::disconnect));
  EXPECT_TRUE(g->wait_closed());
  ASSERT_TRUE(wait([&] { return server_->open_connections() == 0; }));
}

TEST_F(devserver, raw_bytes_reach_the_device_verbatim) {
  start();
  auto d = device();
  const std::size_t before = d->raw().size();
  const byte_buffer garbage{0x00, 0xff, 0x13, 0x37};
  ASSERT_TRUE(registry_.send_raw(alice, garbage).ok());
  ASSERT_TRUE(wait([&] { return d->raw().size() == before + garbage.size(); }));
  EXPECT_TRUE(std::equal(garbage.begin(), garbage.end(), d->raw().begin() + before));
  EXPECT_EQ(registry_.find(alice)->traffic.raw_bytes_out, garbage.size());

  // An oversize frame header: the device's decoder refuses it.
  auto d2 = device("alice", "gw02");
  // STREAM_DATA announcing 300 KiB (over the 256 KiB limit).
  byte_buffer oversize{0x0a};
  iotgw::write_varint(300 * 1024, oversize);
  ASSERT_TRUE(registry_.send_raw({"alice", "gw02"}, oversize).ok());
  ASSERT_TRUE(wait([&] { return d2->decode_failed(); }));
  EXPECT_EQ(registry_.send_raw({"nobody", "x"}, garbage).code, net::errc::closed);
}

TEST_F(devserver, garbage_from_a_device_drops_it) {
  start();
  auto d = device();
  byte_buffer oversize{0x06};
  iotgw::write_varint(1024 * 1024, oversize);
  d->send_raw(oversize);
  EXPECT_TRUE(d->wait_closed());
  ASSERT_TRUE(wait([&] { return !registry_.connected(alice); }));
  EXPECT_TRUE(logged("protocol error")) << (logs_.empty() ? "" : logs_.back());
}

TEST_F(devserver, listener_restarts_on_the_same_port) {
  auto& s = start();
  const auto port = s.port();
  auto d = device();
  s.stop_listening();
  EXPECT_FALSE(s.listening());
  EXPECT_TRUE(d->wait_closed());
  ASSERT_TRUE(wait([&] { return !registry_.connected(alice); }));
  auto refused = new_device();
  EXPECT_FALSE(refused->connect());

  ASSERT_TRUE(s.start().ok());
  EXPECT_EQ(s.port(), port);
  auto again = device();
  EXPECT_EQ(registry_.find(alice)->connections, 2u);
  EXPECT_EQ(s.accepted_connections(), 2u);
}

// --- timeouts ----------------------------------------------------------------------------

TEST_F(devserver, silent_devices_are_dropped) {
  start([](ds::server_options& o) { o.idle_timeout = 300ms; });
  auto quiet = device("alice", "quiet");
  auto chatty = device("alice", "chatty");
  const auto started = std::chrono::steady_clock::now();
  // chatty keeps talking for longer than the timeout; quiet says nothing.
  auto ticker = iotgw::uv::timer::create(loop_);
  ticker->start(100ms, 100ms, [&] {
    if (!chatty->closed()) chatty->keep_alive();
  });
  EXPECT_TRUE(quiet->wait_closed(3s));
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, 250ms);
  EXPECT_FALSE(registry_.connected({"alice", "quiet"}));
  wait([] { return false; }, 400ms);  // longer than the timeout again
  ticker->close();
  EXPECT_FALSE(chatty->closed());
  EXPECT_TRUE(registry_.connected({"alice", "chatty"}));
  EXPECT_TRUE(logged("alice/quiet: silent for more than 300 ms"));
}

TEST_F(devserver, connections_without_connect_are_dropped) {
  start([](ds::server_options& o) { o.handshake_timeout = 200ms; });
  auto d = new_device();
  ASSERT_TRUE(d->connect());
  EXPECT_TRUE(d->wait_closed(3s));
  EXPECT_TRUE(server_->connect_attempts().empty());
  ASSERT_TRUE(wait([&] { return server_->open_connections() == 0; }));
}

// --- TLS --------------------------------------------------------------------------------

TEST_F(devserver, tls_devices_and_handshake_timeout) {
  net_test::test_pki pki;
  ASSERT_TRUE(pki.ok());
  start([&](ds::server_options& o) {
    o.tls = pki.server_context();
    o.handshake_timeout = 300ms;
  });
  tls_client_ = pki.client_context();
  auto d = device();
  std::optional<request_result> result;
  ASSERT_EQ(registry_.run(alice, "temperature", std::nullopt,
                          [&](const request_result& r) { result = r; }),
            request_status::ok);
  auto run = d->next(message_type::run);
  ASSERT_TRUE(run);
  d->ok(*run->stream_id, value(21.5));
  ASSERT_TRUE(wait([&] { return result.has_value(); }));
  EXPECT_EQ(result->payload, value(21.5));

  // Plain TCP that never says hello is cut after the handshake bound.
  tls_client_ = nullptr;
  auto stalled = new_device();
  ASSERT_TRUE(stalled->connect());
  EXPECT_TRUE(stalled->wait_closed(3s));
  EXPECT_TRUE(registry_.connected(alice));  // the TLS device is not affected
}

// --- reconnects -----------------------------------------------------------------------------

TEST_F(devserver, reconnect_replaces_the_old_connection) {
  start();
  std::vector<std::string> events;
  on_event([&](const device_event& ev) {
    if (ev.type == device_event::kind::connected) events.push_back("connected");
    if (ev.type == device_event::kind::disconnected) events.push_back("disconnected: " + ev.reason);
  });
  auto first = device();
  std::optional<request_result> pending;
  ASSERT_EQ(
      registry_.run(alice, "slow", std::nullopt, [&](const request_result& r) { pending = r; }),
      request_status::ok);
  ASSERT_TRUE(first->next(message_type::run));

  auto second = device();
  EXPECT_TRUE(first->wait_closed());
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->status, request_status::disconnected);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], "connected");
  EXPECT_EQ(events[1].rfind("disconnected: replaced by a new connection from 127.0.0.1:", 0), 0u)
      << events[1];
  EXPECT_EQ(events[2], "connected");
  const auto info = registry_.find(alice);
  EXPECT_TRUE(info->connected);
  EXPECT_EQ(info->connections, 2u);
  ASSERT_TRUE(wait([&] { return server_->open_connections() == 1; }));

  // The new connection works.
  std::optional<request_result> r;
  ASSERT_EQ(registry_.run(alice, "x", std::nullopt, [&](const request_result& x) { r = x; }),
            request_status::ok);
  auto run = second->next(message_type::run);
  ASSERT_TRUE(run);
  second->ok(*run->stream_id);
  ASSERT_TRUE(wait([&] { return r.has_value(); }));
  EXPECT_TRUE(r->ok());
}

TEST_F(devserver, connect_attempts_carry_timestamps) {
  start();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    auto d = device();
    d->close();
    ASSERT_TRUE(wait([&] { return !registry_.connected(alice); }));
  }
  const auto& attempts = server_->connect_attempts();
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_GE(attempts[0].at, t0);
  EXPECT_LE(attempts[0].at, attempts[1].at);
  EXPECT_LE(attempts[1].at, attempts[2].at);
  EXPECT_EQ(server_->accepted_connections(), 3u);
  ASSERT_EQ(server_->accepts().size(), 3u);
  EXPECT_LE(server_->accepts()[2].at, attempts[2].at);
  EXPECT_EQ(server_->accepts()[0].peer.rfind("127.0.0.1:", 0), 0u);
}

// --- --watch ------------------------------------------------------------------------------

TEST_F(devserver, watcher_prints_runs_samples_and_publishes) {
  start();
  std::vector<std::string> lines;
  ds::watcher w(registry_, {{"temperature", 2000ms}, {"door", std::nullopt}},
                [&](std::string_view l) { lines.emplace_back(l); });
  auto d = new_device();
  std::vector<message> starts;
  d->on_message = [&](const message& m) {
    if (m.type == message_type::run)
      d->ok(*m.stream_id, value(resource_of(m) == "door" ? value("closed") : value(21.5)));
    if (m.type == message_type::start_stream) {
      starts.push_back(m);
      d->ok(*m.stream_id);
    }
  };
  ASSERT_TRUE(d->connect_and_authenticate("alice", "gw01"));
  ASSERT_TRUE(wait([&] { return starts.size() == 2; }));
  EXPECT_EQ(starts[0].parameters, value(object{{"interval", 2000}}));
  EXPECT_FALSE(starts[1].parameters);
  d->stream_data(*starts[0].stream_id, value(21.75));
  d->send(event_stream(0x3001, "alice/alerts/door", "publish"));
  d->stream_data(0x3001, value("open"));
  ASSERT_TRUE(wait([&] { return lines.size() >= 5; }));
  d->close();
  ASSERT_TRUE(wait([&] { return lines.size() == 6; }));
  EXPECT_EQ(lines[0].rfind("alice/gw01 connected from 127.0.0.1:", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1], "alice/gw01 temperature: 21.5");
  EXPECT_EQ(lines[2], "alice/gw01 door: \"closed\"");
  EXPECT_EQ(lines[3], "alice/gw01 temperature: 21.75");
  EXPECT_EQ(lines[4], "topic alice/alerts/door: \"open\"");
  EXPECT_EQ(lines[5].rfind("alice/gw01 disconnected: ", 0), 0u) << lines[5];
}

}  // namespace
