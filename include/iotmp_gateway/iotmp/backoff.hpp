// Reconnect delays with "decorrelated jitter" (as mosquitto's bridge does):
// next = random(min, previous * 3), capped at max; back to min after a success.
// Spreads a fleet of gateways out after a server restart and never hot-loops.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace iotgw::iotmp {

class backoff {
 public:
  using duration = std::chrono::milliseconds;

  backoff(duration min, duration max, std::uint64_t seed = std::random_device{}());

  // The delay before the next attempt; grows (randomly) with each call.
  duration next();
  // After a successful authentication.
  void reset() noexcept { previous_ = min_; }

  duration min() const noexcept { return min_; }
  duration max() const noexcept { return max_; }

 private:
  duration min_;
  duration max_;
  duration previous_;
  std::mt19937_64 rng_;
};

}  // namespace iotgw::iotmp
