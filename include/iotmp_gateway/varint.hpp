// Unsigned LEB128 varints as IOTMP uses them: frame header sizes, field keys and
// field values (at most 5 bytes / 32 bits) and PSON numbers (10 bytes / 64 bits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "iotmp_gateway/codec_error.hpp"

namespace iotgw {

using byte_buffer = std::vector<std::uint8_t>;
using byte_view = std::span<const std::uint8_t>;

struct varint_limits {
  unsigned max_bytes;
  unsigned value_bits;
};
inline constexpr varint_limits varint32{5, 32};
inline constexpr varint_limits varint64{10, 64};

// Reads a varint at in[pos]; on success advances pos. On error pos is unchanged.
// truncated means the input ended inside the varint (more bytes may complete it).
codec_error read_varint(byte_view in, std::size_t& pos, std::uint64_t& value,
                        varint_limits limits) noexcept;

// Appends the minimal encoding of value.
void write_varint(std::uint64_t value, byte_buffer& out);

constexpr std::size_t varint_size(std::uint64_t value) noexcept {
  std::size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

}  // namespace iotgw
