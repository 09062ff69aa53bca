#include "iotmp_gateway/net/uv_tcp.hpp"

#include <system_error>
#include <utility>

namespace iotgw::uv {

struct tcp::write_req {
  uv_write_t req{};
  std::vector<byte_buffer> buffers;
  std::size_t bytes = 0;
};

std::shared_ptr<tcp> tcp::create(uv::loop& l) {
  auto t = std::make_shared<tcp>(key{}, l);
  if (const int rc = uv_tcp_init(l.raw(), t->raw()); rc != 0) {
    throw std::system_error(-rc, std::generic_category(), "uv_tcp_init");
  }
  t->adopt();
  return t;
}

int tcp::bind(const sockaddr* addr) noexcept {
  if (closing()) return UV_EINVAL;
  return uv_tcp_bind(&handle_, addr, 0);
}

int tcp::listen(int backlog, status_callback on_connection) {
  if (closing()) return UV_EINVAL;
  connection_cb_ = std::move(on_connection);
  return uv_listen(reinterpret_cast<uv_stream_t*>(&handle_), backlog,
                   [](uv_stream_t* s, int status) noexcept {
                     auto* self = from(s->data);
                     auto keep = self->shared_from_this();
                     if (self->connection_cb_) self->connection_cb_(status);
                   });
}

int tcp::accept(tcp& client) noexcept {
  return uv_accept(reinterpret_cast<uv_stream_t*>(&handle_),
                   reinterpret_cast<uv_stream_t*>(client.raw()));
}

int tcp::connect(const sockaddr* addr, status_callback cb) {
  if (closing()) return UV_EINVAL;
  connect_cb_ = std::move(cb);
  connect_req_.data = this;
  return uv_tcp_connect(&connect_req_, &handle_, addr, [](uv_connect_t* req, int status) noexcept {
    auto* self = static_cast<tcp*>(req->data);
    auto keep = self->shared_from_this();
    auto cb = std::move(self->connect_cb_);
    if (cb) cb(status);
  });
}

int tcp::read_start(read_callback cb) {
  if (closing()) return UV_EINVAL;
  read_cb_ = std::move(cb);
  if (!read_buffer_) read_buffer_ = std::make_unique<std::uint8_t[]>(read_buffer_size);
  return uv_read_start(
      reinterpret_cast<uv_stream_t*>(&handle_),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept {
        // One buffer per handle: its contents are consumed before the next read.
        auto* self = from(h->data);
        *buf = uv_buf_init(reinterpret_cast<char*>(self->read_buffer_.get()),
                           static_cast<unsigned>(read_buffer_size));
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
        if (nread == 0) return;  // EAGAIN: nothing to report
        auto* self = from(s->data);
        auto keep = self->shared_from_this();
        if (!self->read_cb_) return;
        if (nread < 0) {
          self->read_cb_(static_cast<int>(nread), {});
        } else {
          self->read_cb_(0, byte_view(reinterpret_cast<const std::uint8_t*>(buf->base),
                                      static_cast<std::size_t>(nread)));
        }
      });
}

int tcp::read_stop() noexcept {
  if (closing()) return 0;
  return uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
}

int tcp::write(std::vector<byte_buffer>&& buffers) noexcept {
  if (closing()) return UV_EPIPE;
  auto req = std::make_unique<write_req>();
  req->buffers = std::move(buffers);
  std::vector<uv_buf_t> bufs;
  bufs.reserve(req->buffers.size());
  for (auto& b : req->buffers) {
    if (b.empty()) continue;
    bufs.push_back(uv_buf_init(reinterpret_cast<char*>(b.data()), static_cast<unsigned>(b.size())));
    req->bytes += b.size();
  }
  if (bufs.empty()) return UV_EINVAL;  // libuv asserts on an empty write
  req->req.data = req.get();
  // libuv copies the uv_buf_t array, not the bytes: those stay in req until the callback.
  const int rc =
      uv_write(&req->req, reinterpret_cast<uv_stream_t*>(&handle_), bufs.data(),
               static_cast<unsigned>(bufs.size()), [](uv_write_t* w, int status) noexcept {
                 std::unique_ptr<write_req> done(static_cast<write_req*>(w->data));
                 auto* self = from(w->handle->data);
                 auto keep = self->shared_from_this();
                 if (self->write_cb_) self->write_cb_(status, done->bytes);
               });
  if (rc == 0) req.release();
  return rc;
}

void tcp::release() noexcept {
  read_cb_ = nullptr;
  write_cb_ = nullptr;
  connection_cb_ = nullptr;
  connect_cb_ = nullptr;
  read_buffer_.reset();
}

int tcp::send_buffer_size(int size) noexcept {
  return uv_send_buffer_size(reinterpret_cast<uv_handle_t*>(&handle_), &size);
}

int tcp::recv_buffer_size(int size) noexcept {
  return uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&handle_), &size);
}

std::string tcp::local_name() const {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(&handle_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return format_address(reinterpret_cast<const sockaddr*>(&ss));
}

std::string tcp::peer_name() const {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(&handle_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return format_address(reinterpret_cast<const sockaddr*>(&ss));
}

std::uint16_t tcp::local_port() const noexcept {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(&handle_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

std::string format_address(const sockaddr* addr, bool with_port) {
  char ip[INET6_ADDRSTRLEN] = {};
  std::uint16_t port = 0;
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    uv_ip4_name(in, ip, sizeof ip);
    port = ntohs(in->sin_port);
    return with_port ? std::string(ip) + ':' + std::to_string(port) : std::string(ip);
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    uv_ip6_name(in6, ip, sizeof ip);
    port = ntohs(in6->sin6_port);
    return with_port ? '[' + std::string(ip) + "]:" + std::to_string(port) : std::string(ip);
  }
  return {};
}

}  // namespace iotgw::uv
