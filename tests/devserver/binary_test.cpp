// The real iotmp-devserver program: command line, exit codes, signals, --watch.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "devserver/test_device.hpp"
#include "support/loop.hpp"
#include "support/process.hpp"

#ifndef IOTMP_DEVSERVER_BINARY
#error "IOTMP_DEVSERVER_BINARY must name the iotmp-devserver executable"
#endif

using namespace devserver_test;
using test_support::free_port;
using test_support::port_accepts;
using test_support::wait_for;

namespace {

// The program with stdout and stderr in files; stopped (SIGKILL) and reaped if
// still running at the end.
class program {
 public:
  explicit program(std::vector<std::string> args) {
    dir_ =
        std::filesystem::temp_directory_path() /
        ("iotmp-devserver-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir_);
    args.insert(args.begin(), IOTMP_DEVSERVER_BINARY);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string out = (dir_ / "stdout").string();
    const std::string err = (dir_ / "stderr").string();
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_GT(pid_, 0) << "cannot start " << IOTMP_DEVSERVER_BINARY;
  }
  ~program() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // The exit code once it exited by itself within the deadline; -1 otherwise.
  int wait_exit(std::chrono::milliseconds deadline = 5s) {
    int status = 0;
    if (pid_ <= 0) return -1;
    if (!wait_for([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, deadline)) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  bool running() { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  std::string out() const { return read(dir_ / "stdout"); }
  std::string err() const { return read(dir_ / "stderr"); }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  static std::string read(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::filesystem::path dir_;
  pid_t pid_ = -1;
};

TEST(devserver_binary, help_and_version) {
  program help({"--help"});
  EXPECT_EQ(help.wait_exit(), 0);
  EXPECT_NE(help.out().find("Usage: iotmp-devserver"), std::string::npos) << help.out();
  EXPECT_NE(help.out().find("--allow-any"), std::string::npos);
  program version({"--version"});
  EXPECT_EQ(version.wait_exit(), 0);
  EXPECT_EQ(version.out().rfind("iotmp-devserver ", 0), 0u) << version.out();
}

TEST(devserver_binary, usage_errors_exit_2) {
  program unknown({"--allow-any", "--no-such-option"});
  EXPECT_EQ(unknown.wait_exit(), 2);
  EXPECT_NE(unknown.err().find("unknown argument '--no-such-option'"), std::string::npos)
      << unknown.err();
  program nobody({});
  EXPECT_EQ(nobody.wait_exit(), 2);
  program bad_watch({"--allow-any", "--watch", "x@soon"});
  EXPECT_EQ(bad_watch.wait_exit(), 2);
}

TEST(devserver_binary, unloadable_users_file_exits_1) {
  program p({"--users", "/nonexistent/users.txt", "--listen",
             "127.0.0.1:" + std::to_string(free_port())});
  EXPECT_EQ(p.wait_exit(), 1);
  EXPECT_NE(p.err().find("<3>/nonexistent/users.txt: cannot read the users file"),
            std::string::npos)
      << p.err();
}

TEST(devserver_binary, listens_and_stops_on_sigterm) {
  const auto port = free_port();
  program p(
      {"--allow-any", "--listen", "127.0.0.1:" + std::to_string(port), "--http", "127.0.0.1:0"});
  ASSERT_TRUE(wait_for([&] { return port_accepts(port) || !p.running(); }));
  ASSERT_TRUE(p.running()) << p.err();
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait_exit(), 0) << p.err();
  const auto err = p.err();
  EXPECT_NE(err.find("<6>listening on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << err;
  EXPECT_NE(err.find("<6>HTTP API and web page on http://127.0.0.1:"), std::string::npos) << err;
  EXPECT_NE(err.find("<6>stopping on SIGTERM"), std::string::npos) << err;
}

TEST(devserver_binary, busy_port_exits_3) {
  // Hold a listening socket on the port.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  program p({"--allow-any", "--listen", "127.0.0.1:" + std::to_string(ntohs(a.sin_port))});
  EXPECT_EQ(p.wait_exit(), 3);
  EXPECT_NE(p.err().find("address already in use"), std::string::npos) << p.err();
  ::close(fd);
}

class devserver_binary_loop : public test_support::loop_test {
 protected:
  // For conditions outside the loop (the child's output file): a ticking timer
  // wakes the loop up to look again.
  bool poll_until(const std::function<bool()>& cond, std::chrono::milliseconds deadline = 10s) {
    auto ticker = iotgw::uv::timer::create(loop_);
    ticker->start(10ms, 10ms, [] {});
    const bool ok = run_until(loop_, cond, deadline);
    ticker->close();
    return ok;
  }
};

TEST_F(devserver_binary_loop, watch_prints_values_and_sigint_stops) {
  const auto port = free_port();
  program p({"--allow-any", "--listen", "127.0.0.1:" + std::to_string(port), "--watch",
             "temperature@0.05", "-v"});
  ASSERT_TRUE(wait_for([&] { return port_accepts(port) || !p.running(); }));
  ASSERT_TRUE(p.running()) << p.err();

  test_device d(loop_, port);
  std::optional<std::uint16_t> stream;
  d.on_message = [&](const message& m) {
    if (m.type == message_type::run) d.ok(*m.stream_id, pson::value(21.5));
    if (m.type == message_type::start_stream) {
      stream = m.stream_id;
      d.ok(*m.stream_id);
    }
  };
  ASSERT_TRUE(d.connect_and_authenticate("alice", "gw01"));
  ASSERT_TRUE(run_until(loop_, [&] { return stream.has_value(); }));
  d.stream_data(*stream, pson::value(pson::object{{"celsius", 22}}));
  d.send(event_stream(0x2001, "alice/alerts", "publish"));
  d.stream_data(0x2001, pson::value("door open"));
  ASSERT_TRUE(poll_until([&] {
    return p.out().find("topic alice/alerts: \"door open\"") != std::string::npos;
  })) << p.out();
  d.close();
  ASSERT_TRUE(poll_until([&] {
    return p.out().find("alice/gw01 disconnected") != std::string::npos;
  })) << p.out();
  p.signal(SIGINT);
  EXPECT_EQ(p.wait_exit(), 0) << p.err();

  const auto out = p.out();
  EXPECT_NE(out.find("alice/gw01 connected from 127.0.0.1:"), std::string::npos) << out;
  EXPECT_NE(out.find("alice/gw01 temperature: 21.5\n"), std::string::npos) << out;
  EXPECT_NE(out.find("alice/gw01 temperature: {\"celsius\":22}\n"), std::string::npos) << out;
  // Logs stay off stdout.
  EXPECT_EQ(out.find("<6>"), std::string::npos) << out;
  EXPECT_NE(p.err().find("<7>"), std::string::npos) << p.err();  // -v shows debug
}

}  // namespace
