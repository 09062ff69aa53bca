// Fault injection (issue 7): the real iotmp-gateway, a real mosquitto and the
// devserver (in this process), with a test-controlled TCP proxy on the path.
// Each test breaks the network in one way and asserts that the gateway notices
// within a stated bound, recovers, keeps its memory bounded and does not crash.
// Zero loss through a cloud outage is the spool's business (its own tests);
// here only what MQTT QoS 1 promises across a broker restart is asserted.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdio>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "integration/gateway_fixture.hpp"
#include "iotmp_gateway/daemon/notifier.hpp"
#include "iotmp_gateway/mqtt/link.hpp"
#include "support/loop.hpp"
#include "support/tcp_proxy.hpp"

using namespace e2e;
using namespace std::chrono_literals;
using pson::value;
using request_status = ds::request_status;
using test_support::tcp_proxy;

namespace {

using clock_type = std::chrono::steady_clock;

long long ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t).count();
}

// utime + stime of a process, in clock ticks (-1 when unreadable).
long long cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  long long utime = 0, stime = 0;
  // Fields after the name start at 3 (state); utime and stime are 14 and 15.
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoll(f);
    if (i == 15) stime = std::stoll(f);
  }
  return utime + stime;
}

// Publishes "0", "1", ... with QoS 1 at about `rate` messages/s from its own
// thread, with a window of unacknowledged messages, and records which ones the
// broker acknowledged (PUBACK). Stops by itself at the first failure (the
// broker went away), after `max_messages`, after `max_time`, or on stop().
class qos1_publisher {
 public:
  qos1_publisher(const std::string& uri, std::string topic, std::uint64_t first, int rate,
                 std::uint64_t max_messages, std::chrono::seconds max_time)
      : client_(uri, "fault-pub-" + std::to_string(::getpid()) + "-" + std::to_string(first),
                ::mqtt::create_options(MQTTVERSION_5)),
        topic_(std::move(topic)) {
    ::mqtt::connect_options opts;
    opts.set_mqtt_version(MQTTVERSION_5);
    opts.set_clean_start(true);
    client_.connect(opts)->wait_for(5s);
    thread_ = std::thread([=, this] { run(first, rate, max_messages, max_time); });
  }
  ~qos1_publisher() {
    stop();
    try {
      if (client_.is_connected()) client_.disconnect(0)->wait_for(500ms);
    } catch (...) {
    }
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  bool finished() const { return finished_; }
  std::uint64_t published() const { return published_; }
  std::set<std::uint64_t> acked() const {
    std::lock_guard lock(mutex_);
    return acked_;
  }
  std::size_t acked_count() const {
    std::lock_guard lock(mutex_);
    return acked_.size();
  }

 private:
  void run(std::uint64_t first, int rate, std::uint64_t max_messages,
           std::chrono::seconds max_time) {
    std::deque<std::pair<std::uint64_t, ::mqtt::delivery_token_ptr>> window;
    const auto settle = [&](bool wait) {
      while (!window.empty()) {
        auto& [seq, tok] = window.front();
        try {
          // Both throw when the publish failed.
          if (!tok->try_wait() && !(wait && tok->wait_for(2s))) return false;
        } catch (...) {
          return false;
        }
        {
          std::lock_guard lock(mutex_);
          acked_.insert(seq);
        }
        window.pop_front();
      }
      return true;
    };
    const auto start = clock_type::now();
    const auto period = std::chrono::microseconds(1'000'000 / rate);
    auto next = start;
    for (std::uint64_t i = 0; i < max_messages && !stop_ && clock_type::now() - start < max_time;
         ++i) {
      const auto seq = first + i;
      try {
        window.emplace_back(seq, client_.publish(topic_, std::to_string(seq), 1, false));
        ++published_;
      } catch (...) {
        break;
      }
      if (!settle(false) && window.size() >= 100 && !settle(true)) break;
      // Pacing of the load, not synchronisation.
      next += period;
      std::this_thread::sleep_until(next);
    }
    settle(true);  // the last window: acknowledged or failed, each within 2 s
    finished_ = true;
  }

  ::mqtt::async_client client_;
  std::string topic_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::atomic<std::uint64_t> published_{0};
  mutable std::mutex mutex_;
  std::set<std::uint64_t> acked_;
};

class fault_e2e : public gateway_e2e {
 protected:
  void TearDown() override {
    gateway_e2e::TearDown();
    cloud_proxy_.reset();
    mqtt_proxy_.reset();
  }

  // The fixture's config with the cloud (and optionally the broker) reached
  // through a proxy.
  std::string via_proxies(std::string text, bool mqtt_too = false) {
    const auto replace = [&](const std::string& from, const std::string& to) {
      const auto at = text.find(from);
      EXPECT_NE(at, std::string::npos) << from;
      if (at != std::string::npos) text.replace(at, from.size(), to);
    };
    cloud_proxy_ = std::make_unique<tcp_proxy>(server_->port());
    replace("port: " + std::to_string(server_->port()) + "\n",
            "port: " + std::to_string(cloud_proxy_->port()) + "\n");
    if (mqtt_too) {
      mqtt_proxy_ = std::make_unique<tcp_proxy>(broker_->port());
      replace(broker_->uri(), "tcp://127.0.0.1:" + std::to_string(mqtt_proxy_->port()));
    }
    return text;
  }

  std::uint64_t connections() {
    const auto info = registry_.find(alice);
    return info ? info->connections : 0;
  }
  // Authenticated for the n-th time, with `streams` MQTT streams open again.
  bool connected_again(std::uint64_t n, std::size_t streams) {
    const auto info = registry_.find(alice);
    return info && info->connected && info->connections >= n &&
           info->device_streams.size() >= streams;
  }

  // A local publish reaches the cloud topic (the data path works end to end).
  bool flows_up(const std::string& local, const std::string& cloud, const std::string& text,
                std::chrono::milliseconds deadline = 15s) {
    peer().publish(local, text, 1);
    return pump_until(
        loop_,
        [&] {
          const auto* e = topics_.latest(cloud);
          return e && e->value.is_string() && e->value.as_string() == text;
        },
        deadline);
  }

  // Waits until the gateway used no CPU for `quiet`: it has taken in and
  // dealt with everything that was sent to it.
  bool wait_idle(std::chrono::milliseconds quiet, std::chrono::milliseconds deadline) {
    const auto until = clock_type::now() + deadline;
    long long last = cpu_ticks(gw_->pid());
    auto since = clock_type::now();
    while (clock_type::now() < until) {
      pump_for(loop_, 50ms);
      const auto now_ticks = cpu_ticks(gw_->pid());
      if (now_ticks != last) {
        last = now_ticks;
        since = clock_type::now();
      } else if (clock_type::now() - since >= quiet) {
        return true;
      }
    }
    return false;
  }

  std::size_t count_in_log(std::string_view what) {
    const auto text = gw_->err();
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

  std::unique_ptr<tcp_proxy> cloud_proxy_;
  std::unique_ptr<tcp_proxy> mqtt_proxy_;
};

const char* const data_streams = R"(
resources:
  temp: { read: sensors/temp }
streams:
  - local: data/text
    cloud: gw01/data/text
    scope: publish
    format: string
)";

// ---- cloud: connected, but nothing flows ---------------------------------------------

TEST_F(fault_e2e, cloud_black_hole_is_detected_and_repaired) {
  gateway_options o;
  o.keepalive = 1;
  start_gateway(via_proxies(config(data_streams, o)), 1);
  ASSERT_EQ(connections(), 1u);
  ASSERT_TRUE(flows_up("data/text", "gw01/data/text", "before"));

  // Half-open: both TCP connections stay up, nothing passes either way. The
  // gateway's KEEP_ALIVE gets no echo: after 2 x keepalive it must give up on
  // the connection (seen at the proxy as its FIN).
  const auto closed_before = cloud_proxy_->stats().closed_by_client;
  cloud_proxy_->black_hole();
  const auto t0 = clock_type::now();
  const auto bound = 2 * std::chrono::seconds(o.keepalive) + 2s;  // + scheduling slack
  ASSERT_TRUE(pump_until(
      loop_, [&] { return cloud_proxy_->stats().closed_by_client > closed_before; }, 20s))
      << "the gateway never dropped the silent connection";
  const auto detected_ms = ms_since(t0);
  std::printf("cloud black hole: dead connection dropped after %lld ms (keepalive %d s)\n",
              detected_ms, o.keepalive);
  RecordProperty("black_hole_detect_ms", std::to_string(detected_ms));
  EXPECT_LE(detected_ms, std::chrono::duration_cast<std::chrono::milliseconds>(bound).count());
  EXPECT_NE(gw_->err().find("nothing received from the server"), std::string::npos);

  // The path heals: a new session within the reconnect bound (reconnect.max
  // 2 s + connect and authentication), streams reopened, data flowing.
  cloud_proxy_->pass();
  const auto t1 = clock_type::now();
  ASSERT_TRUE(pump_until(
      loop_, [&] { return connected_again(2, 1); }, 20s))
      << "no new session after the path healed";
  const auto recovered_ms = ms_since(t1);
  std::printf("cloud black hole: new session %lld ms after the path healed\n", recovered_ms);
  RecordProperty("black_hole_recover_ms", std::to_string(recovered_ms));
  EXPECT_LE(recovered_ms, 5000);
  EXPECT_TRUE(flows_up("data/text", "gw01/data/text", "after"));
  const auto status = gateway_status();
  EXPECT_EQ(state_of(status, "cloud"), "connected");
  EXPECT_GE(counter(status, "reconnects"), 1u);
  EXPECT_TRUE(gw_->running());
}

// ---- cloud: a trickle under load ----------------------------------------------------------

TEST_F(fault_e2e, cloud_throttled_under_load_keeps_memory_bounded_and_recovers) {
  // A longer keepalive: behind a 1 KiB/s trickle the KEEP_ALIVE echo is late
  // by design; this test is about memory, not about detection.
  gateway_options o;
  o.keepalive = 30;
  start_gateway(via_proxies(config(data_streams, o)), 1);
  ASSERT_TRUE(flows_up("data/text", "gw01/data/text", "warm-up"));
  ASSERT_TRUE(wait_idle(300ms, 10s));
  const auto before = memory_of(gw_->pid());

  cloud_proxy_->throttle(1024);
  // 12 MB of stream data offered: far more than the socket buffers and the
  // gateway's in-memory hold-back (4 MiB) together, so its bound is reached.
  const std::string filler(400, 'x');
  constexpr int messages = 30'000;
  auto& sensor = peer();
  const auto load_start = clock_type::now();
  int sent = 0;
  for (; sent < messages && clock_type::now() - load_start < 60s; ++sent) {
    sensor.publish("data/text", std::to_string(sent) + ":" + filler, 0);
  }
  EXPECT_EQ(sent, messages) << "the publish loop hit its time bound";
  ASSERT_TRUE(wait_idle(500ms, 60s)) << "the gateway stayed busy";
  const auto after = memory_of(gw_->pid());
  std::printf(
      "throttle 1 KiB/s, %d x %zu-byte messages in %lld ms: VmHWM %ld -> %ld KiB, "
      "VmRSS %ld -> %ld KiB, through the proxy %llu bytes\n",
      sent, filler.size(), ms_since(load_start), before.hwm_kib, after.hwm_kib, before.rss_kib,
      after.rss_kib, static_cast<unsigned long long>(cloud_proxy_->stats().bytes_up));
  RecordProperty("throttle_VmHWM_before_KiB", std::to_string(before.hwm_kib));
  RecordProperty("throttle_VmHWM_after_KiB", std::to_string(after.hwm_kib));
  // Generous: hold-back 4 MiB + write buffer + allocator slack; unbounded
  // queueing would need the whole 12 MB (and more with per-message overhead).
  // Under ASan the gateway's freed memory sits in the quarantine (256 MiB by
  // default) and counts in VmHWM, so the bound only means something without it.
#if defined(__SANITIZE_ADDRESS__)
  constexpr long bound_kib = 512 * 1024;
#else
  constexpr long bound_kib = 48 * 1024;
#endif
  EXPECT_LT(after.hwm_kib - before.hwm_kib, bound_kib);
  EXPECT_TRUE(gw_->running());
  // Backpressure, not a dropped connection: a batch of local messages must not
  // outgrow the stream's hard limit in one write.
  EXPECT_EQ(gw_->err().find("write failed"), std::string::npos);

  // Lifted: the backlog drains and new data gets through.
  cloud_proxy_->pass();
  const bool flowed = flows_up("data/text", "gw01/data/text", "after-throttle", 60s);
  ASSERT_TRUE(flowed) << "data did not flow again after the throttle was lifted";
  const auto status = gateway_status();
  EXPECT_EQ(state_of(status, "cloud"), "connected");
  std::printf("throttle: dropped %llu, held back %llu, reconnects %llu\n",
              static_cast<unsigned long long>(counter(status, "dropped")),
              static_cast<unsigned long long>(counter(status, "spooled")),
              static_cast<unsigned long long>(counter(status, "reconnects")));
}

// ---- cloud: connections reset, then refused ---------------------------------------------

TEST_F(fault_e2e, cloud_reset_and_refusal_reconnect_within_the_backoff_bound) {
  start_gateway(via_proxies(config(data_streams)), 1);
  ASSERT_EQ(connections(), 1u);
  // reconnect: { min: 1, max: 2 } in the fixture: the next attempt comes at
  // most 2 s after the loss; + 2 s for connect, authentication, scheduling.
  constexpr long long bound_ms = 2000 + 2000;

  cloud_proxy_->reset_connections();
  const auto t0 = clock_type::now();
  ASSERT_TRUE(pump_until(
      loop_, [&] { return connected_again(2, 1); }, 20s));
  const auto reset_ms = ms_since(t0);
  std::printf("cloud reset: new session after %lld ms\n", reset_ms);
  RecordProperty("reset_reconnect_ms", std::to_string(reset_ms));
  EXPECT_LE(reset_ms, bound_ms);
  EXPECT_TRUE(flows_up("data/text", "gw01/data/text", "after-reset"));

  // Reset and refuse new connections: the gateway retries with backoff (never
  // a hot loop), and is back within the bound once connects succeed again.
  const auto attempts_before = count_in_log("reconnecting in");
  cloud_proxy_->refuse();
  cloud_proxy_->reset_connections();
  const auto t1 = clock_type::now();
  ASSERT_TRUE(pump_until(
      loop_, [&] { return count_in_log("reconnecting in") >= attempts_before + 4; }, 30s));
  const auto failing_ms = ms_since(t1);
  // 4 delays of at least reconnect.min (1 s) each, minus the first one's start.
  EXPECT_GE(failing_ms, 2500) << "retries came too fast";
  cloud_proxy_->pass();
  const auto t2 = clock_type::now();
  ASSERT_TRUE(pump_until(
      loop_, [&] { return connected_again(3, 1); }, 20s));
  const auto refused_ms = ms_since(t2);
  std::printf("cloud refused for %lld ms (4 attempts): new session %lld ms after accepting again\n",
              failing_ms, refused_ms);
  RecordProperty("refused_reconnect_ms", std::to_string(refused_ms));
  EXPECT_LE(refused_ms, bound_ms);
  EXPECT_TRUE(flows_up("data/text", "gw01/data/text", "after-refusal"));
  EXPECT_TRUE(gw_->running());
}

// ---- local broker: restart under QoS 1 load ---------------------------------------------

TEST_F(fault_e2e, broker_restart_under_qos1_load_keeps_what_qos1_promises) {
  start_gateway(config(R"(
resources:
  lamp: { write: lamp/set, qos: 1 }
streams:
  - local: load/seq
    cloud: gw01/load/seq
    scope: publish
    qos: 1
    format: number
  - local: cmd/lamp
    cloud: gw01/cmd/lamp
    scope: subscribe
)"),
                2);
  // What the cloud received on the stream, in order.
  std::vector<std::uint64_t> got;
  const auto sub = topics_.subscribe("gw01/load/seq", [&](const std::string&, const value& v) {
    std::uint64_t n = 0;
    if (v.get_unsigned(n)) got.push_back(n);
  });
  ASSERT_NE(sub, 0u);

  // Phase 1: 1,000 msg/s QoS 1 (at most 20,000, at most 30 s) while the broker is stopped.
  auto load = std::make_unique<qos1_publisher>(broker_->uri(), "load/seq", 0, 1000, 20'000, 30s);
  ASSERT_TRUE(pump_until(
      loop_, [&] { return got.size() >= 1000; }, 15s))
      << "the load did not flow before the restart";
  drop_peer();
  broker_->stop();  // SIGTERM by PID, as systemd would
  ASSERT_TRUE(pump_until(
      loop_, [&] { return load->finished(); }, 35s));
  const auto acked = load->acked();
  const auto published = load->published();
  load.reset();
  ASSERT_TRUE(poll([&] { return state_of(gateway_status(), "mqtt") != "connected"; }));

  broker_->start();  // same port, empty (persistence off)
  const auto t0 = clock_type::now();
  ASSERT_TRUE(poll([&] { return state_of(gateway_status(), "mqtt") == "connected"; }, 40s))
      << "the gateway did not reconnect to the broker";
  std::printf("broker restart: MQTT link back %lld ms after the broker\n", ms_since(t0));
  // Subscriptions are back once `online` is retained again (it is published
  // after the subscribe requests, on the same connection).
  ASSERT_TRUE(poll([&] { return retained(status_topic) == "online"; }, 10s));

  // Phase 2: after the restart, every acknowledged message reaches the cloud, in order.
  constexpr std::uint64_t second = 1'000'000;
  const auto phase1_received = got.size();
  auto again = std::make_unique<qos1_publisher>(broker_->uri(), "load/seq", second, 1000, 500, 10s);
  ASSERT_TRUE(pump_until(
      loop_, [&] { return again->finished(); }, 15s));
  const auto acked2 = again->acked();
  ASSERT_EQ(acked2.size(), 500u) << "the restarted broker did not acknowledge the second batch";
  ASSERT_TRUE(pump_until(
      loop_, [&] { return got.size() >= phase1_received + 500; }, 15s))
      << "only " << got.size() - phase1_received << " of 500 reached the cloud after the restart";
  std::vector<std::uint64_t> tail(got.begin() + static_cast<std::ptrdiff_t>(phase1_received),
                                  got.end());
  std::vector<std::uint64_t> expected(acked2.begin(), acked2.end());
  EXPECT_EQ(tail, expected) << "after the restart: lost, duplicated or reordered";

  // Phase 1, precisely: the broker delivers in order on one connection and the
  // gateway forwards in order on one stream, so once the cloud got message K,
  // every message the broker acknowledged before K must have reached it too
  // (the gateway lost nothing it had been given). Acknowledged messages after
  // the last one that reached the cloud may have died with the broker's memory
  // (persistence off): MQTT does not promise those, and they are only counted.
  std::set<std::uint64_t> seen1;
  std::size_t duplicates = 0;
  bool ordered = true;
  std::uint64_t k = 0;
  for (std::size_t i = 0; i < phase1_received; ++i) {
    if (!seen1.insert(got[i]).second) ++duplicates;
    if (i > 0 && got[i] < got[i - 1]) ordered = false;
    k = std::max(k, got[i]);
  }
  std::size_t missing_below_k = 0, lost_with_broker = 0;
  for (const auto s : acked) {
    if (seen1.count(s)) continue;
    if (s < k)
      ++missing_below_k;
    else
      ++lost_with_broker;
  }
  std::printf(
      "broker restart under load: published %llu, acked %zu, reached the cloud %zu (max seq %llu), "
      "acked below it but missing %zu, acked after it (died with the broker) %zu, duplicates %zu\n",
      static_cast<unsigned long long>(published), acked.size(), seen1.size(),
      static_cast<unsigned long long>(k), missing_below_k, lost_with_broker, duplicates);
  EXPECT_EQ(missing_below_k, 0u);
  EXPECT_TRUE(ordered) << "phase 1 arrived out of order";
  for (const auto s : seen1) EXPECT_LT(s, published) << "a message nobody published";

  // Both directions work again: cloud -> local through the subscribe stream
  // and a write resource.
  auto& local = peer();
  local.subscribe("cmd/lamp");
  local.subscribe("lamp/set");
  ASSERT_EQ(topics_.publish("gw01/cmd/lamp", value("ON")), 1u);
  EXPECT_TRUE(wait_message(local, "cmd/lamp", 1));
  EXPECT_TRUE(run("lamp", value("OFF")).ok());
  EXPECT_TRUE(wait_message(local, "lamp/set", 1));
  // The cloud session was never dropped, and the gateway did not crash.
  EXPECT_EQ(connections(), 1u);
  EXPECT_TRUE(gw_->running());
  topics_.unsubscribe(sub);
}

// ---- local broker: connected, but nothing flows ----------------------------------------

// The shipped configuration has no MQTT keepalive setting (the link uses 30 s),
// so the keep-alive is checked on mqtt::link itself, with a short one.
class liveness : public test_support::loop_test {};

TEST_F(liveness, black_holed_broker_connection_is_dropped_by_keepalive_and_restored) {
  test_support::mosquitto_broker broker;
  tcp_proxy proxy(broker.port());
  iotgw::mqtt::link_config c;
  c.uri = "tcp://127.0.0.1:" + std::to_string(proxy.port());
  c.client_id = "fault-link-" + std::to_string(::getpid());
  c.keepalive = 2s;
  c.reconnect_min = 1s;
  c.reconnect_max = 2s;
  int connects = 0;
  std::optional<clock_type::time_point> lost_at;
  std::vector<std::string> got;
  iotgw::mqtt::link_handlers h;
  h.on_connected = [&] { ++connects; };
  h.on_connection_lost = [&](std::string_view) { lost_at = clock_type::now(); };
  h.on_message = [&](std::string_view, std::string_view payload, bool) {
    got.emplace_back(payload);
  };
  {
    iotgw::mqtt::link link(loop_, c, h);
    link.set_subscriptions({{"liveness/in", 1}});
    link.start();
    ASSERT_TRUE(test_support::run_until(
        loop_, [&] { return connects == 1; }, 15s));

    proxy.black_hole();
    const auto t0 = clock_type::now();
    ASSERT_TRUE(test_support::run_until(
        loop_, [&] { return lost_at.has_value(); }, 30s))
        << "the link never noticed the silent broker connection";
    const auto detect_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(*lost_at - t0).count();
    std::printf("mqtt black hole: connection lost after %lld ms (keepalive %lld s)\n",
                static_cast<long long>(detect_ms), static_cast<long long>(c.keepalive.count()));
    RecordProperty("mqtt_black_hole_detect_ms", std::to_string(detect_ms));
    // The session pings after a keepalive of silence from the broker and gives
    // up after one more keepalive without an answer: at most 2 x keepalive after
    // the fault, plus the link's tick (a quarter keepalive, at most 1 s).
    EXPECT_LE(detect_ms, 2000 * 2 + 500 + 500);

    proxy.pass();
    const auto t1 = clock_type::now();
    ASSERT_TRUE(test_support::run_until(
        loop_, [&] { return connects == 2; }, 30s))
        << "the link did not reconnect";
    const auto reconnect_ms = ms_since(t1);
    std::printf("mqtt black hole: reconnected %lld ms after the path healed\n", reconnect_ms);
    // A connect attempt already waiting in the black hole (10 s connect
    // timeout) or the next automatic one (at most reconnect_max = 2 s).
    EXPECT_LE(reconnect_ms, 10'000 + 2'000 + 1'000);
    // Re-subscribed: a message from another client arrives.
    test_support::mqtt_peer sensor(broker.uri(), "fault-sensor");
    ASSERT_TRUE(test_support::run_until(
        loop_,
        [&] {
          if (got.empty()) sensor.publish("liveness/in", "hello", 1);
          return !got.empty();
        },
        10s));
    EXPECT_EQ(got.front(), "hello");
    link.stop();
  }
}

// ---- systemd watchdog: fed by the loop, not by a thread -----------------------------------

TEST_F(liveness, watchdog_pings_only_while_the_loop_turns) {
  const auto path = fs::temp_directory_path() / ("iotmp-wd-" + std::to_string(::getpid()));
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "100000", 1);  // pings every 50 ms
  ::unsetenv("WATCHDOG_PID");
  const auto pings = [&] {
    int n = 0;
    char buf[256];
    for (ssize_t r; (r = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
      if (std::string_view(buf, static_cast<std::size_t>(r)) == "WATCHDOG=1") ++n;
    }
    return n;
  };
  {
    iotgw::daemon::notifier n(loop_);
    n.start_watchdog();
    ASSERT_TRUE(n.watchdog_interval().has_value());
    int seen = 0;
    ASSERT_TRUE(test_support::run_until(
        loop_, [&] { return (seen += pings()) >= 3; }, 5s));
    // The loop thread is stuck (as in a hung callback): no ping may arrive.
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(pings(), 0) << "pinged while the loop was not turning";
    // It turns again: pings resume.
    seen = 0;
    EXPECT_TRUE(test_support::run_until(
        loop_, [&] { return (seen += pings()) >= 2; }, 5s));
  }
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  ::close(fd);
  fs::remove(path);
}

}  // namespace
