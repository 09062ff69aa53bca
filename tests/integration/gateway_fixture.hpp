// The end-to-end fixture: a real mosquitto on a free port, the devserver
// in-process on this thread's loop (allow-any, free port), and the real
// iotmp-gateway binary with a config written to a temp dir, stopped by PID.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "integration/e2e_support.hpp"
#include "iotmp_gateway/devserver/registry.hpp"
#include "iotmp_gateway/devserver/server.hpp"
#include "iotmp_gateway/devserver/topic_table.hpp"
#include "iotmp_gateway/pson/json.hpp"
#include "support/mosquitto.hpp"
#include "support/mqtt_peer.hpp"

namespace e2e {

namespace ds = iotgw::devserver;
namespace pson = iotgw::pson;
using iotgw::iotmp::message_type;

inline std::string json(const pson::value& v) {
  return pson::to_json(v);
}
inline std::string json(const std::optional<pson::value>& v) {
  return v ? pson::to_json(*v) : std::string("<none>");
}
inline pson::value parse(std::string_view text) {
  pson::value v;
  if (pson::parse_json(text, v)) throw std::runtime_error("bad JSON in test: " + std::string(text));
  return v;
}

// What a server-opened stream delivered, kept alive by the callbacks.
struct stream_record {
  std::vector<pson::value> samples;
  std::vector<std::chrono::steady_clock::time_point> at;
  std::vector<ds::request_result> started;
  std::optional<ds::request_status> ended;
};

struct gateway_options {
  int keepalive = 10;
  std::string mqtt_streams = "spec";
};

class gateway_e2e : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<test_support::mosquitto_broker>();
    ds::server_options o;
    o.port = 0;
    o.allow_any = true;
    o.log = [this](int priority, std::string_view text) {
      server_log_.push_back("<" + std::to_string(priority) + ">" + std::string(text));
    };
    server_ = std::make_unique<ds::server>(loop_, registry_, o);
    const auto st = server_->start();
    ASSERT_TRUE(st.ok()) << st.message;
    write_text(dir_ / "credential", "e2e-credential\n", fs::perms(0600));
  }

  void TearDown() override {
    if (gw_ && gw_->running()) {
      EXPECT_EQ(stop_gateway(), 0) << "the gateway did not stop cleanly";
    }
    if (HasFailure() && gw_) {
      std::fprintf(stderr, "---- gateway stderr ----\n%s------------------------\n",
                   tail(gw_->err(), 8000).c_str());
    }
    gw_.reset();
    streams_.clear();
    peer_.reset();
    server_->close();
    server_.reset();
    loop_.run(UV_RUN_NOWAIT);
    EXPECT_TRUE(loop_.close()) << "handles left open";
  }

  static std::string tail(const std::string& s, std::size_t n) {
    return s.size() <= n ? s : s.substr(s.size() - n);
  }

  // ---- configuration and process --------------------------------------------

  // The gateway's YAML: cloud = this test's devserver (plain TCP), mqtt = this
  // test's broker, then `body` (resources, streams, ...).
  std::string config(const std::string& body, const gateway_options& o = {}) const {
    std::ostringstream y;
    y << "cloud:\n";
    y << "  host: 127.0.0.1\n";
    y << "  port: " << server_->port() << "\n";
    y << "  tls: false\n";
    y << "  username: alice\n";
    y << "  device: gw01\n";
    y << "  credential_file: " << (dir_ / "credential").string() << "\n";
    y << "  keepalive: " << o.keepalive << "\n";
    y << "  reconnect: { min: 1, max: 2 }\n";
    y << "  mqtt_streams: " << o.mqtt_streams << "\n";
    y << "mqtt:\n";
    y << "  uri: " << broker_->uri() << "\n";
    y << "  client_id: gw-e2e-" << ::getpid() << "\n";
    y << "spool:\n";
    y << "  dir: " << (dir_ / "spool").string() << "\n";
    y << "log:\n";
    y << "  level: debug\n";
    y << body;
    return y.str();
  }

  fs::path write_config(const std::string& text) {
    const auto path = dir_ / "gateway.yaml";
    write_text(path, text, fs::perms(0644));
    return path;
  }

  // Starts the binary and waits until it is ready: authenticated at the
  // devserver, `online` retained on its status topic (published after its
  // subscriptions were requested, on the same connection, so the broker has
  // them) and `device_streams` MQTT streams open.
  void start_gateway(const std::string& yaml_text, std::size_t device_streams = 0) {
    const auto path = write_config(yaml_text);
    start_gateway_file(path, device_streams);
  }

  void start_gateway_file(const fs::path& path, std::size_t device_streams = 0) {
    gw_ = std::make_unique<program>(std::vector<std::string>{"-c", path.string()}, dir_.path(),
                                    "gateway");
    ASSERT_TRUE(wait_ready(device_streams)) << "the gateway did not become ready\n"
                                            << tail(gw_->err(), 4000);
  }

  bool wait_ready(std::size_t device_streams, std::chrono::milliseconds deadline = 15s) {
    auto& status = peer();
    status.subscribe(status_topic);
    return pump_until(
               loop_,
               [&] {
                 if (!gw_->running()) return true;  // reported below
                 const auto info = registry_.find(alice);
                 const auto seen = status.on(status_topic);
                 return info && info->connected && info->device_streams.size() >= device_streams &&
                        !seen.empty() && seen.back().payload == "online";
               },
               deadline) &&
           gw_->running();
  }

  // SIGTERM (or sig), and the exit code; the loop keeps running meanwhile.
  int stop_gateway(int sig = SIGTERM) {
    gw_->signal(sig);
    return gw_->wait_exit(
        [&](const std::function<bool()>& cond) { return pump_until(loop_, cond, 8s); });
  }

  // ---- the local side -------------------------------------------------------

  // The test's client on the broker, as a sensor or device would be. One per
  // test: Paho C notices a second client's socket only on its next poll
  // timeout, which costs seconds per client.
  test_support::mqtt_peer& peer() {
    if (!peer_) peer_ = std::make_unique<test_support::mqtt_peer>(broker_->uri(), "e2e-local");
    return *peer_;
  }
  // After the broker restarted: the old client is gone for good.
  void drop_peer() { peer_.reset(); }

  // The retained value of topic ("" when none): subscribing again makes the
  // broker send it again (MQTT 5, retain handling 0). Copies from earlier
  // subscribes (wait_ready's, a previous call's) may still be on the way, and
  // they carry what was retained then. mosquitto sends one client's messages in
  // the order it queued them, so once a marker published after this subscribe
  // is back, every copy is in, and the last one is the current state.
  std::string retained(const std::string& topic) {
    auto& p = peer();
    const auto before = p.on(topic).size();
    p.subscribe(topic);
    const std::string marker_topic = "e2e-test/marker";
    p.subscribe(marker_topic);
    const auto markers = p.on(marker_topic).size();
    p.publish(marker_topic, "after " + topic, 1);
    pump_until(
        loop_, [&] { return p.on(marker_topic).size() > markers; }, 5s);
    const auto got = p.on(topic);
    std::string last;
    for (std::size_t i = before; i < got.size(); ++i) {
      if (got[i].retained) last = got[i].payload;
    }
    return last;
  }

  bool wait_message(test_support::mqtt_peer& p, const std::string& topic, std::size_t n,
                    std::chrono::milliseconds deadline = 10s) {
    return pump_until(
        loop_, [&] { return p.on(topic).size() >= n; }, deadline);
  }

  // ---- the cloud side (devserver C++ API) --------------------------------------

  ds::request_result run(std::string_view resource,
                         const std::optional<pson::value>& input = std::nullopt) {
    auto out = std::make_shared<std::optional<ds::request_result>>();
    const auto st =
        registry_.run(alice, resource, input, [out](const ds::request_result& r) { *out = r; });
    if (st != ds::request_status::ok) return ds::request_result{st, {}, {}};
    pump_until(
        loop_, [&] { return out->has_value(); }, 10s);
    return out->value_or(ds::request_result{ds::request_status::timeout, {}, {}});
  }

  ds::request_result describe(std::optional<std::string_view> resource = std::nullopt) {
    auto out = std::make_shared<std::optional<ds::request_result>>();
    const auto st =
        registry_.describe(alice, resource, [out](const ds::request_result& r) { *out = r; });
    if (st != ds::request_status::ok) return ds::request_result{st, {}, {}};
    pump_until(
        loop_, [&] { return out->has_value(); }, 10s);
    return out->value_or(ds::request_result{ds::request_status::timeout, {}, {}});
  }

  // For conditions that cost a request each: checked every 20 ms, the loop running.
  bool poll(const std::function<bool()>& cond, std::chrono::milliseconds deadline = 10s) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (!cond()) {
      if (std::chrono::steady_clock::now() >= until) return false;
      pump_for(loop_, 20ms);
    }
    return true;
  }

  // RUN (without input) until the answer's payload is `expected` as compact JSON.
  bool eventually_reads(std::string_view resource, const std::string& expected,
                        std::chrono::milliseconds deadline = 10s, int* runs = nullptr) {
    std::string last;
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (true) {
      const auto r = run(resource);
      if (runs) ++*runs;
      last = json(r.payload);
      if (r.ok() && last == expected) return true;
      if (std::chrono::steady_clock::now() >= until) break;
      pump_for(loop_, 10ms);
    }
    ADD_FAILURE() << "RUN " << resource << ": got " << last << ", want " << expected;
    return false;
  }

  pson::value gateway_status() {
    const auto r = run("$gateway");
    EXPECT_TRUE(r.ok()) << ds::to_string(r.status);
    return r.payload.value_or(pson::value());
  }
  std::uint64_t counter(const pson::value& status, std::string_view name) {
    std::uint64_t n = 0;
    const auto* counters = status.find("counters");
    if (counters && counters->find(name)) counters->find(name)->get_unsigned(n);
    return n;
  }
  std::string state_of(const pson::value& status, std::string_view link) {
    const auto* s = status.find(link);
    return s && s->is_string() ? s->as_string() : std::string();
  }

  struct open_stream {
    ds::stream_handle handle;
    std::shared_ptr<stream_record> rec;
  };
  open_stream start_stream(std::string_view resource,
                           std::optional<std::chrono::milliseconds> interval) {
    auto rec = std::make_shared<stream_record>();
    ds::stream_callbacks cb;
    cb.on_sample = [rec](const pson::value& v) {
      rec->samples.push_back(v);
      rec->at.push_back(std::chrono::steady_clock::now());
    };
    cb.on_started = [rec](const ds::request_result& r) { rec->started.push_back(r); };
    cb.on_ended = [rec](ds::request_status why) { rec->ended = why; };
    auto h = registry_.start_stream(alice, resource, interval, std::move(cb));
    streams_.push_back(h);
    pump_until(
        loop_, [&] { return !rec->started.empty(); }, 10s);
    return {h, rec};
  }

  ds::traffic_counters traffic() {
    const auto info = registry_.find(alice);
    return info ? info->traffic : ds::traffic_counters{};
  }
  std::vector<ds::device_stream> device_streams() {
    const auto info = registry_.find(alice);
    return info ? info->device_streams : std::vector<ds::device_stream>{};
  }
  std::optional<ds::device_stream> device_stream_on(const std::string& topic, bool subscribe) {
    for (const auto& s : device_streams()) {
      if (s.topic == topic && (subscribe ? s.subscribe : s.publish)) return s;
    }
    return std::nullopt;
  }

  const std::string status_topic = "iotmp-gateway/gw01/status";
  const ds::device_id alice{"alice", "gw01"};

  temp_dir dir_;
  std::unique_ptr<test_support::mosquitto_broker> broker_;
  iotgw::uv::loop loop_;
  ds::topic_table topics_;
  ds::device_registry registry_{topics_};
  std::unique_ptr<ds::server> server_;
  std::vector<std::string> server_log_;
  std::unique_ptr<program> gw_;
  std::vector<ds::stream_handle> streams_;
  std::unique_ptr<test_support::mqtt_peer> peer_;
};

}  // namespace e2e
