#include "subscriber.hpp"

#include "mqtt_wire.hpp"

namespace bench {

struct subscriber::impl {
  explicit impl(const subscribe_plan& p) : conn(p.host, p.port, p.client_id) {}
  mqtt_wire::connection conn;
};

subscriber::subscriber(subscribe_plan plan) : plan_(std::move(plan)) {
  receipts_.expected = plan_.expected;
  receipts_.latency_ns.reserve(plan_.expected);
}

subscriber::~subscriber() {
  stop();
  delete impl_;
}

void subscriber::start() {
  impl_ = new impl(plan_);
  impl_->conn.subscribe(plan_.filters, plan_.qos);
  thread_ = std::thread([this] { run(); });
}

void subscriber::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void subscriber::run() {
  auto& c = impl_->conn;
  mqtt_wire::packet p;
  mqtt_wire::publish_view pub;
  std::string acks;
  while (!stop_.load(std::memory_order_relaxed)) {
    if (!c.read_some(50)) continue;
    const std::uint64_t at = now_ns();
    acks.clear();
    while (c.in().next(p)) {
      if (!mqtt_wire::parse_publish(p, pub)) continue;
      if (pub.qos > 0) mqtt_wire::append_puback(acks, pub.packet_id);
      std::uint64_t seq = 0, t = 0;
      if (!parse_probe(pub.payload, seq, t)) continue;
      receipts_.add(seq, t, at);
    }
    if (!acks.empty()) c.write_all(acks);
    count_.store(receipts_.count, std::memory_order_relaxed);
    warmups_.store(receipts_.warmups, std::memory_order_relaxed);
    last_ns_.store(receipts_.last_ns, std::memory_order_relaxed);
  }
}

}  // namespace bench
