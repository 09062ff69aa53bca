// The receiving end of a run: a raw MQTT subscriber on its own thread that
// timestamps every probe as it arrives and acknowledges QoS 1 in batches.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "probe.hpp"

namespace bench {

struct subscribe_plan {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string client_id = "bench-sub";
  std::vector<std::string> filters;
  int qos = 0;
  std::uint64_t expected = 0;
};

class subscriber {
 public:
  explicit subscriber(subscribe_plan plan);
  ~subscriber();
  subscriber(const subscriber&) = delete;
  subscriber& operator=(const subscriber&) = delete;

  // Connects and subscribes on the calling thread (throws), then receives on its own.
  void start();
  void stop();  // joins
  std::uint64_t count() const noexcept { return count_.load(); }
  std::uint64_t warmups() const noexcept { return warmups_.load(); }
  std::uint64_t last_ns() const noexcept { return last_ns_.load(); }
  // After stop().
  receipts& result() noexcept { return receipts_; }

 private:
  void run();

  subscribe_plan plan_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> warmups_{0};
  std::atomic<std::uint64_t> last_ns_{0};
  receipts receipts_;
  struct impl;
  impl* impl_ = nullptr;
};

}  // namespace bench
