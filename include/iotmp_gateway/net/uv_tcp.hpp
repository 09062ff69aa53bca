// TCP handle: the thin layer under net::tcp_stream, net::connector and
// net::listener. Reads go into one reusable buffer; each write owns its buffers
// until libuv is done with them, and several buffers go out in one uv_write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "iotmp_gateway/net/uv_handle.hpp"
#include "iotmp_gateway/varint.hpp"

namespace iotgw::uv {

class tcp final : public handle<tcp, uv_tcp_t> {
 public:
  // status 0 with data, or a libuv error (UV_EOF when the peer closed).
  using read_callback = std::function<void(int status, byte_view data)>;
  // One call per write(), in order: libuv status and the bytes that write carried.
  using write_callback = std::function<void(int status, std::size_t bytes)>;
  using status_callback = std::function<void(int status)>;

  static std::shared_ptr<tcp> create(uv::loop& l);  // throws std::system_error
  tcp(key, uv::loop& l) noexcept : handle(l) {}

  int bind(const sockaddr* addr) noexcept;
  int listen(int backlog, status_callback on_connection);
  int accept(tcp& client) noexcept;
  // At most one connect in flight; its callback runs (UV_ECANCELED if closed first).
  int connect(const sockaddr* addr, status_callback cb);

  int read_start(read_callback cb);
  int read_stop() noexcept;

  void on_write(write_callback cb) { write_cb_ = std::move(cb); }
  // Takes the buffers; the callback set by on_write reports completion. A
  // non-zero return means nothing was queued and no callback will follow.
  int write(std::vector<byte_buffer>&& buffers) noexcept;

  int nodelay(bool enable) noexcept { return uv_tcp_nodelay(&handle_, enable ? 1 : 0); }
  int keepalive(bool enable, unsigned delay_s) noexcept {
    return uv_tcp_keepalive(&handle_, enable ? 1 : 0, delay_s);
  }
  int send_buffer_size(int size) noexcept;
  int recv_buffer_size(int size) noexcept;

  // "127.0.0.1:80", "[::1]:80", or "" when unknown.
  std::string local_name() const;
  std::string peer_name() const;
  std::uint16_t local_port() const noexcept;

 private:
  struct write_req;
  void release() noexcept override;
  static constexpr std::size_t read_buffer_size = 64 * 1024;

  read_callback read_cb_;
  write_callback write_cb_;
  status_callback connection_cb_;
  status_callback connect_cb_;
  uv_connect_t connect_req_{};
  std::unique_ptr<std::uint8_t[]> read_buffer_;
};

// Formats a socket address the way our messages show it (brackets for IPv6).
std::string format_address(const sockaddr* addr, bool with_port = true);

}  // namespace iotgw::uv
