#include "iotmp_gateway/net/uv_loop.hpp"

#include <pthread.h>

#include <csignal>
#include <system_error>

#include "iotmp_gateway/net/uv_handle.hpp"

namespace iotgw::uv {

loop::loop() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  if (const int rc = uv_loop_init(&loop_); rc != 0) {
    throw std::system_error(-rc, std::generic_category(), "uv_loop_init");
  }
}

loop::~loop() {
  close();
}

void loop::link(handle_base* h) noexcept {
  h->next_ = handles_;
  if (handles_) handles_->prev_ = h;
  handles_ = h;
}

void loop::unlink(handle_base* h) noexcept {
  if (h->prev_) h->prev_->next_ = h->next_;
  if (h->next_) h->next_->prev_ = h->prev_;
  if (handles_ == h) handles_ = h->next_;
  h->prev_ = h->next_ = nullptr;
}

bool loop::close() noexcept {
  if (closed_) return true;
  // Close callbacks can destroy objects that create handles or finish requests
  // that start new work (a connect after a DNS answer): go round until quiet.
  constexpr int max_rounds = 16;
  for (int round = 0; round < max_rounds; ++round) {
    // Ours go through handle_base::close so that their self-reference is released.
    while (handles_) handles_->close();
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    if (handles_ == nullptr && uv_loop_close(&loop_) == 0) {
      closed_ = true;
      return true;
    }
  }
  return false;
}

}  // namespace iotgw::uv
