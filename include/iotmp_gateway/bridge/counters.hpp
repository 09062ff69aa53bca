// Counters shown by the $gateway resource (SPEC §4). Owned by the router,
// incremented on the loop thread only.
#pragma once

#include <cstdint>

namespace iotgw::bridge {

struct counters {
  std::uint64_t mqtt_in = 0;     // messages received from the local broker
  std::uint64_t mqtt_out = 0;    // messages published on the local broker
  std::uint64_t dropped = 0;     // messages not forwarded (invalid, over a cap, queue full)
  std::uint64_t invalid = 0;     // of those: payloads not of their format
  std::uint64_t spooled = 0;     // stream data held back while its stream was not open
  std::uint64_t reconnects = 0;  // cloud connections after the first
};

}  // namespace iotgw::bridge
