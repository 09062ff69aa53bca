// Soak driver (not part of CI; tests/soak/soak.sh builds and runs it): the real
// iotmp-gateway between a real mosquitto and the devserver (in this process),
// the cloud reached through a TCP proxy that drops the connection every few
// minutes. A publisher sends sequence numbers with QoS 1 at a fixed rate; the
// devserver's topic table records which arrived. Prints the gateway's memory
// every minute and, at the end, what was lost, duplicated or reordered.
//
//   iotmp-soak --gateway PATH [--minutes 60] [--rate 1000] [--drop-every 300]
//              [--outage 5] [--keepalive 10]
//
// Exit code 0 when the gateway survived and stopped cleanly, 1 otherwise.
#include <mqtt/async_client.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "iotmp_gateway/devserver/registry.hpp"
#include "iotmp_gateway/devserver/server.hpp"
#include "iotmp_gateway/devserver/topic_table.hpp"
#include "iotmp_gateway/net/uv_loop.hpp"
#include "iotmp_gateway/net/uv_timer.hpp"
#include "support/mosquitto.hpp"
#include "support/process.hpp"
#include "support/tcp_proxy.hpp"

namespace {

namespace ds = iotgw::devserver;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test_support::memory_of;
using clock_type = std::chrono::steady_clock;

struct options {
  std::string gateway;
  double minutes = 60;
  int rate = 1000;
  int drop_every_s = 300;
  int outage_s = 5;
  int keepalive_s = 10;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "iotmp-soak: %s\nusage: iotmp-soak --gateway PATH [--minutes N] [--rate R] "
               "[--drop-every S] [--outage S] [--keepalive S]\n",
               why);
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value for " + a).c_str());
    const std::string v = argv[++i];
    try {
      if (a == "--gateway")
        o.gateway = v;
      else if (a == "--minutes")
        o.minutes = std::stod(v);
      else if (a == "--rate")
        o.rate = std::stoi(v);
      else if (a == "--drop-every")
        o.drop_every_s = std::stoi(v);
      else if (a == "--outage")
        o.outage_s = std::stoi(v);
      else if (a == "--keepalive")
        o.keepalive_s = std::stoi(v);
      else
        usage(("unknown option " + a).c_str());
    } catch (const std::logic_error&) {
      usage(("bad value for " + a).c_str());
    }
  }
  if (o.gateway.empty()) usage("--gateway is required");
  if (o.minutes <= 0 || o.rate <= 0 || o.rate > 100'000 || o.drop_every_s <= 0 || o.outage_s < 0) {
    usage("values out of range");
  }
  return o;
}

// QoS 1 publisher of "0", "1", ... at a fixed rate on its own thread. Keeps a
// window of unacknowledged messages; when the broker does not take a message
// (queue full), it is counted as not published and the sequence goes on.
class publisher {
 public:
  publisher(const std::string& uri, std::uint64_t total, int rate)
      : client_(uri, "iotmp-soak-pub-" + std::to_string(::getpid()),
                ::mqtt::create_options(MQTTVERSION_5, 10'000)),
        acked_(total, 0),
        total_(total),
        rate_(rate) {
    ::mqtt::connect_options opts;
    opts.set_mqtt_version(MQTTVERSION_5);
    opts.set_clean_start(true);
    opts.set_automatic_reconnect(1, 5);
    client_.connect(opts)->wait_for(10s);
    thread_ = std::thread([this] { run(); });
  }
  ~publisher() {
    stop();
    try {
      client_.disconnect(0)->wait_for(1s);
    } catch (...) {
    }
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t published() const { return published_; }
  std::uint64_t acked() const { return acked_count_; }
  std::uint64_t failed() const { return failed_; }
  bool was_acked(std::uint64_t seq) const {
    std::lock_guard lock(mutex_);
    return seq < acked_.size() && acked_[seq];
  }

 private:
  void settle(std::deque<std::pair<std::uint64_t, ::mqtt::delivery_token_ptr>>& window, bool wait) {
    while (!window.empty()) {
      auto& [seq, tok] = window.front();
      try {
        if (!tok->try_wait() && !(wait && tok->wait_for(5s))) return;
        std::lock_guard lock(mutex_);
        acked_[seq] = 1;
        ++acked_count_;
      } catch (...) {
        ++failed_;
      }
      window.pop_front();
    }
  }
  void run() {
    std::deque<std::pair<std::uint64_t, ::mqtt::delivery_token_ptr>> window;
    const auto period = std::chrono::nanoseconds(1'000'000'000LL / rate_);
    auto next = clock_type::now();
    for (std::uint64_t seq = 0; seq < total_ && !stop_; ++seq) {
      try {
        window.emplace_back(seq, client_.publish("soak/seq", std::to_string(seq), 1, false));
        ++published_;
      } catch (...) {
        ++failed_;
      }
      settle(window, false);
      if (window.size() >= 1000) settle(window, true);
      next += period;  // pacing of the load
      std::this_thread::sleep_until(next);
    }
    while (!window.empty()) {
      const auto before = window.size();
      settle(window, true);
      if (window.size() == before) {  // an unanswered one: give up on it
        ++failed_;
        window.pop_front();
      }
    }
  }

  ::mqtt::async_client client_;
  mutable std::mutex mutex_;
  std::vector<std::uint8_t> acked_;
  std::uint64_t total_;
  int rate_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> acked_count_{0};
  std::atomic<std::uint64_t> failed_{0};
};

// Runs the loop for d (the devserver lives on it).
void run_for(iotgw::uv::loop& loop, std::chrono::milliseconds d) {
  auto t = iotgw::uv::timer::create(loop);
  bool done = false;
  t->start(d, [&] { done = true; });
  while (!done) loop.run(UV_RUN_ONCE);
  t->close();
  loop.run(UV_RUN_NOWAIT);
}

std::string write_config(const fs::path& dir, std::uint16_t cloud_port, const std::string& mqtt_uri,
                         int keepalive) {
  std::ofstream(dir / "credential") << "soak-credential\n";
  fs::permissions(dir / "credential", fs::perms(0600));
  std::ostringstream y;
  y << "cloud:\n  host: 127.0.0.1\n  port: " << cloud_port << "\n  tls: false\n"
    << "  username: soak\n  device: gw01\n  credential_file: " << (dir / "credential").string()
    << "\n  keepalive: " << keepalive << "\n  reconnect: { min: 1, max: 5 }\n"
    << "mqtt:\n  uri: " << mqtt_uri << "\n  client_id: iotmp-soak-gw-" << ::getpid() << "\n"
    << "spool:\n  dir: " << (dir / "spool").string() << "\n"
    << "log:\n  level: info\n"
    << "streams:\n  - local: soak/seq\n    cloud: soak/seq\n    scope: publish\n    qos: 1\n"
    << "    format: number\n";
  const auto path = dir / "gateway.yaml";
  std::ofstream(path) << y.str();
  return path.string();
}

}  // namespace

int main(int argc, char** argv) {
  const auto opt = parse(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  const auto dir = fs::temp_directory_path() / ("iotmp-soak-" + std::to_string(::getpid()));
  fs::create_directories(dir);

  test_support::mosquitto_broker broker;
  iotgw::uv::loop loop;
  ds::topic_table topics;
  ds::device_registry registry{topics};
  ds::server_options so;
  so.port = 0;
  so.allow_any = true;
  auto server = std::make_unique<ds::server>(loop, registry, so);
  if (const auto st = server->start(); !st.ok()) {
    std::fprintf(stderr, "devserver: %s\n", st.message.c_str());
    return 1;
  }
  test_support::tcp_proxy proxy(server->port());

  const auto total = static_cast<std::uint64_t>(opt.minutes * 60.0 * opt.rate);
  std::vector<std::uint8_t> seen(total, 0);
  std::uint64_t received = 0, duplicates = 0, reordered = 0, last = 0;
  bool any = false;
  topics.subscribe("soak/seq", [&](const std::string&, const iotgw::pson::value& v) {
    std::uint64_t n = 0;
    if (!v.get_unsigned(n) || n >= total) return;
    if (seen[n]) {
      ++duplicates;
    } else {
      seen[n] = 1;
      ++received;
    }
    if (any && n < last) ++reordered;
    last = n;
    any = true;
  });

  const auto config = write_config(dir, proxy.port(), broker.uri(), opt.keepalive_s);
  const auto log_path = (dir / "gateway.log").string();
  test_support::child_process gw;
  gw.start({opt.gateway, "-c", config}, {}, log_path);
  const ds::device_id id{"soak", "gw01"};
  const auto ready_by = clock_type::now() + 30s;
  while (clock_type::now() < ready_by) {
    const auto info = registry.find(id);
    if (info && info->connected && !info->device_streams.empty()) break;
    run_for(loop, 50ms);
  }
  if (!registry.connected(id)) {
    std::fprintf(stderr, "the gateway did not connect; its log: %s\n", log_path.c_str());
    return 1;
  }
  std::printf(
      "soak: %.1f min at %d msg/s QoS 1, cloud dropped every %d s for %d s; gateway pid %d, "
      "log %s\n",
      opt.minutes, opt.rate, opt.drop_every_s, opt.outage_s, gw.pid(), log_path.c_str());
  std::printf("%6s %10s %10s %10s %8s %10s %10s %6s\n", "min", "published", "acked", "received",
              "dups", "VmRSS_KiB", "VmHWM_KiB", "drops");
  std::fflush(stdout);
  const auto start_mem = memory_of(gw.pid());

  publisher pub(broker.uri(), total, opt.rate);
  const auto start = clock_type::now();
  auto next_report = start + 60s;
  auto next_drop = start + std::chrono::seconds(opt.drop_every_s);
  std::optional<clock_type::time_point> outage_until;
  int drops = 0;
  long max_rss = start_mem.rss_kib;
  const auto report = [&](double minute) {
    const auto m = memory_of(gw.pid());
    max_rss = std::max(max_rss, m.rss_kib);
    std::printf("%6.1f %10llu %10llu %10llu %8llu %10ld %10ld %6d\n", minute,
                static_cast<unsigned long long>(pub.published()),
                static_cast<unsigned long long>(pub.acked()),
                static_cast<unsigned long long>(received),
                static_cast<unsigned long long>(duplicates), m.rss_kib, m.hwm_kib, drops);
    std::fflush(stdout);
  };
  const auto end_at =
      start + std::chrono::milliseconds(static_cast<long long>(opt.minutes * 60'000));
  bool alive = true;
  while (clock_type::now() < end_at && alive) {
    run_for(loop, 100ms);
    const auto now = clock_type::now();
    if (now >= next_drop) {
      // The cloud goes away: every connection reset, new ones refused for a while.
      proxy.refuse();
      proxy.reset_connections();
      outage_until = now + std::chrono::seconds(opt.outage_s);
      next_drop += std::chrono::seconds(opt.drop_every_s);
      ++drops;
    }
    if (outage_until && now >= *outage_until) {
      proxy.pass();
      outage_until.reset();
    }
    if (now >= next_report) {
      report(std::chrono::duration<double>(now - start).count() / 60.0);
      next_report += 60s;
    }
    alive = gw.running();
  }
  pub.stop();
  proxy.pass();
  // The tail: what the gateway still holds arrives (bounded wait, stops once complete).
  const auto tail_by = clock_type::now() + 60s;
  while (alive && received < pub.acked() && clock_type::now() < tail_by) {
    run_for(loop, 100ms);
    alive = gw.running();
  }
  report(std::chrono::duration<double>(clock_type::now() - start).count() / 60.0);

  std::uint64_t lost = 0;
  for (std::uint64_t s = 0; s < pub.published(); ++s) {
    if (pub.was_acked(s) && !seen[s]) ++lost;
  }
  const auto end_mem = memory_of(gw.pid());
  const auto info = registry.find(id);
  int exit_status = -1;
  if (alive) exit_status = gw.stop(SIGTERM, 10s);
  const bool clean = alive && WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0;
  std::printf(
      "RESULT published %llu, acked by the broker %llu, publish failures %llu; reached the cloud "
      "%llu (duplicates %llu, out of order %llu); LOST (acked, never reached the cloud) %llu "
      "(%.4f%%); cloud drops %d, gateway sessions %llu; gateway VmRSS start %ld KiB, max %ld KiB, "
      "end %ld KiB, VmHWM %ld KiB; gateway %s\n",
      static_cast<unsigned long long>(pub.published()),
      static_cast<unsigned long long>(pub.acked()), static_cast<unsigned long long>(pub.failed()),
      static_cast<unsigned long long>(received), static_cast<unsigned long long>(duplicates),
      static_cast<unsigned long long>(reordered), static_cast<unsigned long long>(lost),
      pub.acked() ? 100.0 * static_cast<double>(lost) / static_cast<double>(pub.acked()) : 0.0,
      drops, static_cast<unsigned long long>(info ? info->connections : 0), start_mem.rss_kib,
      max_rss, end_mem.rss_kib, end_mem.hwm_kib,
      clean   ? "stopped cleanly (exit 0)"
      : alive ? "did not stop cleanly"
              : "DIED during the run");
  server->close();
  server.reset();
  loop.run(UV_RUN_NOWAIT);
  loop.close();
  if (clean) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  return clean ? 0 : 1;
}
