// Signal watcher: the callback runs on the loop thread, so it may touch state
// (the daemon sets flags and starts the shutdown or reload from here).
#pragma once

#include <functional>
#include <memory>

#include "iotmp_gateway/net/uv_handle.hpp"

namespace iotgw::uv {

class signal final : public handle<signal, uv_signal_t> {
 public:
  using callback = std::function<void(int signum)>;

  static std::shared_ptr<signal> create(uv::loop& l);  // throws std::system_error
  signal(key, uv::loop& l) noexcept : handle(l) {}

  int start(int signum, callback cb);  // 0 or a libuv error
  void stop() noexcept;

 private:
  void release() noexcept override { cb_ = nullptr; }

  callback cb_;
};

}  // namespace iotgw::uv
