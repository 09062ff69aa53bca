// The device side (cloud_link driving a device_session with test resources)
// against the real devserver code on the same loop, over loopback sockets:
// authentication and backoff, RUN/DESCRIBE, streams, keep-alive and dead-peer
// detection, server restarts, hostile bytes, TLS verification, device-opened
// MQTT streams, and the bytes on the wire compared with the golden vectors.
#include "iotmp_gateway/cloud/cloud_link.hpp"

#include <gtest/gtest.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cloud/cloud_support.hpp"
#include "iotmp_gateway/devserver/registry.hpp"
#include "iotmp_gateway/devserver/server.hpp"
#include "iotmp_gateway/devserver/topic_table.hpp"
#include "iotmp_gateway/devserver/users.hpp"
#include "iotmp_gateway/iotmp/mqtt_stream.hpp"
#include "iotmp_gateway/pson/codec.hpp"
#include "net/net_support.hpp"
#include "support/loop.hpp"
#include "support/print.hpp"

using namespace cloud_test;
namespace cloud = iotgw::cloud;
namespace ds = iotgw::devserver;
using ds::device_id;
using ds::request_result;
using ds::request_status;
using iotmp::message_type;
using iotmp::mqtt_scope;
using iotmp::mqtt_stream_scheme;
using iotmp::resource_io;
using iotmp::session_state;
using pson::object;
using pson::value;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

namespace {

struct log_line {
  steady::time_point at;
  int priority;
  std::string text;
};

long long ms_of(steady::duration d) {
  return std::chrono::duration_cast<milliseconds>(d).count();
}

class cloud_link_test : public test_support::loop_test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("iotmp-cloud-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    temperature_ = add("temperature", resource_io::output, value(object{{"celsius", 22.5}}));
    lamp_ = add("lamp", resource_io::input_output, value("off"), value("on"));
    reboot_ = add("reboot", resource_io::input, std::nullopt, value(object{{"delay", 0}}));
    room_ = add("rooms/:room/temp", resource_io::output, value(21));
  }

  void TearDown() override {
    // The link first: its socket and timers close before the server's side.
    link_.reset();
    for (const auto id : listeners_) registry_.remove_listener(id);
    server_.reset();
    loop_test::TearDown();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::shared_ptr<test_resource> add(const std::string& pattern, resource_io io,
                                     std::optional<value> latest = std::nullopt,
                                     value example = {}) {
    auto r = std::make_shared<test_resource>(io, std::move(latest), std::move(example));
    EXPECT_TRUE(resources_.add(pattern, r));
    return r;
  }

  std::string write_file(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  ds::server& start_server(const std::function<void(ds::server_options&)>& tweak = {}) {
    ds::server_options o;
    o.port = 0;
    o.allow_any = true;
    o.log = [this](int priority, std::string_view text) {
      server_logs_.push_back({steady::now(), priority, std::string(text)});
    };
    if (tweak) tweak(o);
    server_ = std::make_unique<ds::server>(loop_, registry_, o);
    const auto st = server_->start();
    EXPECT_TRUE(st.ok()) << st.message;
    return *server_;
  }

  // Small backoff bounds keep the retry tests fast; defaults talk to server_.
  cloud::cloud_link& start_link(
      const std::function<void(cloud::link_config&, iotmp::session_config&)>& tweak = {}) {
    cloud::link_config c;
    c.host = "127.0.0.1";
    c.port = server_ ? server_->port() : 0;
    c.tls = false;
    c.connect_timeout = 2s;
    c.reconnect_min = 100ms;
    c.reconnect_max = 800ms;
    iotmp::session_config s;
    s.username = "alice";
    s.device = "gw01";
    s.credential = "s3cret";
    s.keepalive = 60s;
    s.auth_timeout = 5s;
    if (tweak) tweak(c, s);
    cloud::link_handlers h;
    h.log = [this](int priority, std::string_view text) {
      device_logs_.push_back({steady::now(), priority, std::string(text)});
    };
    link_ = std::make_unique<cloud::cloud_link>(loop_, c, s, resources_, h, &observer_);
    link_->start();
    return *link_;
  }

  bool wait(const std::function<bool()>& cond, milliseconds deadline = 5s) {
    return test_support::run_until(loop_, cond, deadline);
  }

  // Both ends agree the device is in.
  bool ready() const {
    return link_ && link_->session().state() == session_state::ready && registry_.connected(alice_);
  }
  bool wait_ready(milliseconds deadline = 5s) {
    return wait([&] { return ready(); }, deadline);
  }

  static std::size_t count(const std::vector<log_line>& logs, std::string_view part,
                           int priority = -1) {
    return static_cast<std::size_t>(std::count_if(logs.begin(), logs.end(), [&](const auto& l) {
      return l.text.find(part) != std::string::npos && (priority < 0 || l.priority == priority);
    }));
  }
  bool device_logged(std::string_view part, int priority = -1) const {
    return count(device_logs_, part, priority) > 0;
  }
  std::optional<steady::time_point> device_logged_at(std::string_view part) const {
    for (const auto& l : device_logs_) {
      if (l.text.find(part) != std::string::npos) return l.at;
    }
    return std::nullopt;
  }
  std::string device_log_text() const {
    std::string out;
    for (const auto& l : device_logs_)
      out += "<" + std::to_string(l.priority) + ">" + l.text + "\n";
    return out;
  }

  // The delays the link announced, in order ("reconnecting in N ms").
  std::vector<milliseconds> announced_delays() const {
    std::vector<milliseconds> out;
    static constexpr std::string_view marker = "reconnecting in ";
    for (const auto& l : device_logs_) {
      const auto at = l.text.find(marker);
      if (at != std::string::npos) out.emplace_back(std::stoll(l.text.substr(at + marker.size())));
    }
    return out;
  }

  // A RUN through the devserver API, waited for. The result lives in a shared
  // cell: a request still out when the test ends is answered later.
  request_result run(std::string_view resource, std::optional<value> input = std::nullopt) {
    auto out = std::make_shared<std::optional<request_result>>();
    const auto st =
        registry_.run(alice_, resource, input, [out](const request_result& r) { *out = r; });
    EXPECT_EQ(st, request_status::ok);
    if (st != request_status::ok) return {st, std::nullopt, std::nullopt};
    EXPECT_TRUE(wait([&] { return out->has_value(); })) << "no answer for " << resource;
    return out->value_or(request_result{request_status::timeout, std::nullopt, std::nullopt});
  }
  request_result describe(std::optional<std::string_view> resource) {
    auto out = std::make_shared<std::optional<request_result>>();
    const auto st =
        registry_.describe(alice_, resource, [out](const request_result& r) { *out = r; });
    EXPECT_EQ(st, request_status::ok);
    if (st != request_status::ok) return {st, std::nullopt, std::nullopt};
    EXPECT_TRUE(wait([&] { return out->has_value(); }));
    return out->value_or(request_result{request_status::timeout, std::nullopt, std::nullopt});
  }

  struct sample {
    steady::time_point at;
    value v;
  };
  ds::stream_callbacks recording_callbacks() {
    ds::stream_callbacks cb;
    cb.on_sample = [this](const value& v) { samples_.push_back({steady::now(), v}); };
    cb.on_started = [this](const request_result& r) {
      starts_.push_back(r.status);
      samples_at_start_.push_back(samples_.size());
    };
    cb.on_ended = [this](request_status why) { ended_.push_back(why); };
    return cb;
  }

  std::uint64_t frames_in(message_type type) const {
    const auto info = registry_.find(alice_);
    return info ? info->traffic.in(type) : 0;
  }

  std::filesystem::path dir_;
  ds::topic_table topics_;
  ds::device_registry registry_{topics_};
  std::unique_ptr<ds::server> server_;
  iotmp::resource_registry resources_;
  recording_observer observer_;
  std::unique_ptr<cloud::cloud_link> link_;
  std::vector<log_line> device_logs_;
  std::vector<log_line> server_logs_;
  std::vector<ds::device_registry::listener_id> listeners_;
  std::vector<sample> samples_;
  std::vector<request_status> starts_;
  std::vector<std::size_t> samples_at_start_;
  std::vector<request_status> ended_;
  std::shared_ptr<test_resource> temperature_, lamp_, reboot_, room_;
  const device_id alice_{"alice", "gw01"};
};

// Average spacing of samples [from, to] (inclusive).
milliseconds mean_period(const std::vector<steady::time_point>& at, std::size_t from,
                         std::size_t to) {
  return std::chrono::duration_cast<milliseconds>((at[to] - at[from]) /
                                                  static_cast<long>(to - from));
}

// --- 1. authentication and backoff ----------------------------------------------

TEST_F(cloud_link_test, authenticates_over_plain_tcp_with_a_users_file) {
  const auto users = write_file("users", "# test users\nalice gw01 s3cret\n");
  start_server([&](ds::server_options& o) {
    o.allow_any = false;
    o.users = std::make_shared<const ds::credential_store>(ds::credential_store::load(users));
  });
  auto& link = start_link();
  ASSERT_TRUE(wait_ready()) << device_log_text();

  EXPECT_EQ(link.connect_attempts(), 1u);
  EXPECT_EQ(link.reconnects(), 0u);
  EXPECT_EQ(iotmp::to_string(link.session().state()), "connected");
  ASSERT_EQ(server_->connect_attempts().size(), 1u);
  const auto& attempt = server_->connect_attempts()[0];
  EXPECT_TRUE(attempt.accepted);
  EXPECT_EQ(attempt.user, "alice");
  EXPECT_EQ(attempt.device, "gw01");
  EXPECT_TRUE(device_logged("authenticated as alice/gw01", LOG_INFO)) << device_log_text();
  EXPECT_FALSE(device_logged("s3cret"));  // the credential never reaches a log
  EXPECT_TRUE(announced_delays().empty());
}

TEST_F(cloud_link_test, refused_credential_retries_with_growing_delays) {
  const auto users = write_file("users", "alice gw01 not-the-device-secret\n");
  start_server([&](ds::server_options& o) {
    o.allow_any = false;
    o.users = std::make_shared<const ds::credential_store>(ds::credential_store::load(users));
  });
  auto& link = start_link();
  constexpr std::size_t attempts = 10;
  ASSERT_TRUE(wait([&] { return server_->connect_attempts().size() >= attempts; }, 20s))
      << device_log_text();
  link.stop();  // freezes the history
  const std::vector<ds::connect_attempt> history(server_->connect_attempts().begin(),
                                                 server_->connect_attempts().end());
  const auto delays = announced_delays();

  EXPECT_NE(link.session().state(), session_state::ready);
  EXPECT_EQ(link.reconnects(), 0u);
  for (const auto& a : history) EXPECT_FALSE(a.accepted);
  EXPECT_TRUE(device_logged("authentication failed", LOG_ERR)) << device_log_text();
  EXPECT_FALSE(device_logged("s3cret"));
  EXPECT_FALSE(device_logged("not-the-device-secret"));

  // One announced delay before each new attempt; last_delay() is the latest.
  ASSERT_GE(delays.size(), history.size() - 1);
  EXPECT_EQ(link.last_delay(), delays.back());
  std::string figures;
  for (std::size_t i = 0; i < delays.size(); ++i) {
    EXPECT_GE(delays[i], 100ms);
    EXPECT_LE(delays[i], 800ms);
    // Decorrelated jitter: never more than 3x the previous delay.
    if (i > 0) {
      EXPECT_LE(delays[i], std::min<milliseconds>(800ms, 3 * delays[i - 1]));
    }
    figures += std::to_string(delays[i].count()) + " ";
  }
  // The delays grow away from the minimum (each draw widens the range to 3x;
  // nine draws all staying under 2x min is a ~1e-5 chance).
  EXPECT_GT(*std::max_element(delays.begin(), delays.end()), 200ms) << figures;

  // What the server saw: never sooner than the announced delay, never a hot loop.
  std::string gaps;
  for (std::size_t i = 1; i < history.size(); ++i) {
    const auto gap = history[i].at - history[i - 1].at;
    // libuv measures timers from its cached loop time: allow a few ms of slack.
    EXPECT_GE(gap, delays[i - 1] - 5ms) << "attempt " << i;
    EXPECT_GE(gap, 95ms) << "attempt " << i;
    gaps += std::to_string(ms_of(gap)) + " ";
  }
  std::printf("[  timing  ] refused: announced delays (ms): %s\n", figures.c_str());
  std::printf("[  timing  ] refused: gaps between CONNECTs at the server (ms): %s\n", gaps.c_str());
}

// --- 2. RUN and DESCRIBE ----------------------------------------------------------

TEST_F(cloud_link_test, run_round_trips_through_the_devserver) {
  start_server();
  start_link();
  ASSERT_TRUE(wait_ready());

  auto r = run("temperature");
  EXPECT_EQ(r.status, request_status::ok);
  EXPECT_EQ(r.payload, value(object{{"celsius", 22.5}}));

  r = run("lamp", value("on"));
  EXPECT_EQ(r.status, request_status::ok);
  EXPECT_EQ(r.payload, value("on"));  // a read+write resource answers its latest value
  EXPECT_EQ(lamp_->last_input, value("on"));

  r = run("reboot", value(object{{"delay", 5}}));
  EXPECT_EQ(r.status, request_status::ok);
  EXPECT_FALSE(r.payload.has_value());  // write-only: no PAYLOAD at all
  EXPECT_EQ(reboot_->last_input, value(object{{"delay", 5}}));

  r = run("rooms/kitchen/temp");
  EXPECT_EQ(r.status, request_status::ok);
  EXPECT_EQ(r.payload, value(object{{"room", "kitchen"}}));

  r = run("nope");
  EXPECT_EQ(r.status, request_status::refused);
  EXPECT_EQ(r.payload, value(object{{"error", "unknown resource"}}));

  r = run("temperature", value(1));
  EXPECT_EQ(r.status, request_status::refused);
  EXPECT_EQ(r.payload, value(object{{"error", "resource takes no input"}}));

  r = run("reboot");
  EXPECT_EQ(r.status, request_status::refused);
  EXPECT_EQ(r.payload, value(object{{"error", "resource needs an input"}}));
  EXPECT_EQ(reboot_->runs, 1);  // the refused ones never reached it
}

TEST_F(cloud_link_test, describe_lists_the_api_with_fn_codes) {
  start_server();
  start_link();
  ASSERT_TRUE(wait_ready());

  auto r = describe(std::nullopt);
  ASSERT_EQ(r.status, request_status::ok);
  EXPECT_EQ(r.payload, value(object{{"lamp", value(object{{"fn", 4}})},
                                    {"reboot", value(object{{"fn", 2}})},
                                    {"rooms/:room/temp", value(object{{"fn", 3}})},
                                    {"temperature", value(object{{"fn", 3}})}}));

  r = describe("temperature");
  ASSERT_EQ(r.status, request_status::ok);
  EXPECT_EQ(r.payload, value(object{{"out", value(object{{"celsius", 22.5}})}}));

  r = describe("lamp");
  ASSERT_EQ(r.status, request_status::ok);
  EXPECT_EQ(r.payload, value(object{{"in", "on"}, {"out", "off"}}));

  r = describe("rooms/hall/temp");
  ASSERT_EQ(r.status, request_status::ok);
  EXPECT_EQ(r.payload, value(object{{"out", 21}}));

  r = describe("nope");
  EXPECT_EQ(r.status, request_status::refused);
  EXPECT_EQ(r.payload, value(object{{"error", "unknown resource"}}));
}

// --- 3. streams ---------------------------------------------------------------------

TEST_F(cloud_link_test, interval_stream_follows_its_interval_restart_and_stop) {
  start_server();
  auto& link = start_link();
  ASSERT_TRUE(wait_ready());

  auto handle = registry_.start_stream(alice_, "temperature", 100ms, recording_callbacks());
  ASSERT_TRUE(handle.active());
  // The latest value at once, then one every 100 ms.
  ASSERT_TRUE(wait([&] { return samples_.size() >= 7; }, 5s));
  ASSERT_EQ(starts_, std::vector<request_status>{request_status::ok});
  EXPECT_EQ(samples_[0].v, value(object{{"celsius", 22.5}}));
  std::vector<steady::time_point> at;
  for (const auto& s : samples_) at.push_back(s.at);
  const auto fast = mean_period(at, 0, 6);
  EXPECT_GE(fast, 90ms);
  EXPECT_LE(fast, 150ms);

  // The same stream id with a new interval replaces the old one.
  temperature_->latest = value(object{{"celsius", 23}});
  ASSERT_TRUE(handle.restart(300ms));
  ASSERT_TRUE(wait([&] { return starts_.size() == 2; }));
  EXPECT_EQ(starts_[1], request_status::ok);
  const std::size_t from = samples_at_start_[1];
  ASSERT_TRUE(wait([&] { return samples_.size() >= from + 4; }, 5s));
  at.clear();
  for (const auto& s : samples_) at.push_back(s.at);
  const auto slow = mean_period(at, from, from + 3);
  EXPECT_GE(slow, 270ms);
  EXPECT_LE(slow, 400ms);
  for (std::size_t i = from + 1; i <= from + 3; ++i) {
    EXPECT_GE(at[i] - at[i - 1], 200ms) << "a 100 ms sample after the restart: two streams?";
  }
  EXPECT_EQ(samples_[from].v, value(object{{"celsius", 23}}));
  EXPECT_EQ(link.session().server_stream_count(), 1u);
  std::printf(
      "[  timing  ] interval stream: mean period %lld ms at 100 ms, %lld ms after restart at 300 "
      "ms\n",
      static_cast<long long>(fast.count()), static_cast<long long>(slow.count()));

  handle.stop();
  EXPECT_FALSE(handle.active());
  ASSERT_TRUE(wait([&] { return link.session().server_stream_count() == 0; }));
  EXPECT_FALSE(link.session().is_streamed("temperature"));
  const auto data_frames = frames_in(message_type::stream_data);
  // More than two periods with nothing: the device really stopped sampling.
  EXPECT_FALSE(wait([&] { return frames_in(message_type::stream_data) > data_frames; }, 800ms));
  EXPECT_TRUE(ended_.empty());  // stopped by us, not ended
}

TEST_F(cloud_link_test, event_stream_sends_on_resource_changed) {
  start_server();
  auto& link = start_link();
  ASSERT_TRUE(wait_ready());

  auto handle = registry_.start_stream(alice_, "temperature", std::nullopt, recording_callbacks());
  ASSERT_TRUE(wait([&] { return samples_.size() == 1; }));
  EXPECT_EQ(starts_, std::vector<request_status>{request_status::ok});
  EXPECT_EQ(samples_[0].v, value(object{{"celsius", 22.5}}));
  EXPECT_TRUE(link.session().is_streamed("temperature"));

  temperature_->latest = value(object{{"celsius", 30}});
  link.session().resource_changed("temperature");
  ASSERT_TRUE(wait([&] { return samples_.size() == 2; }));
  EXPECT_EQ(samples_[1].v, value(object{{"celsius", 30}}));

  // Another resource changing sends nothing on this stream; the frames of one
  // connection keep their order, so the next sample proves it.
  link.session().resource_changed("lamp");
  temperature_->latest = value(object{{"celsius", 31}});
  link.session().resource_changed("temperature");
  ASSERT_TRUE(wait([&] { return samples_.size() >= 3; }));
  EXPECT_EQ(samples_.size(), 3u);
  EXPECT_EQ(samples_[2].v, value(object{{"celsius", 31}}));

  handle.stop();
  ASSERT_TRUE(wait([&] { return link.session().server_stream_count() == 0; }));
  // Nobody streams: a change produces no frame at all.
  const auto frames_out = link.session().stats().frames_out;
  link.session().resource_changed("temperature");
  EXPECT_EQ(link.session().stats().frames_out, frames_out);
}

TEST_F(cloud_link_test, streams_refused_on_write_only_and_unknown_resources_and_quiet_while_empty) {
  start_server();
  auto& link = start_link();
  ASSERT_TRUE(wait_ready());
  for (const char* name : {"reboot", "nope"}) {
    SCOPED_TRACE(name);
    starts_.clear();
    auto handle = registry_.start_stream(alice_, name, 100ms, recording_callbacks());
    ASSERT_TRUE(wait([&] { return !starts_.empty(); }));
    EXPECT_EQ(starts_[0], request_status::refused);
    EXPECT_FALSE(handle.active());
  }
  EXPECT_EQ(link.session().server_stream_count(), 0u);

  // Nothing cached yet: no sample at the start, none at the interval.
  lamp_->latest.reset();
  starts_.clear();
  auto handle = registry_.start_stream(alice_, "lamp", 50ms, recording_callbacks());
  ASSERT_TRUE(wait([&] { return !starts_.empty(); }));
  EXPECT_EQ(starts_[0], request_status::ok);
  EXPECT_FALSE(wait([&] { return !samples_.empty(); }, 300ms));
  lamp_->latest = value("on");
  ASSERT_TRUE(wait([&] { return samples_.size() >= 2; }, 2s));
  EXPECT_EQ(samples_[0].v, value("on"));
  handle.stop();
}

// --- 4. keep-alive and dead-peer detection ----------------------------------------------

TEST_F(cloud_link_test, keepalives_flow_and_a_silent_server_is_detected) {
  start_server();
  auto& link = start_link([](cloud::link_config&, iotmp::session_config& s) { s.keepalive = 1s; });
  ASSERT_TRUE(wait_ready());
  const auto ready_at = steady::now();

  ASSERT_TRUE(wait([&] { return frames_in(message_type::keep_alive) >= 2; }, 4s));
  const auto two_at = steady::now();
  // One per keep-alive period, not sooner; the server echoes them.
  EXPECT_GE(two_at - ready_at, 1800ms);
  EXPECT_LE(two_at - ready_at, 3000ms);
  EXPECT_GE(registry_.find(alice_)->traffic.out(message_type::keep_alive), 1u);
  EXPECT_EQ(link.connect_attempts(), 1u);

  // The server stops answering: 2 x keepalive without traffic means dead.
  ASSERT_TRUE(registry_.set_silent(alice_, true));
  const auto silent_at = steady::now();
  ASSERT_TRUE(wait([&] { return link.reconnects() == 1 && registry_.connected(alice_); }, 6s))
      << device_log_text();
  const auto back_at = steady::now();
  const auto detected_at = device_logged_at("nothing received from the server for 2 s");
  ASSERT_TRUE(detected_at.has_value()) << device_log_text();
  const auto detection = *detected_at - silent_at;
  const auto recovery = back_at - silent_at;
  // The last echo came at most one keep-alive before the silence began.
  EXPECT_GE(detection, 1000ms);
  EXPECT_LE(detection, 2300ms);
  // Detection, plus one reconnect delay (backoff restarts at min after a
  // success: at most 3 x 100 ms), plus a margin for a loaded machine.
  EXPECT_LE(recovery, 3000ms);
  EXPECT_EQ(registry_.find(alice_)->connections, 2u);
  std::printf(
      "[  timing  ] dead peer: detected %lld ms after set_silent (keepalive 1 s), "
      "re-authenticated after %lld ms, reconnect delay %lld ms\n",
      ms_of(detection), ms_of(recovery), static_cast<long long>(link.last_delay().count()));
}

// --- 5. server restart -------------------------------------------------------------------

TEST_F(cloud_link_test, server_restart_reconnects_and_reopens_device_streams) {
  auto& server = start_server();
  auto& link = start_link();
  ASSERT_TRUE(wait_ready());
  const auto pub = iotmp::mqtt_stream_requests(mqtt_stream_scheme::spec, "devices/gw01/status",
                                               mqtt_scope::publish, 0, false);
  const auto sub = iotmp::mqtt_stream_requests(mqtt_stream_scheme::event, "commands/gw01/#",
                                               mqtt_scope::subscribe, 1, false);
  const auto pub_id = link.session().add_device_stream(pub[0].resource, pub[0].parameters);
  const auto sub_id = link.session().add_device_stream(sub[0].resource, sub[0].parameters);
  ASSERT_TRUE(wait([&] {
    return link.session().device_stream_open(pub_id) && link.session().device_stream_open(sub_id);
  }));
  // A server-opened stream belongs to its connection.
  auto handle = registry_.start_stream(alice_, "temperature", std::nullopt, recording_callbacks());
  ASSERT_TRUE(wait([&] { return samples_.size() == 1; }));
  const auto port = server.port();

  server.stop_listening(true);
  ASSERT_TRUE(wait([&] { return link.session().state() == session_state::disconnected; }));
  EXPECT_FALSE(link.session().device_stream_open(pub_id));
  EXPECT_EQ(link.session().server_stream_count(), 0u);
  EXPECT_EQ(ended_, std::vector<request_status>{request_status::disconnected});
  EXPECT_EQ(observer_.closed.size(), 2u);
  // At least one attempt finds nobody listening, and is retried later.
  const auto attempts = link.connect_attempts();
  ASSERT_TRUE(wait(
      [&] { return link.connect_attempts() >= attempts + 1 && announced_delays().size() >= 2; }));
  EXPECT_TRUE(device_logged("connection refused")) << device_log_text();
  ASSERT_TRUE(server.start().ok());
  EXPECT_EQ(server.port(), port);

  ASSERT_TRUE(wait([&] { return link.reconnects() == 1 && ready(); }, 5s)) << device_log_text();
  EXPECT_EQ(registry_.find(alice_)->connections, 2u);
  ASSERT_TRUE(wait([&] {
    return link.session().device_stream_open(pub_id) && link.session().device_stream_open(sub_id);
  }));
  const auto info = registry_.find(alice_);
  ASSERT_EQ(info->device_streams.size(), 2u);
  // Reopened streams work both ways on the new connection.
  EXPECT_EQ(link.session().send_stream_data(pub_id, pson::encode(value("up again"))),
            iotmp::send_status::sent);
  ASSERT_TRUE(wait([&] { return topics_.latest("devices/gw01/status") != nullptr; }));
  EXPECT_EQ(topics_.latest("devices/gw01/status")->value, value("up again"));
  EXPECT_EQ(topics_.publish("commands/gw01/lamp", value("on")), 1u);
  ASSERT_TRUE(wait([&] { return !observer_.data_in.empty(); }));
  EXPECT_EQ(observer_.data_in[0].first, sub_id);
  EXPECT_EQ(observer_.data_in[0].second,
            value(object{{"payload", "on"}, {"topic", "commands/gw01/lamp"}}));
  EXPECT_EQ(observer_.authenticated, 2);
  // Nothing streams the resource on the new connection until asked again.
  EXPECT_FALSE(link.session().is_streamed("temperature"));
  const auto frames_out = link.session().stats().frames_out;
  link.session().resource_changed("temperature");
  EXPECT_EQ(link.session().stats().frames_out, frames_out);
}

TEST_F(cloud_link_test, disconnect_from_the_server_reconnects_with_backoff) {
  start_server();
  auto& link = start_link();
  ASSERT_TRUE(wait_ready());
  ASSERT_TRUE(registry_.kick(alice_, true));  // DISCONNECT, then close
  ASSERT_TRUE(wait([&] { return link.reconnects() == 1 && ready(); })) << device_log_text();
  EXPECT_TRUE(device_logged("server sent DISCONNECT", LOG_WARNING)) << device_log_text();
  const auto delays = announced_delays();
  ASSERT_EQ(delays.size(), 1u);
  EXPECT_GE(delays[0], 100ms);
  EXPECT_LE(delays[0], 300ms);  // back to the minimum's range after a success
  const auto& history = server_->connect_attempts();
  ASSERT_EQ(history.size(), 2u);
  EXPECT_GE(history[1].at - history[0].at, delays[0] - 5ms);
}

// --- 6. hostile bytes from the server ------------------------------------------------

TEST_F(cloud_link_test, garbage_and_oversize_frames_cause_a_clean_reconnect) {
  start_server();
  auto& link = start_link();
  ASSERT_TRUE(wait_ready());

  // Frames of a type we do not know (0 included) are skipped by their size:
  // still connected.
  ASSERT_TRUE(
      registry_.send_raw(alice_, byte_buffer{0x00, 0x01, 0x00, 0x0c, 0x02, 0x00, 0x00}).ok());
  EXPECT_EQ(run("temperature").status, request_status::ok);
  EXPECT_EQ(link.connect_attempts(), 1u);

  // Garbage: a type byte that cannot start a frame.
  ASSERT_TRUE(registry_.send_raw(alice_, byte_buffer{0xff, 0xff, 0xff, 0xff}).ok());
  ASSERT_TRUE(wait([&] { return link.reconnects() == 1 && ready(); })) << device_log_text();
  EXPECT_TRUE(device_logged("malformed frame from server: invalid message type byte", LOG_WARNING))
      << device_log_text();
  EXPECT_EQ(run("temperature").status, request_status::ok);

  // A header announcing a body over 256 KiB: dropped at the header, without
  // waiting for (or allocating) the body.
  byte_buffer oversize{0x06};
  iotgw::write_varint(iotmp::max_body_size + 1, oversize);
  const auto sent_at = steady::now();
  ASSERT_TRUE(registry_.send_raw(alice_, oversize).ok());
  ASSERT_TRUE(wait([&] { return link.reconnects() == 2 && ready(); })) << device_log_text();
  EXPECT_LE(steady::now() - sent_at, 2s);
  EXPECT_TRUE(
      device_logged("malformed frame from server: frame larger than the size limit", LOG_WARNING))
      << device_log_text();
  EXPECT_EQ(run("temperature").status, request_status::ok);
  EXPECT_EQ(registry_.find(alice_)->connections, 3u);
}

// --- 7. TLS ------------------------------------------------------------------------------

class cloud_link_tls_test : public cloud_link_test {
 protected:
  void SetUp() override {
    cloud_link_test::SetUp();
    ASSERT_TRUE(pki_.ok());
  }

  // A certificate from the test CA for another name only (DNS:cloud.example).
  bool make_wrong_name_cert() {
    const auto dir = std::filesystem::path(pki_.file("ca.pem")).parent_path().string();
    std::ofstream(dir + "/wrong.cnf") << "basicConstraints=CA:FALSE\n"
                                         "keyUsage=critical,digitalSignature\n"
                                         "extendedKeyUsage=serverAuth\n"
                                         "subjectAltName=DNS:cloud.example\n";
    const std::string cmd =
        "cd '" + dir +
        "' && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        " -keyout wrong.key -out wrong.csr -subj /CN=cloud.example >>openssl.log 2>&1"
        " && openssl x509 -req -in wrong.csr -CA ca.pem -CAkey ca.key -set_serial 4343"
        " -days 2 -extfile wrong.cnf -out wrong.pem >>openssl.log 2>&1";
    return std::system(cmd.c_str()) == 0;
  }

  void start_tls_server(const std::string& cert = "server.pem",
                        const std::string& key = "server.key") {
    start_server([&](ds::server_options& o) {
      o.tls = net::tls_context::server({pki_.file(cert.c_str()), pki_.file(key.c_str())});
    });
  }

  cloud::cloud_link& start_tls_link(const std::string& host, const char* ca,
                                    bool insecure = false) {
    return start_link([&](cloud::link_config& c, iotmp::session_config&) {
      c.host = host;
      c.tls = true;
      c.ca_file = pki_.file(ca);
      c.insecure_skip_verify = insecure;
    });
  }

  net_test::test_pki pki_;
};

TEST_F(cloud_link_tls_test, verifies_the_server_by_host_name_and_by_ip_address) {
  start_tls_server();
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    SCOPED_TRACE(host);
    auto& link = start_tls_link(host, "ca.pem");
    ASSERT_TRUE(wait_ready()) << device_log_text();
    EXPECT_EQ(link.connect_attempts(), 1u);
    EXPECT_EQ(run("temperature").payload, value(object{{"celsius", 22.5}}));
    EXPECT_FALSE(device_logged("insecure_skip_verify"));
    link_.reset();
    ASSERT_TRUE(wait([&] { return !registry_.connected(alice_); }));
  }
  EXPECT_EQ(server_->connect_attempts().size(), 2u);
}

TEST_F(cloud_link_tls_test, sends_sni_for_a_host_name_and_none_for_an_ip_address) {
  // The devserver does not show SNI: a bare TLS listener records what each
  // client asked for once the handshake is done.
  const auto server_tls = pki_.server_context();
  std::vector<std::shared_ptr<net::tls_stream>> streams;
  std::vector<std::string> names;
  auto listener =
      net::listener::create(loop_, [&](net::status st, std::shared_ptr<net::tcp_stream> tcp) {
        if (!st.ok()) return;
        auto tls = net::tls_stream::server(server_tls, tcp);
        auto* raw = tls.get();
        tls->on_handshake([&names, raw] { names.push_back(raw->requested_server_name()); });
        streams.push_back(std::move(tls));
      });
  ASSERT_TRUE(listener->listen({}).ok());
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    const auto before = names.size();
    start_link([&](cloud::link_config& c, iotmp::session_config&) {
      c.host = host;
      c.port = listener->port();
      c.tls = true;
      c.ca_file = pki_.file("ca.pem");
    });
    ASSERT_TRUE(wait([&] { return names.size() == before + 1; })) << device_log_text();
    link_.reset();
  }
  EXPECT_EQ(names, (std::vector<std::string>{"localhost", ""}));
  for (auto& s : streams) s->close();
  listener->close();
}

TEST_F(cloud_link_tls_test, refuses_a_server_signed_by_another_ca) {
  start_tls_server();
  auto& link = start_tls_link("localhost", "other-ca.pem");
  // The handshake fails on our side, so the server sees TCP accepts but no CONNECT.
  ASSERT_TRUE(wait([&] { return server_->accepts().size() >= 3; }, 10s)) << device_log_text();
  EXPECT_TRUE(server_->connect_attempts().empty());
  EXPECT_NE(link.session().state(), session_state::ready);
  EXPECT_TRUE(device_logged("certificate verify failed")) << device_log_text();
  const auto& accepts = server_->accepts();
  for (std::size_t i = 1; i < accepts.size(); ++i) {
    EXPECT_GE(accepts[i].at - accepts[i - 1].at, 95ms) << "retried without backoff";
  }
}

TEST_F(cloud_link_tls_test, refuses_a_certificate_for_another_host_name) {
  ASSERT_TRUE(make_wrong_name_cert());
  start_tls_server("wrong.pem", "wrong.key");
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    SCOPED_TRACE(host);
    const auto accepts = server_->accepts().size();
    device_logs_.clear();
    auto& link = start_tls_link(host, "ca.pem");
    ASSERT_TRUE(wait([&] { return server_->accepts().size() >= accepts + 2; }, 10s))
        << device_log_text();
    EXPECT_NE(link.session().state(), session_state::ready);
    EXPECT_TRUE(device_logged("certificate verify failed")) << device_log_text();
    EXPECT_TRUE(device_logged("mismatch")) << device_log_text();
    link_.reset();
  }
  EXPECT_TRUE(server_->connect_attempts().empty());
}

TEST_F(cloud_link_tls_test, insecure_skip_verify_connects_and_warns_at_every_connect) {
  start_tls_server();
  // The wrong CA: only skipping verification lets this one in.
  auto& link = start_tls_link("localhost", "other-ca.pem", true);
  ASSERT_TRUE(wait_ready()) << device_log_text();
  for (std::uint64_t n = 1; n <= 2; ++n) {
    ASSERT_TRUE(registry_.kick(alice_));
    ASSERT_TRUE(wait([&] { return link.reconnects() == n && ready(); })) << device_log_text();
  }
  EXPECT_EQ(link.connect_attempts(), 3u);
  EXPECT_EQ(count(device_logs_, "insecure_skip_verify is set", LOG_WARNING), 3u)
      << device_log_text();
}

TEST_F(cloud_link_tls_test, a_server_that_never_finishes_the_handshake_is_given_up) {
  // TCP is accepted, the TLS handshake never answered: the connect timeout
  // covers the handshake too, or the link would wait forever.
  raw_server server(loop_);
  auto& link = start_link([&](cloud::link_config& c, iotmp::session_config&) {
    c.port = server.port();
    c.tls = true;
    c.ca_file = pki_.file("ca.pem");
    c.connect_timeout = 300ms;
  });
  ASSERT_TRUE(wait([&] { return server.accepted() >= 2; }, 5s)) << device_log_text();
  EXPECT_NE(link.session().state(), session_state::ready);
  EXPECT_GE(announced_delays().size(), 1u);
  EXPECT_TRUE(device_logged("TLS handshake not finished within 300 ms", LOG_WARNING))
      << device_log_text();
}

TEST_F(cloud_link_test, a_server_that_never_answers_connect_is_given_up) {
  raw_server server(loop_);
  auto& link = start_link([&](cloud::link_config& c, iotmp::session_config& s) {
    c.port = server.port();
    s.auth_timeout = 1s;
  });
  ASSERT_TRUE(server.next(0x03).has_value());
  const auto connect_at = steady::now();
  ASSERT_TRUE(wait([&] { return server.accepted() >= 2; }, 5s)) << device_log_text();
  EXPECT_GE(steady::now() - connect_at, 1000ms);
  EXPECT_TRUE(device_logged("no answer to CONNECT within 1 s")) << device_log_text();
  EXPECT_EQ(link.connect_attempts(), 2u);
}

// --- 8. device-opened MQTT streams ----------------------------------------------------

TEST_F(cloud_link_test, publish_streams_land_in_the_topic_table_in_both_schemes) {
  start_server();
  auto& link = start_link();
  ASSERT_TRUE(wait_ready());
  struct stream {
    mqtt_stream_scheme scheme;
    std::string topic;
    iotmp::device_stream_id id = 0;
  };
  std::vector<stream> streams{{mqtt_stream_scheme::spec, "devices/gw01/status"},
                              {mqtt_stream_scheme::event, "devices/gw01/events"}};
  for (auto& s : streams) {
    const auto req = iotmp::mqtt_stream_requests(s.scheme, s.topic, mqtt_scope::publish, 0, false);
    ASSERT_EQ(req.size(), 1u);
    s.id = link.session().add_device_stream(req[0].resource, req[0].parameters);
  }
  ASSERT_TRUE(wait([&] {
    return std::all_of(streams.begin(), streams.end(),
                       [&](const stream& s) { return link.session().device_stream_open(s.id); });
  }));
  const auto info = registry_.find(alice_);
  ASSERT_EQ(info->device_streams.size(), 2u);
  for (const auto& ds : info->device_streams) {
    EXPECT_TRUE(ds.publish);
    EXPECT_FALSE(ds.subscribe);
  }

  for (const auto& s : streams) {
    const value v(object{{"online", true}, {"scheme", s.topic}});
    EXPECT_EQ(link.session().send_stream_data(s.id, pson::encode(v)), iotmp::send_status::sent);
  }
  for (const auto& s : streams) {
    SCOPED_TRACE(s.topic);
    ASSERT_TRUE(wait([&] { return topics_.latest(s.topic) != nullptr; }));
    EXPECT_EQ(topics_.latest(s.topic)->value, value(object{{"online", true}, {"scheme", s.topic}}));
    EXPECT_EQ(topics_.latest(s.topic)->messages, 1u);
  }
  EXPECT_EQ(frames_in(message_type::stream_data), 2u);
}

TEST_F(cloud_link_test, subscribe_streams_receive_topic_table_publishes_in_both_schemes) {
  start_server();
  auto& link = start_link();
  ASSERT_TRUE(wait_ready());
  const auto spec = iotmp::mqtt_stream_requests(mqtt_stream_scheme::spec, "commands/#",
                                                mqtt_scope::subscribe, 0, false);
  const auto event = iotmp::mqtt_stream_requests(mqtt_stream_scheme::event, "alerts/+",
                                                 mqtt_scope::subscribe, 1, false);
  const auto spec_id = link.session().add_device_stream(spec[0].resource, spec[0].parameters);
  const auto event_id = link.session().add_device_stream(event[0].resource, event[0].parameters);
  ASSERT_TRUE(wait([&] {
    return link.session().device_stream_open(spec_id) &&
           link.session().device_stream_open(event_id);
  }));
  EXPECT_EQ(observer_.opened.size(), 2u);
  EXPECT_EQ(topics_.subscription_count(), 2u);

  EXPECT_EQ(topics_.publish("commands/lamp/set", value("on")), 1u);
  EXPECT_EQ(topics_.publish("alerts/smoke", value(object{{"level", 3}})), 1u);
  EXPECT_EQ(topics_.publish("elsewhere/x", value(1)), 0u);
  ASSERT_TRUE(wait([&] { return observer_.data_in.size() >= 2; }));
  EXPECT_EQ(observer_.data_in.size(), 2u);
  EXPECT_EQ(observer_.data_in[0].first, spec_id);
  EXPECT_EQ(observer_.data_in[0].second,
            value(object{{"payload", "on"}, {"topic", "commands/lamp/set"}}));
  EXPECT_EQ(observer_.data_in[1].first, event_id);
  EXPECT_EQ(observer_.data_in[1].second,
            value(object{{"payload", value(object{{"level", 3}})}, {"topic", "alerts/smoke"}}));

  // Removing a stream stops it at the server: no subscriber is left for it.
  link.session().remove_device_stream(spec_id);
  ASSERT_TRUE(wait([&] { return topics_.subscription_count() == 1u; }));
  EXPECT_EQ(topics_.publish("commands/lamp/set", value("off")), 0u);
}

// --- 9. bytes on the wire ---------------------------------------------------------------

// A scripted server speaks the golden frames; what the device answers must be
// the golden bytes. Frames whose stream id the device picks at random (CONNECT,
// its own streams) are compared with the golden row whose stream id field is
// replaced by the one the device chose: every other byte is the row's.
TEST_F(cloud_link_test, wire_bytes_match_the_golden_vectors) {
  // The resources of the vectors' DESCRIBE rows.
  resources_.clear();
  add("led", resource_io::input);
  add("reboot", resource_io::none);
  add("sum", resource_io::input_output, value(object{{"result", 0}}),
      value(object{{"a", 0}, {"b", 0}}));
  add("temperature", resource_io::output, value(object{{"celsius", 22.5}}));

  raw_server server(loop_);
  auto& link = start_link([&](cloud::link_config& c, iotmp::session_config& s) {
    c.port = server.port();
    s.username = "user";
    s.device = "dev1";
    s.credential = "secret";
    s.keepalive = 1s;
  });
  const std::uint8_t ok = 0x01, start_stream = 0x08, stream_data = 0x0a, stop_stream = 0x09,
                     keep_alive = 0x05;

  // The helper itself: replacing the golden stream id by itself changes nothing.
  ASSERT_EQ(leading_stream_id(golden("msg.connect")), 0x1234);
  ASSERT_EQ(hex(with_stream_id(golden("msg.connect"), 0x1234)), hex(golden("msg.connect")));

  const auto connect = server.next(0x03);
  ASSERT_TRUE(connect.has_value());
  const auto connect_sid = leading_stream_id(*connect);
  ASSERT_TRUE(connect_sid.has_value()) << hex(*connect);
  EXPECT_EQ(hex(*connect), hex(with_stream_id(golden("msg.connect"), *connect_sid)));
  server.send(with_stream_id(golden("msg.ok"), *connect_sid));
  ASSERT_TRUE(wait([&] { return link.session().state() == session_state::ready; }));

  // RUN on an output resource -> OK with its value.
  server.send(golden("msg.run.read_only"));
  auto frame = server.next(ok);
  ASSERT_TRUE(frame);
  EXPECT_EQ(hex(*frame), hex(golden("msg.ok.payload")));

  // RUN with input on an input resource -> OK without payload.
  server.send(golden("msg.run.device_resource"));
  frame = server.next(ok);
  ASSERT_TRUE(frame);
  EXPECT_EQ(hex(*frame), hex(golden("msg.ok")));

  server.send(golden("msg.describe.all"));
  frame = server.next(ok);
  ASSERT_TRUE(frame);
  EXPECT_EQ(hex(*frame), hex(golden("msg.describe.all.answer")));

  server.send(golden("msg.describe.one"));
  frame = server.next(ok);
  ASSERT_TRUE(frame);
  EXPECT_EQ(hex(*frame), hex(golden("msg.describe.one.answer")));

  // START_STREAM (5 s interval) -> OK, then the latest value at once.
  server.send(golden("msg.start_stream.interval"));
  frame = server.next(ok);
  ASSERT_TRUE(frame);
  EXPECT_EQ(hex(*frame), hex(golden("msg.ok.stream_ack")));
  const auto ack_index = server.last_taken();
  frame = server.next(stream_data);
  ASSERT_TRUE(frame);
  EXPECT_EQ(hex(*frame), hex(golden("msg.stream_data.sample")));
  EXPECT_GT(server.last_taken(), ack_index);  // no data before the OK
  server.send(golden("msg.stop_stream"));
  frame = server.next(ok);
  ASSERT_TRUE(frame);
  EXPECT_EQ(hex(*frame), hex(golden("msg.ok.stream_ack")));

  frame = server.next(keep_alive, 3s);
  ASSERT_TRUE(frame);
  EXPECT_EQ(hex(*frame), hex(golden("msg.keep_alive")));
  server.send(golden("msg.keep_alive"));  // the echo keeps the device's dead-peer timer quiet

  // Device-opened MQTT streams, both schemes, as mqtt_stream_requests builds them.
  struct opened {
    const char* row;
    mqtt_stream_scheme scheme;
    const char* topic;
    mqtt_scope scope;
    unsigned qos;
    bool retained;
  };
  const std::vector<opened> rows{
      {"msg.start_stream.mqtt_publish.linux", mqtt_stream_scheme::event, "devices/status",
       mqtt_scope::publish, 0, false},
      {"msg.start_stream.mqtt_publish_qos1_retained.linux", mqtt_stream_scheme::event,
       "devices/status", mqtt_scope::publish, 1, true},
      {"msg.start_stream.mqtt_subscribe.linux", mqtt_stream_scheme::event, "commands/#",
       mqtt_scope::subscribe, 0, false},
      {"msg.start_stream.mqtt_subscribe_qos1.linux", mqtt_stream_scheme::event, "commands/#",
       mqtt_scope::subscribe, 1, false},
      {"msg.start_stream.mqtt_publish.docs", mqtt_stream_scheme::spec, "devices/status",
       mqtt_scope::publish, 0, false},
      {"msg.start_stream.mqtt_subscribe.docs", mqtt_stream_scheme::spec, "commands/#",
       mqtt_scope::subscribe, 0, false},
      {"msg.start_stream.mqtt_pubsub.docs", mqtt_stream_scheme::spec, "devices/dev1/io",
       mqtt_scope::both, 0, false},
  };
  std::vector<std::pair<iotmp::device_stream_id, std::uint16_t>> ids;  // (id, wire sid)
  for (const auto& r : rows) {
    SCOPED_TRACE(r.row);
    const auto req = iotmp::mqtt_stream_requests(r.scheme, r.topic, r.scope, r.qos, r.retained);
    ASSERT_EQ(req.size(), 1u);
    const auto id = link.session().add_device_stream(req[0].resource, req[0].parameters);
    frame = server.next(start_stream);
    ASSERT_TRUE(frame);
    const auto sid = leading_stream_id(*frame);
    ASSERT_TRUE(sid.has_value()) << hex(*frame);
    EXPECT_EQ(hex(*frame), hex(with_stream_id(golden(r.row), *sid)));
    ids.emplace_back(id, *sid);
  }

  // The server accepts the first publish stream; its STREAM_DATA is the golden one.
  const auto [pub_id, pub_sid] = ids[0];
  server.send(with_stream_id(golden("msg.ok.start_stream_ack"), pub_sid));
  ASSERT_TRUE(wait([&] { return link.session().device_stream_open(pub_id); }));
  ASSERT_EQ(link.session().send_stream_data(pub_id, pson::encode(value(object{{"online", true}}))),
            iotmp::send_status::sent);
  frame = server.next(stream_data);
  ASSERT_TRUE(frame);
  EXPECT_EQ(hex(*frame), hex(with_stream_id(golden("msg.stream_data.mqtt_publish"), pub_sid)));
  ASSERT_EQ(link.session().send_stream_data(pub_id, pson::encode(value("23.5"))),
            iotmp::send_status::sent);
  frame = server.next(stream_data);
  ASSERT_TRUE(frame);
  EXPECT_EQ(hex(*frame),
            hex(with_stream_id(golden("msg.stream_data.mqtt_publish_string"), pub_sid)));

  // A delivery on the subscribe stream reaches the observer decoded.
  const auto [sub_id, sub_sid] = ids[2];
  server.send(with_stream_id(golden("msg.ok.start_stream_ack"), sub_sid));
  server.send(with_stream_id(golden("msg.stream_data.mqtt_delivery"), sub_sid));
  ASSERT_TRUE(wait([&] { return !observer_.data_in.empty(); }));
  EXPECT_EQ(observer_.data_in[0].first, sub_id);
  EXPECT_EQ(observer_.data_in[0].second, value(object{{"payload", "on"}}));

  // The device closes its publish stream.
  link.session().remove_device_stream(pub_id);
  frame = server.next(stop_stream);
  ASSERT_TRUE(frame);
  EXPECT_EQ(hex(*frame), hex(with_stream_id(golden("msg.stop_stream.device"), pub_sid)));

  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(link.connect_attempts(), 1u);
}

}  // namespace
