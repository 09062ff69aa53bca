// End-to-end support: the real iotmp-gateway binary as a child process, the
// devserver in-process on this thread's libuv loop, a real mosquitto, and
// helpers that wait for a state (never a fixed sleep) while the loop runs.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "iotmp_gateway/net/uv_loop.hpp"
#include "iotmp_gateway/net/uv_timer.hpp"
#include "support/process.hpp"

#ifndef IOTMP_GATEWAY_BINARY
#error "IOTMP_GATEWAY_BINARY must name the iotmp-gateway executable"
#endif

namespace e2e {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test_support::memory_of;
using test_support::memory_use;

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_text(const fs::path& p, const std::string& text,
                       fs::perms mode = fs::perms(0600)) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
  fs::permissions(p, mode);
}

// A fresh directory per test (tests run in parallel under ctest -j2).
class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    for (int i = 0; i < 100; ++i) {
      path_ = fs::temp_directory_path() /
              ("iotmp-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
      if (fs::create_directory(path_)) return;
    }
    throw std::runtime_error("cannot create a temporary directory");
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const noexcept { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// Runs the loop until cond() holds or the deadline passes. A short repeating
// timer wakes the loop so that conditions fed by other threads (Paho) and other
// processes are seen too.
inline bool pump_until(iotgw::uv::loop& loop, const std::function<bool()>& cond,
                       std::chrono::milliseconds deadline = 10s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  auto tick = iotgw::uv::timer::create(loop);
  tick->start(2ms, 2ms, [] {});
  bool done = cond();
  while (!done && std::chrono::steady_clock::now() < until) {
    loop.run(UV_RUN_ONCE);
    done = cond();
  }
  tick->close();
  loop.run(UV_RUN_NOWAIT);  // let the timer's close callback run
  return done;
}

// Keeps the loop running for a while: only for checking that something does
// NOT happen within a window tied to the behaviour under test.
inline void pump_for(iotgw::uv::loop& loop, std::chrono::milliseconds d) {
  pump_until(
      loop, [] { return false; }, d);
}

// A program with stdout and stderr in files. Killed (SIGKILL) and reaped if it
// is still running when this object goes away, and also when the test process
// dies without unwinding (a crash, a sanitizer abort): PR_SET_PDEATHSIG.
class program {
 public:
  program(std::vector<std::string> args, const fs::path& dir, const std::string& tag) {
    static std::atomic<int> counter{0};
    const auto n = std::to_string(counter++);
    out_ = dir / (tag + "-" + n + ".out");
    err_ = dir / (tag + "-" + n + ".err");
    args.insert(args.begin(), IOTMP_GATEWAY_BINARY);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string out = out_.string();
    const std::string err = err_.string();
    const pid_t parent = ::getpid();
    // Between fork and exec only async-signal-safe calls (Paho threads exist).
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(127);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    if (pid_ <= 0) throw std::runtime_error(std::string("cannot start ") + IOTMP_GATEWAY_BINARY);
  }
  ~program() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  program(const program&) = delete;
  program& operator=(const program&) = delete;

  pid_t pid() const noexcept { return pid_; }
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    return true;
  }
  // The exit code (128 + signal for a signal) once exited; nullopt while running.
  std::optional<int> exit_code() {
    if (running()) return std::nullopt;
    return exit_code_;
  }
  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // Waits for the exit with `wait` (which may run a loop meanwhile); -1 when it
  // did not exit in time (it is then killed).
  int wait_exit(const std::function<bool(const std::function<bool()>&)>& wait) {
    if (!wait([&] { return !running(); })) {
      signal(SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
      return -1;
    }
    return exit_code_;
  }
  int wait_exit(std::chrono::milliseconds deadline = 10s) {
    return wait_exit(
        [&](const std::function<bool()>& cond) { return test_support::wait_for(cond, deadline); });
  }

  std::string out() const { return read_text(out_); }
  std::string err() const { return read_text(err_); }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  fs::path out_;
  fs::path err_;
};

struct cli_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the binary to its end (a few seconds at most).
inline cli_result run_cli(std::vector<std::string> args, const fs::path& dir) {
  program p(std::move(args), dir, "cli");
  cli_result r;
  r.exit_code = p.wait_exit(10s);
  r.out = p.out();
  r.err = p.err();
  return r;
}


}  // namespace e2e
