// Plays systemd's side of Type=notify against the real iotmp-gateway binary:
// a datagram socket as $NOTIFY_SOCKET, $WATCHDOG_USEC, signals for reload and stop.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <filesystem>
#include <fstream>

#include "support/mosquitto.hpp"
#include "support/process.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// The socket systemd would listen on.
class notify_socket {
 public:
  explicit notify_socket(const fs::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
  }
  ~notify_socket() {
    ::close(fd_);
    fs::remove(path_);
  }
  // The next datagram, or "" after the deadline.
  std::string next(std::chrono::milliseconds deadline = 10s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(deadline.count())) <= 0) return {};
    char buf[4096];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
  // Reads until a message containing `what`; the ones before go into seen.
  bool wait_for(std::string_view what, std::vector<std::string>* seen = nullptr,
                std::chrono::milliseconds deadline = 15s) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      const auto m = next(std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now()));
      if (m.empty()) return false;
      if (seen) seen->push_back(m);
      if (m.find(what) != std::string::npos) return true;
    }
    return false;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  int fd_ = -1;
};

class notify_test : public ::testing::Test {
 protected:
  notify_test() {
    dir = fs::temp_directory_path() / ("iotmp-notify-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(test_support::free_port()));
    fs::create_directories(dir);
    std::ofstream(dir / "credential") << "secret\n";
    fs::permissions(dir / "credential", fs::perms::owner_read | fs::perms::owner_write);
    iotmp_port = test_support::free_port();
    devserver.start({IOTMP_DEVSERVER_BINARY, "--listen", "127.0.0.1:" + std::to_string(iotmp_port),
                     "--allow-any"});
    EXPECT_TRUE(test_support::wait_for([&] { return test_support::port_accepts(iotmp_port); }));
    write_config("");
  }
  ~notify_test() override {
    gateway.stop();
    devserver.stop();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  void write_config(const std::string& extra_resources) {
    std::ofstream(dir / "gateway.yaml")
        << "cloud:\n  host: 127.0.0.1\n  port: " << iotmp_port
        << "\n  tls: false\n  username: u\n  device: d\n  credential_file: credential\n"
        << "mqtt:\n  uri: " << broker.uri() << "\n"
        << "resources:\n  temperature:\n    read: sensors/temp\n"
        << extra_resources;
  }

  test_support::mosquitto_broker broker;
  fs::path dir;
  std::uint16_t iotmp_port = 0;
  test_support::child_process devserver;
  test_support::child_process gateway;
};

TEST_F(notify_test, ready_status_watchdog_reload_and_stop) {
  notify_socket sd(dir / "notify");
  gateway.start({IOTMP_GATEWAY_BINARY, "-c", (dir / "gateway.yaml").string()},
                {"NOTIFY_SOCKET=" + sd.path().string(), "WATCHDOG_USEC=400000"});
  std::vector<std::string> seen;
  ASSERT_TRUE(sd.wait_for("READY=1", &seen));
  // STATUS= on every link change, until both links are up.
  ASSERT_TRUE(sd.wait_for("STATUS=cloud: connected, mqtt: connected", &seen))
      << "last: " << (seen.empty() ? "" : seen.back());

  // WATCHDOG=1 at half of WATCHDOG_USEC: several pings, each well inside 400 ms.
  std::vector<std::chrono::steady_clock::time_point> pings;
  while (pings.size() < 5) {
    const auto m = sd.next(2s);
    ASSERT_FALSE(m.empty()) << "no watchdog ping";
    if (m == "WATCHDOG=1") pings.push_back(std::chrono::steady_clock::now());
  }
  for (std::size_t i = 1; i < pings.size(); ++i) {
    EXPECT_LT(pings[i] - pings[i - 1], 400ms) << "systemd would have killed us";
  }

  // SIGHUP with a valid new file: RELOADING=1, then READY=1.
  write_config("  humidity:\n    read: sensors/hum\n");
  ::kill(gateway.pid(), SIGHUP);
  ASSERT_TRUE(sd.wait_for("RELOADING=1"));
  ASSERT_TRUE(sd.wait_for("READY=1"));

  // A broken file: still RELOADING=1 -> READY=1, and the daemon keeps running.
  std::ofstream(dir / "gateway.yaml") << "cloud: [broken\n";
  ::kill(gateway.pid(), SIGHUP);
  ASSERT_TRUE(sd.wait_for("RELOADING=1"));
  ASSERT_TRUE(sd.wait_for("READY=1"));
  EXPECT_TRUE(gateway.running());

  // SIGTERM: STOPPING=1 and a clean exit.
  ::kill(gateway.pid(), SIGTERM);
  ASSERT_TRUE(sd.wait_for("STOPPING=1"));
  ASSERT_TRUE(test_support::wait_for([&] { return !gateway.running(); }, 5s)) << "exit within 5 s";
  EXPECT_TRUE(WIFEXITED(gateway.exit_status()));
  EXPECT_EQ(WEXITSTATUS(gateway.exit_status()), 0);
}

TEST_F(notify_test, no_watchdog_pings_unless_asked) {
  notify_socket sd(dir / "notify");
  gateway.start({IOTMP_GATEWAY_BINARY, "-c", (dir / "gateway.yaml").string()},
                {"NOTIFY_SOCKET=" + sd.path().string(), "WATCHDOG_USEC="});
  std::vector<std::string> seen;
  ASSERT_TRUE(sd.wait_for("STATUS=cloud: connected, mqtt: connected", &seen));
  // Keep reading for a while: whatever comes is not a watchdog ping.
  for (int i = 0; i < 3; ++i) {
    const auto m = sd.next(300ms);
    EXPECT_NE(m, "WATCHDOG=1");
  }
  for (const auto& m : seen) EXPECT_NE(m, "WATCHDOG=1");
}

}  // namespace
