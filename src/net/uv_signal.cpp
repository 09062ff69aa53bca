#include "iotmp_gateway/net/uv_signal.hpp"

#include <system_error>

namespace iotgw::uv {

std::shared_ptr<signal> signal::create(uv::loop& l) {
  auto s = std::make_shared<signal>(key{}, l);
  if (const int rc = uv_signal_init(l.raw(), s->raw()); rc != 0) {
    throw std::system_error(-rc, std::generic_category(), "uv_signal_init");
  }
  s->adopt();
  return s;
}

int signal::start(int signum, callback cb) {
  if (closing()) return UV_EINVAL;
  cb_ = std::move(cb);
  return uv_signal_start(
      &handle_,
      [](uv_signal_t* h, int signum) noexcept {
        auto* self = from(h->data);
        auto keep = self->shared_from_this();
        if (self->cb_) self->cb_(signum);
      },
      signum);
}

void signal::stop() noexcept {
  if (!closing()) uv_signal_stop(&handle_);
}

}  // namespace iotgw::uv
