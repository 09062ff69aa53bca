#include "iotmp_gateway/varint.hpp"

namespace iotgw {

codec_error read_varint(byte_view in, std::size_t& pos, std::uint64_t& value,
                        varint_limits limits) noexcept {
  std::uint64_t result = 0;
  std::size_t p = pos;
  for (unsigned i = 0; i < limits.max_bytes; ++i) {
    if (p >= in.size()) return codec_error::truncated;
    const std::uint8_t byte = in[p++];
    // A continuation bit on the last allowed byte says the varint is longer than allowed.
    if (i + 1 == limits.max_bytes && (byte & 0x80) != 0) return codec_error::varint_too_long;
    const unsigned shift = 7 * i;
    const std::uint64_t group = byte & 0x7f;
    // Bits of this group that land at or above value_bits make the value too wide.
    if (shift + 7 > limits.value_bits && (group >> (limits.value_bits - shift)) != 0) {
      return codec_error::varint_overflow;
    }
    result |= group << shift;
    if ((byte & 0x80) == 0) {
      value = result;
      pos = p;
      return codec_error::none;
    }
  }
  return codec_error::varint_too_long;  // unreachable: the last byte returned above
}

void write_varint(std::uint64_t value, byte_buffer& out) {
  while (value >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(value));
}

}  // namespace iotgw
