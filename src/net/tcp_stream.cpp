#include "iotmp_gateway/net/tcp_stream.hpp"

#include <utility>

namespace iotgw::net {

std::shared_ptr<tcp_stream> tcp_stream::adopt(std::shared_ptr<uv::tcp> socket,
                                              const write_limits& limits) {
  auto s = std::make_shared<tcp_stream>(key{}, std::move(socket));
  s->set_limits(limits);
  // The socket outlives us until its close callback: it must only see a weak pointer.
  std::weak_ptr<tcp_stream> weak = s;
  s->socket_->on_write([weak](int rc, std::size_t bytes) {
    if (auto self = weak.lock()) self->on_written(rc, bytes);
  });
  s->start_reading();
  return s;
}

tcp_stream::tcp_stream(key, std::shared_ptr<uv::tcp> socket)
    : socket_(std::move(socket)), peer_(socket_->peer_name()) {}

tcp_stream::~tcp_stream() {
  socket_->close();
}

void tcp_stream::start_reading() noexcept {
  std::weak_ptr<tcp_stream> weak = weak_from_this();
  const int rc = socket_->read_start([weak](int rc, byte_view data) {
    if (auto self = weak.lock()) self->on_read(rc, data);
  });
  if (rc != 0) fail(uv_status(errc::io, rc, "read from " + peer_));
}

status tcp_stream::write(std::vector<byte_buffer>&& buffers) {
  if (!open_) return closed_error();
  std::size_t bytes = 0;
  for (const auto& b : buffers) bytes += b.size();
  if (bytes == 0) return {};
  if (queued_ + bytes > limits().hard_limit) return limit_error(bytes);
  if (const int rc = socket_->write(std::move(buffers)); rc != 0) {
    close();  // the returned status is the report
    return uv_status(errc::io, rc, "write to " + peer_);
  }
  queued_ += bytes;
  update_writable();
  return {};
}

void tcp_stream::on_written(int rc, std::size_t bytes) {
  queued_ -= bytes;
  if (!open_) return;
  // UV_ECANCELED only follows our own close, which returned above.
  if (rc != 0) return fail(uv_status(errc::io, rc, "write to " + peer_));
  update_writable();
}

void tcp_stream::on_read(int rc, byte_view data) {
  if (!open_) return;
  if (rc == UV_EOF) return fail({errc::eof, rc, peer_ + ": connection closed by peer"});
  if (rc != 0) return fail(uv_status(errc::io, rc, "read from " + peer_));
  if (data_cb_) data_cb_(data);
}

void tcp_stream::fail(status reason) {
  if (!open_) return;
  open_ = false;
  socket_->close();
  // Moved out: the callback may destroy us or set a new one.
  if (auto cb = std::move(close_cb_)) cb(reason);
}

void tcp_stream::close() noexcept {
  if (!open_) return;
  open_ = false;
  socket_->close();
}

void tcp_stream::pause_reading() noexcept {
  if (!open_ || paused_) return;
  paused_ = true;
  socket_->read_stop();
}

void tcp_stream::resume_reading() noexcept {
  if (!open_ || !paused_) return;
  auto keep =
      shared_from_this();  // a failure calls on_close, which may drop the caller's reference
  paused_ = false;
  start_reading();
}

}  // namespace iotgw::net
