// Ownership of libuv handles, the uvw way: a wrapper embedding a uv handle holds
// a shared_ptr to itself from init until its uv_close callback, because libuv
// may still touch the handle until then. Users hold shared_ptrs too; memory is
// freed only after both the close callback ran and the last user let go.
// Everything here runs on the loop thread (async::send is the one exception).
#pragma once

#include <uv.h>

#include <memory>

#include "iotmp_gateway/net/uv_loop.hpp"

namespace iotgw::uv {

class handle_base {
 public:
  handle_base(const handle_base&) = delete;
  handle_base& operator=(const handle_base&) = delete;
  virtual ~handle_base() = default;

  // Idempotent. Callbacks stop now; memory goes after the close callback.
  void close() noexcept;
  bool closing() const noexcept { return closing_; }
  uv::loop& owner() const noexcept { return *loop_; }

 protected:
  explicit handle_base(uv::loop& l) noexcept : loop_(&l) {}
  // Called right after a successful uv_*_init on h.
  void adopt(std::shared_ptr<handle_base> self, uv_handle_t* h) noexcept;
  // Drops the callbacks once libuv is done with the handle. Callbacks may own
  // the object that owns the handle (a pending operation keeps itself alive
  // that way); this breaks the cycle even when loop::close() closed the handle.
  virtual void release() noexcept {}

 private:
  friend class uv::loop;
  static void on_closed(uv_handle_t* h) noexcept;

  uv::loop* loop_;
  uv_handle_t* handle_ = nullptr;
  std::shared_ptr<handle_base> self_;
  handle_base* prev_ = nullptr;  // in the loop's list of open handles
  handle_base* next_ = nullptr;
  bool closing_ = false;
};

// Derived embeds T; create() functions use the key to reach the public
// constructor through make_shared while keeping it unusable elsewhere.
template <class Derived, class T>
class handle : public handle_base, public std::enable_shared_from_this<Derived> {
 public:
  T* raw() noexcept { return &handle_; }
  const T* raw() const noexcept { return &handle_; }

 protected:
  struct key {
    explicit key() = default;
  };
  explicit handle(uv::loop& l) noexcept : handle_base(l) {}
  void adopt() noexcept {
    handle_base::adopt(this->shared_from_this(), reinterpret_cast<uv_handle_t*>(&handle_));
  }
  // data holds the handle_base*, which need not sit at offset 0 of Derived.
  static Derived* from(void* data) noexcept {
    return static_cast<Derived*>(static_cast<handle_base*>(data));
  }

  T handle_{};
};

}  // namespace iotgw::uv
