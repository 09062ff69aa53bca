// A real mosquitto broker on a free loopback port, for integration tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "support/process.hpp"

namespace test_support {

// A second listener with TLS on the same broker (messages are shared between
// listeners): the PEM files of the server side, and whether clients must
// present a certificate signed by ca_file.
struct tls_listener {
  std::string cert_file, key_file, ca_file;
  bool require_certificate = false;
};

class mosquitto_broker {
 public:
  explicit mosquitto_broker(const std::optional<tls_listener>& tls = std::nullopt) : port_(free_port()) {
    dir_ = std::filesystem::temp_directory_path() /
           ("iotmp-gw-mosquitto-" + std::to_string(::getpid()) + "-" + std::to_string(port_));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "mosquitto.conf") << "listener " << port_ << " 127.0.0.1\n"
                                           << "allow_anonymous true\n"
                                           << "persistence false\n"
                                           << "log_type error\n";
    if (tls) {
      tls_port_ = free_port();
      std::ofstream(dir_ / "mosquitto.conf", std::ios::app)
          << "listener " << tls_port_ << " 127.0.0.1\n"
          << "certfile " << tls->cert_file << "\nkeyfile " << tls->key_file << "\ncafile " << tls->ca_file
          << "\nrequire_certificate " << (tls->require_certificate ? "true" : "false") << "\n";
    }
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
    const auto up = [&] { return port_accepts(port_) && (tls_port_ == 0 || port_accepts(tls_port_)); };
    if (!wait_for([&] { return up() || !process_.running(); }) || !process_.running()) {
      throw std::runtime_error("mosquitto did not start on port " + std::to_string(port_));
    }
  }
  void stop() { process_.stop(); }

  std::uint16_t port() const { return port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  std::string tls_uri() const { return "ssl://127.0.0.1:" + std::to_string(tls_port_); }

 private:
  std::uint16_t port_;
  std::uint16_t tls_port_ = 0;
  std::filesystem::path dir_;
  child_process process_;
};

}  // namespace test_support
