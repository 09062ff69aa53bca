// Incremental IOTMP frame decoder: bytes go in in chunks of any size (one byte at
// a time works), whole frames come out. Steady state allocates nothing: the
// buffer is reused and fields are views into it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "iotmp_gateway/codec_error.hpp"
#include "iotmp_gateway/iotmp/message.hpp"

namespace iotgw::iotmp {

class frame_decoder {
 public:
  enum class status : std::uint8_t { frame, need_more, error };

  explicit frame_decoder(std::size_t max_body = max_body_size) : max_body_(max_body) {}

  // Space to read into (at least min_size bytes), then commit what was written.
  // Both invalidate views handed out by next().
  std::span<std::uint8_t> prepare(std::size_t min_size);
  void commit(std::size_t n) noexcept { end_ += n; }
  void feed(byte_view data);

  // The next whole frame, need_more, or error (sticky: the stream cannot be
  // resynchronised, the connection must be dropped).
  status next(message_view& out);
  codec_error error() const noexcept { return error_; }

  std::size_t buffered() const noexcept { return end_ - begin_; }
  void reset() noexcept;

 private:
  byte_buffer buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t max_body_;
  codec_error error_ = codec_error::none;
};

}  // namespace iotgw::iotmp
