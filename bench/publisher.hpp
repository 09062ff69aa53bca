// The load generator: publishes probes (probe.hpp) over a raw MQTT connection,
// at full speed in batches of one write(2) each, or paced at a fixed rate.
// QoS 1 keeps a window of unacknowledged messages in flight.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace bench {

struct publish_plan {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string client_id = "bench-pub";
  std::vector<std::string> topics;  // used round robin
  int qos = 0;
  std::uint64_t count = 0;
  double rate = 0;  // msg/s; 0 = as fast as the broker takes them
  std::size_t size = 100;
  std::string fixed_payload;  // sent as is instead of probes when not empty
  double max_seconds = 20;
  unsigned window = 1000;  // QoS 1 messages in flight
};

struct publish_result {
  std::uint64_t sent = 0;
  std::uint64_t acked = 0;
  std::uint64_t start_ns = 0;
  std::uint64_t end_ns = 0;
  std::string error;
};

// Runs on the calling thread until done, max_seconds passed or *stop is set.
publish_result run_publisher(const publish_plan& plan, const std::atomic<bool>* stop = nullptr);

}  // namespace bench
