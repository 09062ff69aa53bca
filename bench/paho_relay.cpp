// B2: the relay anyone would write first with Paho MQTT C++ 1.2: subscribe on
// one broker, publish each message on another from the message callback.
// TCP_NODELAY is set on both sockets (bench/paho_nodelay.cpp), or
// QoS 1 would measure Nagle instead of the relay.
//
//   paho_relay IN_PORT OUT_PORT     runs until SIGTERM/SIGINT
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mqtt/async_client.h>
#include <string>

#include "paho_nodelay.hpp"

namespace {
std::atomic<bool> stop{false};
void on_signal(int) { stop = true; }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: paho_relay IN_PORT OUT_PORT\n");
    return 2;
  }
  const int in_port = std::atoi(argv[1]);
  const int out_port = std::atoi(argv[2]);
  ::signal(SIGTERM, on_signal);
  ::signal(SIGINT, on_signal);
  try {
    const mqtt::create_options create(MQTTVERSION_3_1_1, 65536);
    mqtt::async_client in("tcp://127.0.0.1:" + std::to_string(in_port), "bench-relay-in", create);
    mqtt::async_client out("tcp://127.0.0.1:" + std::to_string(out_port), "bench-relay-out", create);
    auto opts = mqtt::connect_options_builder().clean_session(true).keep_alive_interval(std::chrono::seconds(30)).finalize();
    out.connect(opts)->wait();
    in.set_message_callback([&out](mqtt::const_message_ptr msg) {
      try {
        out.publish(msg);
      } catch (const mqtt::exception&) {
        // Buffer full: dropped, as a relay without flow control does.
      }
    });
    in.connect(opts)->wait();
    bench::set_nodelay_on_sockets_to("127.0.0.1", in_port);
    bench::set_nodelay_on_sockets_to("127.0.0.1", out_port);
    in.subscribe(mqtt::string_collection::create({"bench/q0/#", "bench/q1/#"}), {0, 1})->wait();
    std::printf("relaying\n");
    std::fflush(stdout);
    while (!stop) ::usleep(20'000);
    in.disconnect()->wait();
    out.disconnect()->wait();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "paho_relay: %s\n", e.what());
    return 1;
  }
  return 0;
}
