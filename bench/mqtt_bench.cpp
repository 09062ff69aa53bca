// B0/B1/B2: publish -> [relay] -> subscribe between plain MQTT clients of
// mqtt_wire, with the relay's and the brokers' CPU time read from /proc
// around the measured part only. Also the small helpers scripts/run-bench
// needs (free ports, waiting for a listener).
//
//   mqtt_bench free-ports N
//   mqtt_bench wait-port PORT
//   mqtt_bench run --label B1 --pub-port A --sub-port B --qos 1 --count N
//              [--rate R] [--size 100] [--relay-pids p,q] [--broker-pids p,q]
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <thread>

#include "mqtt_wire.hpp"
#include "publisher.hpp"
#include "run_report.hpp"
#include "subscriber.hpp"

using namespace bench;

namespace {

std::map<std::string, std::string> options(int argc, char** argv, int first) {
  std::map<std::string, std::string> o;
  for (int i = first; i + 1 < argc; i += 2) o[argv[i]] = argv[i + 1];
  return o;
}
std::string opt(const std::map<std::string, std::string>& o, const std::string& k, std::string def = "") {
  const auto it = o.find(k);
  return it == o.end() ? def : it->second;
}

int run(const std::map<std::string, std::string>& o) {
  const int qos = std::stoi(opt(o, "--qos", "0"));
  const std::string base = "bench/q" + std::to_string(qos);
  const auto relay_pids = parse_pids(opt(o, "--relay-pids"));
  const auto broker_pids = parse_pids(opt(o, "--broker-pids"));

  publish_plan pub;
  pub.port = std::stoi(opt(o, "--pub-port"));
  pub.topics = {base + "/m"};
  pub.qos = qos;
  pub.count = std::stoull(opt(o, "--count", "1000"));
  pub.rate = std::stod(opt(o, "--rate", "0"));
  pub.size = std::stoul(opt(o, "--size", "100"));
  pub.max_seconds = std::stod(opt(o, "--max-seconds", "20"));

  subscribe_plan sp;
  sp.port = std::stoi(opt(o, "--sub-port"));
  sp.filters = {base + "/#"};
  sp.qos = qos;
  sp.expected = pub.count;
  subscriber sub(sp);
  sub.start();

  // A bridge or relay subscribes on its own time: wait until the path carries.
  {
    mqtt_wire::connection warm("127.0.0.1", pub.port, "bench-warm");
    std::string out;
    for (int i = 0; i < 500 && sub.warmups() == 0; ++i) {
      out.clear();
      mqtt_wire::append_publish(out, base + "/w", make_probe(warmup_seq + i, now_ns(), pub.size), qos, 1);
      warm.write_all(out);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  if (sub.warmups() == 0) {
    std::fprintf(stderr, "mqtt_bench: nothing arrived through the path in 10 s\n");
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  run_report r;
  r.kind = pub.rate > 0 ? "lat" : "tput";
  r.label = opt(o, "--label", "?");
  r.qos = qos;
  r.rate = pub.rate;
  r.relay_before = read_procs(relay_pids);
  r.broker_before = read_procs(broker_pids);
  const auto result = run_publisher(pub);
  if (!result.error.empty()) {
    std::fprintf(stderr, "mqtt_bench: publisher: %s\n", result.error.c_str());
    return 1;
  }
  // Done when everything arrived, or nothing more came for 2 s.
  std::uint64_t seen = sub.count();
  auto quiet_since = now_ns();
  while (sub.count() < pub.count && now_ns() - quiet_since < 2'000'000'000ull) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (sub.count() != seen) {
      seen = sub.count();
      quiet_since = now_ns();
    }
  }
  r.relay_after = read_procs(relay_pids);
  r.broker_after = read_procs(broker_pids);
  sub.stop();
  auto& rec = sub.result();
  r.sent = result.sent;
  r.received = rec.count;
  r.seconds = rec.count > 0 ? static_cast<double>(rec.last_ns - result.start_ns) / 1e9 : 0;
  r.latency = summarize(std::move(rec.latency_ns));
  r.print();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: mqtt_bench free-ports N | wait-port PORT | run OPTIONS\n");
    return 2;
  }
  try {
    const std::string cmd = argv[1];
    if (cmd == "free-ports" && argc == 3) {
      for (int p : mqtt_wire::free_ports(std::atoi(argv[2]))) std::printf("%d\n", p);
      return 0;
    }
    if (cmd == "wait-port" && argc == 3) {
      return mqtt_wire::wait_for_port("127.0.0.1", std::atoi(argv[2]), 10'000) ? 0 : 1;
    }
    if (cmd == "run") return run(options(argc, argv, 2));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqtt_bench: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "mqtt_bench: unknown command\n");
  return 2;
}
