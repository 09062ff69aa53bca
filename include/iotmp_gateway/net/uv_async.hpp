// Cross-thread wake-up of the loop (the mailbox's doorbell). libuv coalesces
// sends: one callback may stand for many, so the receiver drains everything.
#pragma once

#include <functional>
#include <memory>

#include "iotmp_gateway/net/uv_handle.hpp"

namespace iotgw::uv {

class async final : public handle<async, uv_async_t> {
 public:
  using callback = std::function<void()>;

  static std::shared_ptr<async> create(uv::loop& l, callback cb);  // throws std::system_error
  async(key, uv::loop& l, callback cb) noexcept : handle(l), cb_(std::move(cb)) {}

  // The only member callable from other threads. It must not race with close():
  // the owner guards both with its own lock (a send after close is undefined).
  int send() noexcept { return uv_async_send(&handle_); }

 private:
  void release() noexcept override { cb_ = nullptr; }

  callback cb_;
};

}  // namespace iotgw::uv
