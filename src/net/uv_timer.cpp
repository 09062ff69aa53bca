#include "iotmp_gateway/net/uv_timer.hpp"

#include <system_error>

namespace iotgw::uv {

std::shared_ptr<timer> timer::create(uv::loop& l) {
  auto t = std::make_shared<timer>(key{}, l);
  if (const int rc = uv_timer_init(l.raw(), t->raw()); rc != 0) {
    throw std::system_error(-rc, std::generic_category(), "uv_timer_init");
  }
  t->adopt();
  return t;
}

void timer::start(std::chrono::milliseconds timeout, std::chrono::milliseconds repeat,
                  callback cb) {
  if (closing()) return;
  cb_ = std::move(cb);
  uv_timer_start(
      &handle_,
      [](uv_timer_t* h) noexcept {
        auto* self = from(h->data);
        // The callback may drop the last user reference or restart the timer.
        auto keep = self->shared_from_this();
        auto cb = self->cb_;
        if (cb) cb();
      },
      static_cast<std::uint64_t>(timeout.count()), static_cast<std::uint64_t>(repeat.count()));
}

void timer::stop() noexcept {
  if (!closing()) uv_timer_stop(&handle_);
}

}  // namespace iotgw::uv
