#include "iotmp_gateway/codec_error.hpp"

namespace iotgw {

std::string_view to_string(codec_error e) noexcept {
  switch (e) {
    case codec_error::none: return "no error";
    case codec_error::truncated: return "truncated input";
    case codec_error::varint_too_long: return "varint too long";
    case codec_error::varint_overflow: return "varint value out of range";
    case codec_error::frame_too_large: return "frame larger than the size limit";
    case codec_error::invalid_message_type: return "invalid message type byte";
    case codec_error::invalid_wire_type: return "invalid field wire type";
    case codec_error::legacy_wire_type: return "legacy PSON field (wire type 1) not supported";
    case codec_error::invalid_stream_id: return "invalid stream id";
    case codec_error::invalid_discrete: return "invalid PSON discrete value";
    case codec_error::invalid_float_subtype: return "invalid PSON floating subtype";
    case codec_error::non_string_key: return "PSON map key is not a string";
    case codec_error::nesting_too_deep: return "nesting too deep";
    case codec_error::length_too_large: return "PSON length too large";
    case codec_error::integer_overflow: return "PSON integer out of range";
    case codec_error::trailing_bytes: return "unexpected bytes after value";
    case codec_error::invalid_json: return "invalid JSON";
  }
  return "unknown error";
}

}  // namespace iotgw
