// Errors of the PSON and IOTMP decoders. One enum for both layers so that a
// frame rejected because of its PSON payload reports the precise cause.
#pragma once

#include <cstdint>
#include <string_view>

namespace iotgw {

enum class codec_error : std::uint8_t {
  none = 0,
  truncated,              // a value, field or varint ends before its declared end
  varint_too_long,        // more varint bytes than the field allows
  varint_overflow,        // varint value does not fit the field's width
  frame_too_large,        // declared body size over the limit (256 KiB by default)
  invalid_message_type,   // first header byte >= 0x80: the type would be a multi-byte varint
  invalid_wire_type,      // field wire type 3..7
  legacy_wire_type,       // field wire type 1 (pre-2026 Protoson PSON), not supported
  invalid_stream_id,      // stream id over 0xffff or not an unsigned integer
  invalid_discrete,       // PSON discrete value other than false/true/null
  invalid_float_subtype,  // PSON floating tag other than float32/float64
  non_string_key,         // PSON map key that is not a string
  nesting_too_deep,       // containers nested deeper than the fixed bound
  length_too_large,       // PSON string/bytes length over 2^32-1
  integer_overflow,       // PSON negative integer with magnitude over 2^63
  trailing_bytes,         // bytes left after a complete value where none may follow
  invalid_json,           // JSON text did not parse
};

std::string_view to_string(codec_error e) noexcept;

// Containers may nest this deep in PSON and in JSON we convert; deeper input is
// rejected so that neither decoding nor destroying a value can exhaust the stack.
inline constexpr unsigned max_nesting_depth = 64;

}  // namespace iotgw
