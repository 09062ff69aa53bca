// net::stream over a connected uv::tcp. Made by net::connector (client side)
// and net::listener (server side). Destroying it closes the socket.
#pragma once

#include <memory>
#include <string>

#include "iotmp_gateway/net/stream.hpp"
#include "iotmp_gateway/net/uv_tcp.hpp"

namespace iotgw::net {

class tcp_stream final : public stream, public std::enable_shared_from_this<tcp_stream> {
  struct key {
    explicit key() = default;
  };

 public:
  // Takes over a connected socket and starts reading.
  static std::shared_ptr<tcp_stream> adopt(std::shared_ptr<uv::tcp> socket,
                                           const write_limits& limits = {});
  tcp_stream(key, std::shared_ptr<uv::tcp> socket);
  ~tcp_stream() override;

  using stream::write;
  status write(std::vector<byte_buffer>&& buffers) override;
  void close() noexcept override;
  bool is_open() const noexcept override { return open_; }
  void pause_reading() noexcept override;
  void resume_reading() noexcept override;
  std::size_t queued_bytes() const noexcept override { return queued_; }
  const std::string& peer_name() const noexcept override { return peer_; }

  // For socket options (buffer sizes, keepalive); null once closed.
  uv::tcp* socket() noexcept { return open_ ? socket_.get() : nullptr; }

 private:
  void start_reading() noexcept;
  void on_read(int rc, byte_view data);
  void on_written(int rc, std::size_t bytes);
  void fail(status reason);

  std::shared_ptr<uv::tcp> socket_;
  std::string peer_;
  std::size_t queued_ = 0;  // accepted by write() and not yet confirmed by libuv
  bool open_ = true;
  bool paused_ = false;
};

}  // namespace iotgw::net
