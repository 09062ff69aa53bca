// The systemd side of Type=notify (sd_notify): READY, STATUS, RELOADING,
// STOPPING and the watchdog. Without $NOTIFY_SOCKET every call does nothing.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string_view>

#include "iotmp_gateway/net/uv_timer.hpp"

namespace iotgw::daemon {

class notifier {
 public:
  explicit notifier(uv::loop& loop);
  ~notifier();

  void ready();
  void reloading();
  void stopping();
  void status(std::string_view line);
  // Starts WATCHDOG=1 pings at half of WATCHDOG_USEC when systemd asked for them
  // (and WATCHDOG_PID, if set, is us). The pings come from a loop timer, so they
  // stop when the loop stops turning.
  void start_watchdog();
  std::optional<std::chrono::microseconds> watchdog_interval() const { return interval_; }

 private:
  std::shared_ptr<uv::timer> watchdog_;
  std::optional<std::chrono::microseconds> interval_;
};

}  // namespace iotgw::daemon
