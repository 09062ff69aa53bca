#include "iotmp_gateway/mqtt/mailbox.hpp"

namespace iotgw::mqtt {

mailbox::mailbox(uv::loop& loop) : doorbell_(uv::async::create(loop, [this] { drain(); })) {}

mailbox::~mailbox() { close(); }

bool mailbox::post(job j) {
  std::lock_guard lock(mutex_);
  if (closed_) return false;
  queue_.push_back(std::move(j));
  // Ring only for the first job of a batch; the drain takes everything queued.
  if (queue_.size() == 1) doorbell_->send();
  return true;
}

void mailbox::close() {
  std::deque<job> dropped;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    dropped.swap(queue_);
    doorbell_->close();
  }
  // Destroyed outside the lock: a job may own things whose destructors post.
}

void mailbox::drain() {
  std::deque<job> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(queue_);
  }
  if (batch.empty()) return;
  ++batches_;
  for (auto& j : batch) j();
}

}  // namespace iotgw::mqtt
