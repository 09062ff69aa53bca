// The MQTT client session: whatever a broker sends, in whatever pieces, the
// session never crashes, never reads past its input, and either goes on or
// names a reason to drop the connection. The first byte picks the chunk size;
// publishes of our own are mixed in so acknowledgements find something to match.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "iotmp_gateway/mqtt/session.hpp"

using namespace iotgw;
using namespace iotgw::mqtt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  ++data;
  --size;
  session_options o;
  o.client_id = "fuzz";
  o.keepalive = std::chrono::seconds(10);
  o.max_incoming_packet = 64 * 1024;
  o.max_pending_publishes = 64;
  std::size_t delivered = 0;
  session_handlers h;
  h.on_message = [&](std::string_view topic, std::string_view payload, bool) {
    if (topic.empty()) std::abort();  // the session refuses empty topics
    delivered += payload.size();
  };
  session s(o, h);
  auto now = clock::time_point{} + std::chrono::seconds(1000);
  s.begin(now);
  (void)s.take_output(now);
  s.output_written(true);
  // A valid CONNACK first, so the fuzzer's bytes reach the open state too.
  const std::uint8_t connack[] = {0x20, 3, 0, 0, 0};
  if (!s.on_data(byte_view(connack, sizeof connack), now).empty()) std::abort();
  for (unsigned q = 0; q < 3; ++q) s.publish("t", "v", q, false, [](bool, std::string_view) {});
  for (std::size_t at = 0; at < size; at += chunk) {
    const auto n = std::min(chunk, size - at);
    now += std::chrono::milliseconds(data[at]);
    if (!s.on_data(byte_view(data + at, n), now).empty()) break;
    if (!s.on_timer(now).empty()) break;
    (void)s.take_output(now);
    s.output_written(true);
  }
  s.on_closed();
  s.abandon("fuzz done");
  if (s.pending_publishes() != 0) std::abort();
  return 0;
}
