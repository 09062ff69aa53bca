// Counts IOTMP frames by type as bytes pass, from their headers alone (type and
// size varints, then the body is skipped), so that the counters cost no
// decoding. Input that is not IOTMP makes it stop counting; the session drops
// such a connection anyway.
#pragma once

#include <cstdint>

#include "iotmp_gateway/varint.hpp"

namespace iotgw::devserver {

class frame_meter {
 public:
  // Calls on_frame(type) for each frame whose last byte is in data.
  template <class F>
  void feed(byte_view data, F&& on_frame) {
    std::size_t i = 0;
    while (i < data.size() && !broken_) {
      if (phase_ == phase::body) {
        const std::uint64_t take =
            remaining_ < data.size() - i ? remaining_ : static_cast<std::uint64_t>(data.size() - i);
        i += static_cast<std::size_t>(take);
        remaining_ -= take;
        if (remaining_ == 0) {
          phase_ = phase::type;
          on_frame(type_);
        }
        continue;
      }
      const std::uint8_t b = data[i++];
      acc_ |= static_cast<std::uint64_t>(b & 0x7f) << shift_;
      shift_ += 7;
      if (b & 0x80) {
        if (shift_ >= 35) broken_ = true;  // longer than a 32-bit varint
        continue;
      }
      const std::uint64_t n = acc_;
      acc_ = 0;
      shift_ = 0;
      if (phase_ == phase::type) {
        type_ = static_cast<std::uint32_t>(n);
        phase_ = phase::size;
      } else if (n == 0) {
        phase_ = phase::type;
        on_frame(type_);
      } else {
        remaining_ = n;
        phase_ = phase::body;
      }
    }
  }

 private:
  enum class phase : std::uint8_t { type, size, body };
  phase phase_ = phase::type;
  std::uint64_t acc_ = 0;
  unsigned shift_ = 0;
  std::uint32_t type_ = 0;
  std::uint64_t remaining_ = 0;
  bool broken_ = false;
};

}  // namespace iotgw::devserver
