// PSON v2 binary encoding (PROTOCOL.md §5), byte-exact with the reference encoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "iotmp_gateway/codec_error.hpp"
#include "iotmp_gateway/pson/value.hpp"
#include "iotmp_gateway/varint.hpp"

namespace iotgw::pson {

// Appends the encoding of v. Numbers follow the reference encoder's choices:
// whole doubles as integers, doubles exact in float32 as float32, else float64.
void encode(const value& v, byte_buffer& out);
byte_buffer encode(const value& v);

// Appends a PSON string without building a value.
void encode_string(std::string_view s, byte_buffer& out);

struct decode_result {
  codec_error error = codec_error::none;
  std::size_t consumed = 0;  // bytes of the value on success
  explicit operator bool() const noexcept { return error == codec_error::none; }
};

// Decodes one value from the front of in. Never allocates more than the input
// can justify: counts and lengths are checked against the remaining bytes first.
decode_result decode(byte_view in, value& out);

// Decodes exactly one value that must span all of in.
decode_result decode_all(byte_view in, value& out);

// Checks one value at the front of in without building it (no allocation).
decode_result validate(byte_view in);

// Zero-copy readers for a validated value at the front of in.
std::optional<std::string_view> read_string(byte_view in) noexcept;
std::optional<std::uint64_t> read_unsigned(byte_view in) noexcept;

}  // namespace iotgw::pson
