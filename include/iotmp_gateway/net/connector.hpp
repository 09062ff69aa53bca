// Client side of TCP: resolve host (uv_getaddrinfo, skipped for IP literals),
// try each address in turn, give up after the timeout. The connected socket has
// TCP_NODELAY set: IOTMP frames are small and latency matters more than packets.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "iotmp_gateway/net/status.hpp"
#include "iotmp_gateway/net/stream.hpp"
#include "iotmp_gateway/net/tcp_stream.hpp"
#include "iotmp_gateway/net/uv_timer.hpp"

struct addrinfo;

namespace iotgw::net {

struct connect_options {
  std::string host;  // DNS name or IPv4/IPv6 literal (no brackets)
  std::uint16_t port = 0;
  // For the whole attempt, resolution included. Each address gets an equal share
  // of what is left, so one black-holed address cannot eat all of it.
  std::chrono::milliseconds timeout{10'000};
  bool keepalive = false;
  std::chrono::seconds keepalive_delay{60};
  write_limits limits{};
};

class connector final : public std::enable_shared_from_this<connector> {
  struct key {
    explicit key() = default;
  };

 public:
  // Exactly one call, on the loop thread and never from within connect():
  // ok with the stream, or the error (resolve, io, timeout, invalid_argument).
  using callback = std::function<void(status result, std::shared_ptr<tcp_stream> stream)>;

  // The attempt keeps itself alive until it completes (its pending timer, DNS
  // request and socket callbacks own it); the returned pointer is only needed
  // to cancel.
  static std::shared_ptr<connector> connect(uv::loop& l, connect_options options, callback cb);
  connector(key, uv::loop& l, connect_options options, callback cb);
  ~connector();

  // Abandons the attempt: the callback is never called. Safe at any time.
  void cancel() noexcept;

 private:
  void start();
  void on_resolved(int rc, addrinfo* res);
  void try_next();
  void on_connected(int rc);
  void on_timeout();
  void arm_timer(std::chrono::milliseconds timeout, void (connector::*step)());
  void finish(status result, std::shared_ptr<tcp_stream> stream);
  void report_invalid();
  void report_last_error();
  std::string target() const;

  uv::loop& loop_;
  connect_options options_;
  callback cb_;
  std::shared_ptr<uv::timer> timer_;
  std::shared_ptr<uv::tcp> socket_;  // the attempt in flight
  struct resolve_req;
  resolve_req* resolving_ = nullptr;  // owned by libuv until its callback
  std::vector<sockaddr_storage> addresses_;
  std::size_t next_ = 0;
  std::string current_;  // address of the attempt in flight, for messages
  std::chrono::steady_clock::time_point deadline_;
  status last_error_;
  bool done_ = false;
};

}  // namespace iotgw::net
