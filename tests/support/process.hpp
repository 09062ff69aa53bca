// Child processes for integration tests: started with posix_spawn, stopped by
// their PID (SIGTERM, then SIGKILL after a deadline), never left behind.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace test_support {

using namespace std::chrono_literals;

// Polls cond every few milliseconds until it holds or the deadline passes.
template <typename F>
bool wait_for(F&& cond, std::chrono::milliseconds deadline = 10s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= until) return cond();
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// A loopback port nobody listens on right now.
inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("no free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool port_accepts(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

class child_process {
 public:
  child_process() = default;
  explicit child_process(std::vector<std::string> argv) { start(std::move(argv)); }
  ~child_process() { stop(); }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // extra_env: NAME=value entries added to (or overriding) this process's environment.
  // output: a file for the child's stdout and stderr, so that a child orphaned by
  // a crashed test does not hold ctest's pipe open (empty: inherit ours).
  void start(std::vector<std::string> argv, std::vector<std::string> extra_env = {},
             const std::string& output = {}) {
    stop();
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    std::vector<std::string> env_storage = std::move(extra_env);
    std::vector<char*> env;
    for (auto& e : env_storage) env.push_back(e.data());
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string_view entry(*e);
      const auto name = entry.substr(0, entry.find('=') + 1);
      bool overridden = false;
      for (const auto& x : env_storage) overridden = overridden || std::string_view(x).starts_with(name);
      if (!overridden) env.push_back(*e);
    }
    env.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    if (!output.empty()) {
      ::posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::posix_spawn_file_actions_adddup2(&actions, 1, 2);
    }
    const int rc = ::posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), env.data());
    ::posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error("cannot start " + argv[0]);
    }
  }

  // Sends sig; after SIGTERM waits up to `deadline`, then SIGKILL. Returns the
  // exit status (as waitpid gives it) or -1 if nothing was running.
  int stop(int sig = SIGTERM, std::chrono::milliseconds deadline = 5s) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    const bool exited = wait_for([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, deadline);
    if (!exited) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    return status;
  }

  // True while the child has not exited (reaps it when it has).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = status;
      pid_ = -1;
      return false;
    }
    return true;
  }
  int exit_status() const { return exit_status_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int exit_status_ = -1;
};

// VmHWM and VmRSS of a process, in KiB (0 when unreadable).
struct memory_use {
  long hwm_kib = 0;
  long rss_kib = 0;
};
inline memory_use memory_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  memory_use m;
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmHWM:")) m.hwm_kib = std::stol(line.substr(6));
    if (line.starts_with("VmRSS:")) m.rss_kib = std::stol(line.substr(6));
  }
  return m;
}

}  // namespace test_support
