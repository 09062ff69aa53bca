#include "iotmp_gateway/net/uv_handle.hpp"

#include <utility>

namespace iotgw::uv {

void handle_base::adopt(std::shared_ptr<handle_base> self, uv_handle_t* h) noexcept {
  handle_ = h;
  handle_->data = this;
  self_ = std::move(self);
  loop_->link(this);
}

void handle_base::close() noexcept {
  if (closing_ || handle_ == nullptr) return;
  closing_ = true;
  loop_->unlink(this);
  uv_close(handle_, &handle_base::on_closed);
}

void handle_base::on_closed(uv_handle_t* h) noexcept {
  auto* self = static_cast<handle_base*>(h->data);
  self->release();
  // Moved out first: the object may be destroyed when this goes out of scope.
  auto keep = std::move(self->self_);
}

}  // namespace iotgw::uv
