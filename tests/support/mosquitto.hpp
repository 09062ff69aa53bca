// A real mosquitto broker on a free loopback port, for integration tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "support/process.hpp"

namespace test_support {

class mosquitto_broker {
 public:
  mosquitto_broker() : port_(free_port()) {
    dir_ = std::filesystem::temp_directory_path() /
           ("iotmp-gw-mosquitto-" + std::to_string(::getpid()) + "-" + std::to_string(port_));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "mosquitto.conf") << "listener " << port_ << " 127.0.0.1\n"
                                           << "allow_anonymous true\n"
                                           << "persistence false\n"
                                           << "log_type error\n";
    start();
  }
  ~mosquitto_broker() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void start() {
    process_.start({"mosquitto", "-c", (dir_ / "mosquitto.conf").string()}, {},
                   (dir_ / "mosquitto.log").string());
    if (!wait_for([&] { return port_accepts(port_) || !process_.running(); }) || !process_.running()) {
      throw std::runtime_error("mosquitto did not start on port " + std::to_string(port_));
    }
  }
  void stop() { process_.stop(); }

  std::uint16_t port() const { return port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

 private:
  std::uint16_t port_;
  std::filesystem::path dir_;
  child_process process_;
};

}  // namespace test_support
