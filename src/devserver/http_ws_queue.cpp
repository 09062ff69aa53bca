#include "iotmp_gateway/devserver/http_ws_queue.hpp"

#include <algorithm>
#include <utility>

namespace iotgw::devserver {

void http_ws_queue::push(std::string text, bool sample) {
  bytes_ += text.size();
  frames_.push_back(frame{std::move(text), sample, 0});
  // Oldest samples first; the frame just queued may go too when it alone is
  // over the byte bound (a sample that large would never fit).
  while (frames_.size() > max_frames_ || bytes_ > max_bytes_) {
    const auto oldest =
        std::find_if(frames_.begin(), frames_.end(), [](const frame& f) { return f.sample; });
    if (oldest == frames_.end()) break;  // only control frames left: they stay
    bytes_ -= oldest->text.size();
    frames_.erase(oldest);
    ++dropped_;
    ++dropped_unreported_;
  }
}

std::optional<http_ws_queue::frame> http_ws_queue::pop() {
  if (frames_.empty()) return std::nullopt;
  frame f = std::move(frames_.front());
  frames_.pop_front();
  bytes_ -= f.text.size();
  f.dropped_before = std::exchange(dropped_unreported_, 0);
  return f;
}

}  // namespace iotgw::devserver
