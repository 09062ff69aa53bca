// Hands work from Paho's threads to the loop thread: a mutex-guarded queue of
// closures plus a uv_async doorbell. libuv coalesces wake-ups, so each wake-up
// drains the whole queue: messages reach the loop in batches, not one by one.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "iotmp_gateway/net/uv_async.hpp"

namespace iotgw::mqtt {

class mailbox {
 public:
  using job = std::function<void()>;

  explicit mailbox(uv::loop& loop);
  ~mailbox();
  mailbox(const mailbox&) = delete;
  mailbox& operator=(const mailbox&) = delete;

  // Any thread. False once closed: the job is dropped, never run.
  bool post(job j);
  // Loop thread. Later posts return false; queued jobs are dropped.
  void close();

  std::size_t drained_batches() const noexcept { return batches_; }

 private:
  void drain();

  std::mutex mutex_;  // guards queue_, closed_ and the doorbell against close()
  std::deque<job> queue_;
  bool closed_ = false;
  std::shared_ptr<uv::async> doorbell_;
  std::size_t batches_ = 0;  // loop thread only
};

}  // namespace iotgw::mqtt
