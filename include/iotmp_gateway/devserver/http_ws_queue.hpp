// The outgoing frames of one WebSocket of the devserver's HTTP API. A browser
// tab in the background, or a client on a slow link, reads slower than a
// device streams; without a bound the devserver would buffer without end.
// Samples are droppable: when the queue is over its frame or byte bound, the
// oldest sample goes first (the newest value is what a person wants to see)
// and is counted. Control frames (errors, the end of a stream) are never
// dropped; there are only a few per subscription.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace iotgw::devserver {

class http_ws_queue {
 public:
  struct frame {
    std::string text;
    bool sample = true;
    // Samples dropped since the previous frame taken with pop(), so a client
    // can be told ({"dropped": n} on the multiplexed socket).
    std::uint64_t dropped_before = 0;
  };

  http_ws_queue(std::size_t max_frames, std::size_t max_bytes)
      : max_frames_(max_frames), max_bytes_(max_bytes) {}

  void push_sample(std::string text) { push(std::move(text), true); }
  void push_control(std::string text) { push(std::move(text), false); }
  std::optional<frame> pop();

  bool empty() const noexcept { return frames_.empty(); }
  std::size_t size() const noexcept { return frames_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }
  // Samples dropped since construction.
  std::uint64_t dropped() const noexcept { return dropped_; }

 private:
  void push(std::string text, bool sample);

  std::size_t max_frames_;
  std::size_t max_bytes_;
  std::deque<frame> frames_;
  std::size_t bytes_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t dropped_unreported_ = 0;
};

}  // namespace iotgw::devserver
