// The real iotmp-gateway binary as a child: started with a config file,
// stopped by PID (SIGTERM, then SIGKILL after 5 s), stderr kept in a log file.
#pragma once

#include <sys/types.h>

#include <string>

namespace bench {

class gateway_process {
 public:
  gateway_process(const std::string& binary, const std::string& config, const std::string& log);
  ~gateway_process();
  gateway_process(const gateway_process&) = delete;
  gateway_process& operator=(const gateway_process&) = delete;

  pid_t pid() const noexcept { return pid_; }
  bool running();
  // Exit status (or 128 + signal), -1 if it had to be killed.
  int stop();

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

}  // namespace bench
