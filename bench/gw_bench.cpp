// G: the real iotmp-gateway (Release) between a real mosquitto and the
// devserver, which runs in this process on its own loop so that arrivals are
// timestamped where they land. Forward (MQTT -> IOTMP): throughput, CPU,
// latency at fixed rates; reverse (RUN with input, subscribe stream -> local
// publish): latency to a local subscriber; topic scaling; bytes per sample;
// idle memory. One RESULT line per run (run_report.hpp).
//
//   gw_bench --gateway BIN --mqtt-port P --workdir DIR [--broker-pids PID]
//            [--count N] [--lat-1k N] [--lat-20 N] [--lat-10k N] [--rev-1k N]
//            [--rev-20 N] [--topics 10,1000,10000] [--scale-count N] [--wire-count N]
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gateway_process.hpp"
#include "iotmp_gateway/devserver/registry.hpp"
#include "iotmp_gateway/devserver/server.hpp"
#include "iotmp_gateway/devserver/topic_table.hpp"
#include "iotmp_gateway/net/uv_loop.hpp"
#include "iotmp_gateway/net/uv_timer.hpp"
#include "mqtt_wire.hpp"
#include "publisher.hpp"
#include "run_report.hpp"
#include "subscriber.hpp"

namespace fs = std::filesystem;
namespace ds = iotgw::devserver;
using namespace bench;

namespace {

constexpr std::uint64_t second = 1'000'000'000ull;

class gw_bench {
 public:
  explicit gw_bench(std::map<std::string, std::string> o) : o_(std::move(o)) {
    workdir_ = opt("--workdir");
    mqtt_port_ = std::stoi(opt("--mqtt-port"));
    broker_pids_ = parse_pids(opt("--broker-pids"));
    ds::server_options so;
    so.port = 0;
    so.allow_any = true;
    server_ = std::make_unique<ds::server>(loop_, registry_, so);
    if (const auto st = server_->start(); !st.ok()) throw std::runtime_error(st.message);
    tick_ = iotgw::uv::timer::create(loop_);
    // Keeps UV_RUN_ONCE returning at least every millisecond for the checks.
    tick_->start(std::chrono::milliseconds(1), std::chrono::milliseconds(1), [] {});
    registry_.add_listener([this](const ds::device_event& ev) { on_event(ev); });
    std::ofstream(workdir_ / "credential") << "bench\n";
    fs::permissions(workdir_ / "credential", fs::perms(0600));
  }

  ~gw_bench() {
    gateway_.reset();
    server_->close();
    tick_->close();
    loop_.run(UV_RUN_NOWAIT);
    loop_.close();
  }

  int run() {
    main_suite();
    for (const auto& n : split(opt("--topics", "10,1000,10000"))) scale(std::stoul(n));
    return failures_ == 0 ? 0 : 1;
  }

 private:
  std::string opt(const std::string& k, std::string def = "") const {
    const auto it = o_.find(k);
    return it == o_.end() ? def : it->second;
  }
  std::uint64_t num(const std::string& k, std::uint64_t def) const {
    return std::stoull(opt(k, std::to_string(def)));
  }
  static std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string item; std::getline(in, item, ',');) {
      if (!item.empty()) out.push_back(item);
    }
    return out;
  }

  // ---- devserver side ---------------------------------------------------------

  void on_event(const ds::device_event& ev) {
    if (ev.type == ds::device_event::kind::stream_opened) ++streams_opened_;
    if (ev.type != ds::device_event::kind::published || ev.value == nullptr) return;
    const auto at = now_ns();
    if (ev.stream->topic == "bench/wire") {
      ++wire_samples_;
      return;
    }
    std::uint64_t seq = 0, t = 0;
    const auto* s = ev.value->find("seq");
    const auto* ts = ev.value->find("t");
    if (s == nullptr || ts == nullptr || !s->get_unsigned(seq) || !ts->get_unsigned(t)) return;
    arrivals_.add(seq, t, at);
  }

  // Runs the loop until done() or the time is up.
  bool pump_until(const std::function<bool()>& done, double seconds) {
    const auto deadline = now_ns() + static_cast<std::uint64_t>(seconds * 1e9);
    while (!done()) {
      if (now_ns() > deadline) return false;
      loop_.run(UV_RUN_ONCE);
    }
    return true;
  }

  // ---- the gateway --------------------------------------------------------------

  std::string config_head() {
    std::ostringstream y;
    y << "cloud:\n  host: 127.0.0.1\n  port: " << server_->port()
      << "\n  tls: false\n  username: bench\n  device: gw\n  credential_file: "
      << (workdir_ / "credential").string() << "\n  keepalive: 60\n"
      << "mqtt:\n  uri: tcp://127.0.0.1:" << mqtt_port_ << "\n  client_id: bench-gw-" << ::getpid()
      << "-" << ++starts_ << "\n"
      << "spool:\n  dir: " << (workdir_ / "spool").string() << "\n"
      << "log:\n  level: warn\n";
    return y.str();
  }

  void start_gateway(const std::string& yaml) {
    gateway_.reset();
    const auto path = workdir_ / "gateway.yaml";
    std::ofstream(path, std::ios::trunc) << yaml;
    streams_opened_ = 0;
    gateway_ = std::make_unique<gateway_process>(opt("--gateway"), path.string(),
                                                 (workdir_ / "gateway.log").string());
    // For attaching a profiler: `perf record -p PID`.
    std::fprintf(stderr, "gw_bench: gateway pid %d\n", static_cast<int>(gateway_->pid()));
  }

  // Publishes warm-up probes on `topic` until one arrives at the devserver.
  bool wait_forwarding(const std::string& topic, double seconds) {
    mqtt_wire::connection probe("127.0.0.1", mqtt_port_, "bench-probe");
    std::uint64_t i = 0, next = 0;
    const auto before = arrivals_.warmups;
    return pump_until(
        [&] {
          if (arrivals_.warmups > before) return true;
          if (now_ns() >= next) {
            std::string out;
            mqtt_wire::append_publish(out, topic, make_probe(warmup_seq + i++, now_ns(), 100), 0, 0);
            probe.write_all(out);
            next = now_ns() + 5'000'000;
          }
          return !gateway_->running();
        },
        seconds) &&
           arrivals_.warmups > before;
  }

  void fail(const std::string& what) {
    ++failures_;
    std::fprintf(stderr, "gw_bench: %s (gateway log: %s)\n", what.c_str(),
                 (workdir_ / "gateway.log").c_str());
  }

  const ds::device_id device_{"bench", "gw"};

  // ---- forward runs -------------------------------------------------------------

  // Publishes per plan and waits for the arrivals at the devserver.
  void forward(const std::string& kind, const std::string& label, publish_plan plan) {
    plan.port = mqtt_port_;
    arrivals_ = receipts{};
    arrivals_.latency_ns.reserve(plan.count);
    run_report r;
    r.kind = kind;
    r.label = label;
    r.qos = plan.qos;
    r.rate = plan.rate;
    const std::vector<pid_t> gw{gateway_->pid()};
    r.relay_before = read_procs(gw);
    r.broker_before = read_procs(broker_pids_);
    const auto self_before = read_proc(::getpid());
    publish_result result;
    std::atomic<bool> done{false};
    std::thread pub([&] {
      result = run_publisher(plan);
      done = true;
    });
    std::uint64_t seen = 0, quiet_since = now_ns();
    pump_until(
        [&] {
          if (arrivals_.count >= plan.count) return true;
          if (arrivals_.count != seen) {
            seen = arrivals_.count;
            quiet_since = now_ns();
          }
          return done && now_ns() - quiet_since > 2 * second;
        },
        plan.max_seconds + 10);
    r.relay_after = read_procs(gw);
    r.broker_after = read_procs(broker_pids_);
    pub.join();
    if (!result.error.empty()) fail("publisher: " + result.error);
    r.sent = result.sent;
    r.received = arrivals_.count;
    r.seconds = arrivals_.count > 0 ? static_cast<double>(arrivals_.last_ns - result.start_ns) / 1e9 : 0;
    r.latency = summarize(arrivals_.latency_ns);
    r.extra = "driver_cpu=" + per_100k_text(self_before, read_proc(::getpid()), r.received) + " " + gateway_counters();
    r.print();
  }

  static std::string per_100k_text(const proc_sample& a, const proc_sample& b, std::uint64_t n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", n > 0 ? (b.cpu_s - a.cpu_s) * 100'000.0 / static_cast<double>(n) : 0.0);
    return buf;
  }

  // The gateway's own view ($gateway): where a lost message went.
  std::string gateway_counters() {
    std::string out;
    bool answered = false;
    registry_.run(device_, "$gateway", std::nullopt, [&](const ds::request_result& res) {
      answered = true;
      if (!res.payload) return;
      if (const auto* c = res.payload->find("counters")) {
        for (const char* k : {"mqtt_in", "dropped", "spooled"}) {
          std::uint64_t v = 0;
          if (const auto* x = c->find(k); x != nullptr && x->get_unsigned(v)) {
            out += std::string("gw_") + k + "=" + std::to_string(v) + " ";
          }
        }
      }
    });
    pump_until([&] { return answered; }, 5);
    return out;
  }

  publish_plan plan_for(int qos, std::uint64_t count, double rate) const {
    publish_plan p;
    p.topics = {"bench/q" + std::to_string(qos) + "/m"};
    p.qos = qos;
    p.count = count;
    p.rate = rate;
    return p;
  }

  // ---- reverse runs -------------------------------------------------------------

  // The devserver sends `count` probes at `rate`, by RUN on a write resource or
  // on a subscribe stream; a local subscriber timestamps them.
  void reverse(bool by_run, int qos, std::uint64_t count, double rate) {
    subscribe_plan sp;
    sp.port = mqtt_port_;
    sp.client_id = "bench-rev-sub";
    sp.filters = {"bench/down/#"};
    sp.qos = qos;
    sp.expected = count;
    subscriber sub(sp);
    sub.start();
    const std::string resource = "bench_w" + std::to_string(qos);
    const std::string cloud_topic = "bench/cloud/sub" + std::to_string(qos);
    run_report r;
    r.kind = "rev";
    r.label = by_run ? "G-run" : "G-sub";
    r.qos = qos;
    r.rate = rate;
    const std::vector<pid_t> gw{gateway_->pid()};
    r.relay_before = read_procs(gw);
    r.broker_before = read_procs(broker_pids_);
    std::uint64_t sent = 0, answered = 0;
    const auto start = now_ns();
    auto send_one = [&](std::uint64_t seq) {
      const pson_text probe(make_probe(seq, now_ns(), 100));
      if (by_run) {
        registry_.run(device_, resource, probe.value, [&answered](const ds::request_result& res) {
          if (res.ok()) ++answered;
        });
      } else {
        registry_.topics().publish(cloud_topic, *probe.value);
      }
    };
    // Warm-up: the first message after a quiet spell pays for cold caches.
    send_one(warmup_seq);
    pump_until([&] { return sub.warmups() > 0; }, 5);
    std::uint64_t seen = 0, quiet_since = now_ns();
    const auto t0 = now_ns();
    pump_until(
        [&] {
          const auto now = now_ns();
          const auto due = std::min<std::uint64_t>(
              count, static_cast<std::uint64_t>(static_cast<double>(now - t0) * rate / 1e9) + 1);
          while (sent < due) send_one(sent++);
          if (sub.count() >= count) return true;
          if (sub.count() != seen) {
            seen = sub.count();
            quiet_since = now;
          }
          return sent == count && now - quiet_since > 2 * second;
        },
        static_cast<double>(count) / rate + 10);
    r.relay_after = read_procs(gw);
    r.broker_after = read_procs(broker_pids_);
    sub.stop();
    auto& rec = sub.result();
    r.sent = sent;
    r.received = rec.count;
    r.seconds = rec.count > 0 ? static_cast<double>(rec.last_ns - start) / 1e9 : 0;
    r.latency = summarize(std::move(rec.latency_ns));
    if (by_run) r.extra = "answered=" + std::to_string(answered);
    r.print();
  }

  struct pson_text {
    explicit pson_text(std::string s) : value(iotgw::pson::value(std::move(s))) {}
    std::optional<iotgw::pson::value> value;
  };

  // ---- suites -------------------------------------------------------------------

  void main_suite() {
    std::ostringstream y;
    y << config_head();
    y << "resources:\n";
    for (int q = 0; q <= 1; ++q) {
      y << "  bench_w" << q << ":\n    write: bench/down/run" << q << "\n    format: string\n    qos: " << q << "\n";
    }
    y << "streams:\n";
    for (int q = 0; q <= 1; ++q) {
      y << "  - local: bench/q" << q << "/m\n    scope: publish\n    format: json\n    qos: " << q << "\n";
      y << "  - local: bench/down/sub" << q << "\n    cloud: bench/cloud/sub" << q
        << "\n    scope: subscribe\n    qos: " << q << "\n";
    }
    y << "  - local: bench/wire\n    scope: publish\n    format: json\n";
    start_gateway(y.str());
    const bool ready = pump_until([&] { return streams_opened_ >= 5 || !gateway_->running(); }, 20) &&
                       gateway_->running() && wait_forwarding("bench/q0/m", 10) &&
                       wait_forwarding("bench/q1/m", 10);
    if (!ready) {
      fail("the gateway did not become ready");
      return;
    }
    // Idle memory: connected, streams open, nothing flowing.
    pump_until([] { return false; }, 1.0);
    {
      run_report r;
      r.kind = "idle";
      r.label = "G";
      r.relay_after = read_proc(gateway_->pid());
      r.print();
    }
    wire();
    for (int q = 0; q <= 1; ++q) {
      forward("tput", "G", plan_for(q, num("--count", 200'000), 0));
      forward("lat", "G", plan_for(q, num("--lat-1k", 5'000), 1000));
      forward("lat", "G", plan_for(q, num("--lat-20", 200), 20));
      if (const auto n = num("--lat-10k", 0); n > 0) forward("lat", "G", plan_for(q, n, 10'000));
    }
    for (int q = 0; q <= 1; ++q) {
      for (const bool by_run : {true, false}) {
        reverse(by_run, q, num("--rev-1k", 2'000), 1000);
        reverse(by_run, q, num("--rev-20", 100), 20);
      }
    }
    run_report r;
    r.kind = "idle";
    r.label = "G-after";
    r.relay_after = read_proc(gateway_->pid());
    r.print();
    if (const int st = gateway_->stop(); st != 0) fail("gateway exit status " + std::to_string(st));
  }

  // Bytes on the wire per forwarded 4-byte sample, as the devserver counts them.
  void wire() {
    const auto n = num("--wire-count", 1000);
    const auto before = registry_.find(device_)->traffic;
    wire_samples_ = 0;
    publish_plan p;
    p.port = mqtt_port_;
    p.topics = {"bench/wire"};
    p.count = n;
    p.rate = 50'000;
    p.fixed_payload = "21.5";
    run_publisher(p);
    pump_until([&] { return wire_samples_ >= n; }, 10);
    const auto after = registry_.find(device_)->traffic;
    const auto frames = after.in(iotgw::iotmp::message_type::stream_data) -
                        before.in(iotgw::iotmp::message_type::stream_data);
    run_report r;
    r.kind = "wire";
    r.label = "G";
    r.sent = n;
    r.received = wire_samples_;
    char extra[128];
    std::snprintf(extra, sizeof extra, "bytes_per_sample=%.2f frames=%llu",
                  frames > 0 ? static_cast<double>(after.bytes_in - before.bytes_in) / static_cast<double>(frames) : 0.0,
                  static_cast<unsigned long long>(frames));
    r.extra = extra;
    r.print();
  }

  // n mapped topics (one publish stream each): time until every one forwards,
  // memory, and throughput with the load spread over all of them.
  void scale(std::size_t n) {
    std::ostringstream y;
    y << config_head() << "streams:\n";
    std::vector<std::string> topics;
    for (std::size_t i = 0; i < n; ++i) {
      topics.push_back("bench/t/" + std::to_string(i));
      y << "  - local: " << topics.back() << "\n    scope: publish\n    format: json\n";
    }
    // The link subscribes in the router's (sorted) order: when the last filter
    // forwards, every one does.
    const auto last = *std::max_element(topics.begin(), topics.end());
    const auto t0 = now_ns();
    start_gateway(y.str());
    arrivals_ = receipts{};
    if (!wait_forwarding(last, 30)) {
      fail("topic scaling: " + std::to_string(n) + " topics never forwarded");
      return;
    }
    const double ready_s = static_cast<double>(arrivals_.first_warmup_ns() - t0) / 1e9;
    pump_until([&] { return streams_opened_ >= n; }, 30);
    const double open_s = static_cast<double>(now_ns() - t0) / 1e9;
    pump_until([] { return false; }, 0.5);
    const auto idle = read_proc(gateway_->pid());
    publish_plan p;
    p.topics = topics;
    p.count = num("--scale-count", 200'000);
    forward_scaled(n, p, ready_s, open_s, idle);
    if (const int st = gateway_->stop(); st != 0) fail("gateway exit status " + std::to_string(st));
  }

  void forward_scaled(std::size_t n, publish_plan plan, double ready_s, double open_s,
                      const proc_sample& idle) {
    char extra[160];
    std::snprintf(extra, sizeof extra, "topics=%zu ready_s=%.3f streams_open_s=%.3f idle_rss_kib=%ld",
                  n, ready_s, open_s, idle.vm_rss_kib);
    // The report line comes from forward(); the extra fields go on a line of their own.
    std::printf("RESULT kind=scale-setup label=%zu %s\n", n, extra);
    forward("scale", std::to_string(n), std::move(plan));
  }

  std::map<std::string, std::string> o_;
  fs::path workdir_;
  int mqtt_port_ = 0;
  std::vector<pid_t> broker_pids_;
  iotgw::uv::loop loop_;
  ds::topic_table topics_;
  ds::device_registry registry_{topics_};
  std::unique_ptr<ds::server> server_;
  std::shared_ptr<iotgw::uv::timer> tick_;
  std::unique_ptr<gateway_process> gateway_;
  receipts arrivals_;
  std::size_t streams_opened_ = 0;
  std::uint64_t wire_samples_ = 0;
  int starts_ = 0;
  int failures_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> o;
  for (int i = 1; i + 1 < argc; i += 2) o[argv[i]] = argv[i + 1];
  if (o.count("--gateway") == 0 || o.count("--mqtt-port") == 0 || o.count("--workdir") == 0) {
    std::fprintf(stderr, "usage: gw_bench --gateway BIN --mqtt-port P --workdir DIR [options]\n");
    return 2;
  }
  try {
    gw_bench b(std::move(o));
    return b.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gw_bench: %s\n", e.what());
    return 1;
  }
}
