#include "iotmp_gateway/iotmp/frame_decoder.hpp"

#include <cstring>

namespace iotgw::iotmp {

namespace {
// IOTMP-Linux reads at most 4 bytes of body-size varint; a 5th is "Varint too large".
constexpr varint_limits size_varint{4, 28};
}  // namespace

std::span<std::uint8_t> frame_decoder::prepare(std::size_t min_size) {
  if (buffer_.size() - end_ < min_size && begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() - end_ < min_size) buffer_.resize(end_ + min_size);
  return {buffer_.data() + end_, buffer_.size() - end_};
}

void frame_decoder::feed(byte_view data) {
  if (data.empty()) return;
  auto space = prepare(data.size());
  std::memcpy(space.data(), data.data(), data.size());
  commit(data.size());
}

frame_decoder::status frame_decoder::next(message_view& out) {
  if (error_ != codec_error::none) return status::error;
  const byte_view in(buffer_.data() + begin_, end_ - begin_);
  if (in.empty()) return status::need_more;
  const std::uint8_t type = in[0];
  if (type >= 0x80) {
    // A multi-byte type would desynchronise IOTMP-Linux; no defined type needs it.
    error_ = codec_error::invalid_message_type;
    return status::error;
  }
  std::size_t pos = 1;
  std::uint64_t size = 0;
  if (auto e = read_varint(in, pos, size, size_varint); e != codec_error::none) {
    if (e == codec_error::truncated) return status::need_more;
    error_ = e;
    return status::error;
  }
  if (size > max_body_) {
    error_ = codec_error::frame_too_large;
    return status::error;
  }
  if (in.size() - pos < size) return status::need_more;
  const byte_view body = in.subspan(pos, static_cast<std::size_t>(size));
  message_view view;
  if (is_known(static_cast<message_type>(type))) {
    if (auto e = decode_body(type, body, view); e != codec_error::none) {
      error_ = e;
      return status::error;
    }
  } else {
    // Unknown types (0 included) are skipped by their declared size: a newer
    // server may use fields we cannot parse.
    view.type = type;
    view.body = body;
  }
  begin_ += pos + body.size();
  if (begin_ == end_) begin_ = end_ = 0;
  out = view;
  return status::frame;
}

void frame_decoder::reset() noexcept {
  begin_ = end_ = 0;
  error_ = codec_error::none;
}

}  // namespace iotgw::iotmp
