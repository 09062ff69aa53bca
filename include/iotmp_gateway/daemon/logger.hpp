// Logs to stderr, one line each with a `<N>` syslog priority prefix that
// journald reads (SPEC §2). No log files.
#pragma once

#include <cstdio>
#include <functional>
#include <string_view>

namespace iotgw::daemon {

class logger {
 public:
  // priority: syslog's LOG_ERR (3) .. LOG_DEBUG (7). Lines above max are dropped.
  explicit logger(int max_priority = 6, std::FILE* out = stderr) : max_(max_priority), out_(out) {}

  void log(int priority, std::string_view text) const;
  void set_max_priority(int max_priority) noexcept { max_ = max_priority; }
  int max_priority() const noexcept { return max_; }
  bool enabled(int priority) const noexcept { return priority <= max_; }

  // For components that take a (priority, text) callback.
  std::function<void(int, std::string_view)> sink() const {
    return [this](int p, std::string_view t) { log(p, t); };
  }

 private:
  int max_;
  std::FILE* out_;
};

}  // namespace iotgw::daemon
