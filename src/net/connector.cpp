#include "iotmp_gateway/net/connector.hpp"

#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "iotmp_gateway/net/endpoint.hpp"

namespace iotgw::net {

using std::chrono::milliseconds;

// Owned by libuv from uv_getaddrinfo until its callback (which comes even after
// uv_cancel, and a running lookup cannot be cancelled at all).
struct connector::resolve_req {
  uv_getaddrinfo_t req{};
  std::shared_ptr<connector> owner;
};

std::shared_ptr<connector> connector::connect(uv::loop& l, connect_options options, callback cb) {
  auto c = std::make_shared<connector>(key{}, l, std::move(options), std::move(cb));
  c->start();
  return c;
}

connector::connector(key, uv::loop& l, connect_options options, callback cb)
    : loop_(l), options_(std::move(options)), cb_(std::move(cb)) {}

connector::~connector() {
  if (socket_) socket_->close();
  if (timer_) timer_->close();
}

std::string connector::target() const {
  std::string t = format_endpoint(options_.host, options_.port);
  if (!current_.empty() && current_ != options_.host) t += " (" + current_ + ")";
  return t;
}

// The timer's callback owns the connector: it stays alive while the timer is
// armed, and goes when the timer closes (finish, cancel, or loop::close).
void connector::arm_timer(milliseconds timeout, void (connector::*step)()) {
  timer_->start(timeout, [self = shared_from_this(), step] { ((*self).*step)(); });
}

void connector::start() {
  timer_ = uv::timer::create(loop_);
  deadline_ = std::chrono::steady_clock::now() + options_.timeout;
  // Outcomes known at once are still reported from the loop, never from within connect().
  if (options_.host.empty() || options_.port == 0)
    return arm_timer(milliseconds(0), &connector::report_invalid);
  sockaddr_storage literal{};
  if (make_socket_address(options_.host, options_.port, literal)) {
    addresses_.push_back(literal);
    return arm_timer(milliseconds(0), &connector::try_next);
  }
  arm_timer(options_.timeout, &connector::on_timeout);
  auto* r = new resolve_req;
  r->owner = shared_from_this();
  r->req.data = r;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  const std::string port = std::to_string(options_.port);
  const int rc = uv_getaddrinfo(
      loop_.raw(), &r->req,
      [](uv_getaddrinfo_t* req, int rc, addrinfo* res) noexcept {
        std::unique_ptr<resolve_req> done(static_cast<resolve_req*>(req->data));
        auto& self = done->owner;
        if (self->resolving_ == done.get()) {
          self->resolving_ = nullptr;
          self->on_resolved(rc, res);
        }
        uv_freeaddrinfo(res);
      },
      options_.host.c_str(), port.c_str(), &hints);
  if (rc != 0) {
    delete r;
    last_error_ = uv_status(errc::resolve, rc, "resolve " + options_.host);
    return arm_timer(milliseconds(0), &connector::report_last_error);
  }
  resolving_ = r;
}

void connector::report_invalid() {
  finish({errc::invalid_argument, 0,
          "connect to " + format_endpoint(options_.host, options_.port) + ": no host or port"},
         nullptr);
}

void connector::report_last_error() {
  finish(last_error_, nullptr);
}

void connector::on_resolved(int rc, addrinfo* res) {
  if (done_) return;
  if (rc != 0) return finish(uv_status(errc::resolve, rc, "resolve " + options_.host), nullptr);
  for (auto* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    sockaddr_storage ss{};
    std::memcpy(&ss, ai->ai_addr, std::min<std::size_t>(ai->ai_addrlen, sizeof ss));
    addresses_.push_back(ss);
  }
  if (addresses_.empty()) {
    return finish({errc::resolve, 0, "resolve " + options_.host + ": no usable address"}, nullptr);
  }
  try_next();
}

void connector::try_next() {
  while (!done_) {
    if (next_ >= addresses_.size()) return finish(last_error_, nullptr);
    const auto& addr = addresses_[next_];
    const std::size_t left = addresses_.size() - next_;
    ++next_;
    current_ = uv::format_address(reinterpret_cast<const sockaddr*>(&addr), false);

    const auto remaining =
        std::chrono::duration_cast<milliseconds>(deadline_ - std::chrono::steady_clock::now());
    if (remaining <= milliseconds(0)) return on_timeout();
    arm_timer(std::max(milliseconds(1), remaining / static_cast<long>(left)),
              &connector::on_timeout);

    socket_ = uv::tcp::create(loop_);
    std::weak_ptr<connector> weak = weak_from_this();
    uv::tcp* attempt = socket_.get();
    const int rc =
        socket_->connect(reinterpret_cast<const sockaddr*>(&addr), [weak, attempt](int rc) {
          auto self = weak.lock();
          // Callbacks of abandoned attempts (timed out, cancelled) come back with
          // UV_ECANCELED and must not disturb the current one.
          if (self && self->socket_.get() == attempt) self->on_connected(rc);
        });
    if (rc == 0) return;
    // Synchronous failure, e.g. no route for this address family: next address.
    last_error_ = uv_status(errc::io, rc, "connect to " + target());
    std::exchange(socket_, nullptr)->close();
  }
}

void connector::on_connected(int rc) {
  if (done_) return;
  if (rc == UV_ECANCELED) {
    // loop::close() closed the socket under us: nobody is left to tell.
    cb_ = nullptr;
    return finish({}, nullptr);
  }
  if (rc != 0) {
    last_error_ = uv_status(errc::io, rc, "connect to " + target());
    std::exchange(socket_, nullptr)->close();
    return try_next();
  }
  auto socket = std::exchange(socket_, nullptr);
  socket->nodelay(true);
  if (options_.keepalive) {
    socket->keepalive(true, static_cast<unsigned>(options_.keepalive_delay.count()));
  }
  finish({}, tcp_stream::adopt(std::move(socket), options_.limits));
}

void connector::on_timeout() {
  if (done_) return;
  if (socket_) std::exchange(socket_, nullptr)->close();
  const bool resolving = resolving_ != nullptr || addresses_.empty();
  if (!resolving && next_ < addresses_.size() && std::chrono::steady_clock::now() < deadline_) {
    last_error_ = {errc::timeout, 0, "connect to " + target() + ": timed out"};
    return try_next();
  }
  const std::string what = resolving ? "resolve " + options_.host : "connect to " + target();
  finish({errc::timeout, 0,
          what + ": timed out after " + std::to_string(options_.timeout.count()) + " ms"},
         nullptr);
}

void connector::finish(status result, std::shared_ptr<tcp_stream> stream) {
  if (done_) return;
  done_ = true;
  if (resolving_) {
    uv_cancel(reinterpret_cast<uv_req_t*>(&resolving_->req));  // may fail: already running
    resolving_ = nullptr;
  }
  if (socket_) std::exchange(socket_, nullptr)->close();
  if (timer_) std::exchange(timer_, nullptr)->close();
  // Closing the timer lets go of the last owner once its close callback ran;
  // until then we are alive, and the caller of this function holds us too.
  if (auto cb = std::move(cb_)) cb(std::move(result), std::move(stream));
}

void connector::cancel() noexcept {
  if (done_) return;
  cb_ = nullptr;
  finish({}, nullptr);
}

}  // namespace iotgw::net
