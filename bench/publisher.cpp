#include "publisher.hpp"

#include <poll.h>

#include <algorithm>
#include <exception>

#include "mqtt_wire.hpp"
#include "probe.hpp"

namespace bench {

publish_result run_publisher(const publish_plan& plan, const std::atomic<bool>* stop) {
  publish_result r;
  try {
    mqtt_wire::connection c(plan.host, plan.port, plan.client_id);
    c.set_nonblocking();
    std::string out;
    std::uint16_t next_id = 1;
    mqtt_wire::packet p;
    // Full speed: big batches keep the generator far ahead of any relay.
    const std::uint64_t batch = 256;
    r.start_ns = now_ns();
    const std::uint64_t deadline = r.start_ns + static_cast<std::uint64_t>(plan.max_seconds * 1e9);
    while (true) {
      const std::uint64_t now = now_ns();
      if (now > deadline || (stop != nullptr && stop->load(std::memory_order_relaxed))) break;
      if (plan.qos > 0) {
        while (c.read_some(0)) {
          while (c.in().next(p)) {
            if (p.type == mqtt_wire::puback) ++r.acked;
          }
        }
      }
      if (r.sent == plan.count && (plan.qos == 0 || r.acked >= plan.count)) break;
      std::uint64_t due = plan.count;
      if (plan.rate > 0) {
        due = std::min<std::uint64_t>(
            plan.count, static_cast<std::uint64_t>(static_cast<double>(now - r.start_ns) * plan.rate / 1e9) + 1);
      }
      std::uint64_t n = std::min(due - r.sent, batch);
      if (plan.qos > 0) n = std::min<std::uint64_t>(n, plan.window - (r.sent - r.acked));
      if (n == 0) {
        // Wait for the next slot (paced) or for acknowledgements (window full).
        std::uint64_t wait_ns = 1'000'000;
        if (plan.rate > 0 && r.sent < plan.count) {
          const auto next_at = r.start_ns + static_cast<std::uint64_t>(static_cast<double>(r.sent) * 1e9 / plan.rate);
          wait_ns = next_at > now ? std::min<std::uint64_t>(next_at - now, wait_ns) : 0;
        }
        pollfd pfd{c.fd(), POLLIN, 0};
        const timespec ts{0, static_cast<long>(wait_ns)};
        ::ppoll(&pfd, plan.qos > 0 ? 1 : 0, &ts, nullptr);
        continue;
      }
      out.clear();
      const std::uint64_t t = now_ns();
      for (std::uint64_t i = 0; i < n; ++i, ++r.sent) {
        const auto& topic = plan.topics[r.sent % plan.topics.size()];
        const std::string payload =
            plan.fixed_payload.empty() ? make_probe(r.sent, t, plan.size) : plan.fixed_payload;
        mqtt_wire::append_publish(out, topic, payload, plan.qos, next_id);
        if (++next_id == 0) next_id = 1;
      }
      c.write_all(out);
    }
    r.end_ns = now_ns();
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

}  // namespace bench
