// Owner of the one libuv loop. Closing it closes every handle still open, runs
// the loop until their close callbacks have freed them and only then closes the
// loop, so that shutdown never leaves a handle pointing into freed memory.
#pragma once

#include <uv.h>

namespace iotgw::uv {

class handle_base;

class loop {
 public:
  // Create it on the thread that will run it: that thread gets SIGPIPE blocked.
  // libuv writes to sockets with write(2), which raises SIGPIPE when the peer
  // has reset the connection (a close_notify answered to a closed peer does
  // it); blocked, the signal stays pending and the write fails with EPIPE. The
  // mask is per thread, so the process-wide disposition stays the daemon's call
  // (it sets SIG_IGN too). Children started with std::system inherit the mask;
  // uv_spawn resets it.
  loop();  // throws std::system_error if libuv cannot create the loop
  ~loop();
  loop(const loop&) = delete;
  loop& operator=(const loop&) = delete;

  uv_loop_t* raw() noexcept { return &loop_; }

  int run(uv_run_mode mode = UV_RUN_DEFAULT) noexcept { return uv_run(&loop_, mode); }
  void stop() noexcept { uv_stop(&loop_); }

  // uv_walk + uv_close on everything, uv_run to the end, uv_loop_close().
  // Returns true once uv_loop_close() returned 0; handles created by callbacks
  // during the close are closed too (a bounded number of rounds).
  bool close() noexcept;
  bool closed() const noexcept { return closed_; }

 private:
  friend class handle_base;
  void link(handle_base* h) noexcept;
  void unlink(handle_base* h) noexcept;

  uv_loop_t loop_{};
  handle_base* handles_ = nullptr;  // our open handles, so close() can close them properly
  bool closed_ = false;
};

}  // namespace iotgw::uv
