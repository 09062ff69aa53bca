// Server side of TCP: listen on an IP literal and port (0 picks a free port,
// port() tells which) and hand each accepted connection over as a tcp_stream.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "iotmp_gateway/net/status.hpp"
#include "iotmp_gateway/net/stream.hpp"
#include "iotmp_gateway/net/tcp_stream.hpp"

namespace iotgw::net {

struct listen_options {
  std::string address = "127.0.0.1";  // IPv4 or IPv6 literal, "::" or "0.0.0.0" for all
  std::uint16_t port = 0;
  int backlog = 128;
  bool nodelay = true;
  write_limits limits{};  // for accepted streams
};

class listener final : public std::enable_shared_from_this<listener> {
  struct key {
    explicit key() = default;
  };

 public:
  // ok with a stream, or an accept error (the listener stays open).
  using callback = std::function<void(status result, std::shared_ptr<tcp_stream> stream)>;

  static std::shared_ptr<listener> create(uv::loop& l, callback on_accept);
  listener(key, uv::loop& l, callback on_accept);
  ~listener();

  // e.g. "listen on 127.0.0.1:8443: address already in use".
  status listen(const listen_options& options);
  void close() noexcept;

  std::uint16_t port() const noexcept { return port_; }
  const std::string& local_name() const noexcept { return local_name_; }  // "[::1]:8443"

 private:
  void on_connection(int rc);

  uv::loop& loop_;
  callback on_accept_;
  std::shared_ptr<uv::tcp> socket_;
  listen_options options_;
  std::uint16_t port_ = 0;
  std::string local_name_;
};

}  // namespace iotgw::net
