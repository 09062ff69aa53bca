#include "iotmp_gateway/net/uv_async.hpp"

#include <system_error>

namespace iotgw::uv {

std::shared_ptr<async> async::create(uv::loop& l, callback cb) {
  auto a = std::make_shared<async>(key{}, l, std::move(cb));
  const int rc = uv_async_init(l.raw(), a->raw(), [](uv_async_t* h) noexcept {
    auto* self = from(h->data);
    auto keep = self->shared_from_this();
    if (self->cb_) self->cb_();
  });
  if (rc != 0) throw std::system_error(-rc, std::generic_category(), "uv_async_init");
  a->adopt();
  return a;
}

}  // namespace iotgw::uv
