// PSON v2 tag layout shared by the encoder and decoder (PROTOCOL.md §5).
#pragma once

#include <cstdint>

namespace iotgw::pson {

enum class major : std::uint8_t {
  unsigned_integer = 0,
  negative_integer = 1,
  floating = 2,
  discrete = 3,
  string = 4,
  bytes = 5,
  map = 6,
  array = 7,
};

// n values 0..30 sit in the tag; 31 means "a varint with the full number follows".
inline constexpr std::uint8_t inline_escape = 31;

inline constexpr std::uint8_t tag_float32 = 0x40;
inline constexpr std::uint8_t tag_float64 = 0x41;
inline constexpr std::uint8_t tag_false = 0x60;
inline constexpr std::uint8_t tag_true = 0x61;
inline constexpr std::uint8_t tag_null = 0x62;

}  // namespace iotgw::pson
