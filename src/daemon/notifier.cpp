#include "iotmp_gateway/daemon/notifier.hpp"

#include <systemd/sd-daemon.h>

#include <string>

namespace iotgw::daemon {

notifier::notifier(uv::loop& loop) : watchdog_(uv::timer::create(loop)) {}

notifier::~notifier() { watchdog_->close(); }

void notifier::ready() { sd_notify(0, "READY=1"); }

void notifier::reloading() { sd_notify(0, "RELOADING=1"); }

void notifier::stopping() { sd_notify(0, "STOPPING=1"); }

void notifier::status(std::string_view line) {
  const std::string message = "STATUS=" + std::string(line);
  sd_notify(0, message.c_str());
}

void notifier::start_watchdog() {
  std::uint64_t usec = 0;
  // Checks WATCHDOG_PID against our pid too; 0 when no watchdog was asked for.
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  interval_ = std::chrono::microseconds(usec);
  const auto half = std::chrono::duration_cast<std::chrono::milliseconds>(*interval_ / 2);
  watchdog_->start(std::chrono::milliseconds(0), std::max(half, std::chrono::milliseconds(1)),
                   [] { sd_notify(0, "WATCHDOG=1"); });
}

}  // namespace iotgw::daemon
