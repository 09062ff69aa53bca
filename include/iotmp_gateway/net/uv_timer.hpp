// One-shot or repeating timer on the loop.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "iotmp_gateway/net/uv_handle.hpp"

namespace iotgw::uv {

class timer final : public handle<timer, uv_timer_t> {
 public:
  using callback = std::function<void()>;

  static std::shared_ptr<timer> create(uv::loop& l);  // throws std::system_error
  timer(key, uv::loop& l) noexcept : handle(l) {}

  // Replaces any previous schedule; repeat 0 means once.
  void start(std::chrono::milliseconds timeout, std::chrono::milliseconds repeat, callback cb);
  void start(std::chrono::milliseconds timeout, callback cb) {
    start(timeout, std::chrono::milliseconds(0), std::move(cb));
  }
  void stop() noexcept;

 private:
  void release() noexcept override { cb_ = nullptr; }

  callback cb_;
};

}  // namespace iotgw::uv
