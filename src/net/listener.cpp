#include "iotmp_gateway/net/listener.hpp"

#include <utility>

#include "iotmp_gateway/net/endpoint.hpp"

namespace iotgw::net {

std::shared_ptr<listener> listener::create(uv::loop& l, callback on_accept) {
  return std::make_shared<listener>(key{}, l, std::move(on_accept));
}

listener::listener(key, uv::loop& l, callback on_accept)
    : loop_(l), on_accept_(std::move(on_accept)) {}

listener::~listener() {
  close();
}

status listener::listen(const listen_options& options) {
  const std::string what = "listen on " + format_endpoint(options.address, options.port);
  if (socket_) return {errc::invalid_argument, 0, what + ": already listening"};
  sockaddr_storage addr{};
  if (!make_socket_address(options.address, options.port, addr)) {
    return {errc::invalid_argument, 0, what + ": not an IP address"};
  }
  options_ = options;
  auto socket = uv::tcp::create(loop_);
  int rc = socket->bind(reinterpret_cast<const sockaddr*>(&addr));
  if (rc == 0) {
    std::weak_ptr<listener> weak = weak_from_this();
    rc = socket->listen(options.backlog, [weak](int rc) {
      if (auto self = weak.lock()) self->on_connection(rc);
    });
  }
  if (rc != 0) {
    socket->close();
    return uv_status(errc::io, rc, what);
  }
  port_ = socket->local_port();
  local_name_ = socket->local_name();
  socket_ = std::move(socket);
  return {};
}

void listener::on_connection(int rc) {
  if (!socket_) return;
  if (rc != 0) {
    if (on_accept_) on_accept_(uv_status(errc::io, rc, "accept on " + local_name_), nullptr);
    return;
  }
  auto client = uv::tcp::create(loop_);
  if (rc = socket_->accept(*client); rc != 0) {
    client->close();
    if (on_accept_) on_accept_(uv_status(errc::io, rc, "accept on " + local_name_), nullptr);
    return;
  }
  if (options_.nodelay) client->nodelay(true);
  auto stream = tcp_stream::adopt(std::move(client), options_.limits);
  if (on_accept_) on_accept_({}, std::move(stream));
}

void listener::close() noexcept {
  if (socket_) std::exchange(socket_, nullptr)->close();
}

}  // namespace iotgw::net
