// IOTMP messages (PROTOCOL.md §2-§4): a type and up to four fields. Field values
// are PSON values; the wire type (varint or PSON) is the encoder's choice.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "iotmp_gateway/codec_error.hpp"
#include "iotmp_gateway/pson/value.hpp"
#include "iotmp_gateway/varint.hpp"

namespace iotgw::iotmp {

enum class message_type : std::uint8_t {
  reserved = 0x00,
  ok = 0x01,
  error = 0x02,
  connect = 0x03,
  disconnect = 0x04,
  keep_alive = 0x05,
  run = 0x06,
  describe = 0x07,
  start_stream = 0x08,
  stop_stream = 0x09,
  stream_data = 0x0a,
};

// True for the types of the current numbering other than RESERVED.
constexpr bool is_known(message_type t) noexcept {
  return t >= message_type::ok && t <= message_type::stream_data;
}
std::string_view to_string(message_type t) noexcept;

enum class field : std::uint8_t {
  stream_id = 1,
  parameters = 2,
  payload = 3,
  resource = 4,
};

// Largest body a peer may send us (and that we send): IOTMP-Linux's limit.
inline constexpr std::size_t max_body_size = 256 * 1024;

// Server resource codes used in RESOURCE of device->server RUN/START_STREAM (§9.2).
enum class server_resource : std::uint8_t {
  read_device_property = 1,
  set_device_property = 2,
  call_device = 3,
  call_endpoint = 4,
  write_bucket = 5,
  lock_sync = 6,
  unlock_sync = 7,
  subscribe_event = 8,
};

// A field of a decoded frame, pointing into the decoder's buffer (no copy).
struct field_view {
  enum class wire : std::uint8_t { absent, varint, pson };
  wire kind = wire::absent;
  std::uint32_t number = 0;  // the value when kind == varint
  byte_view pson;            // the validated PSON bytes when kind == pson

  bool present() const noexcept { return kind != wire::absent; }
  // The value whatever the wire type (a varint becomes an unsigned integer).
  pson::value to_value() const;
  // An unsigned integer sent either way.
  std::optional<std::uint64_t> as_unsigned() const noexcept;
  // A PSON string, without copying.
  std::optional<std::string_view> as_string() const noexcept;
};

// A decoded frame whose fields still point into the decoder's buffer. Valid until
// the decoder is fed again. Frames of unknown type carry only their raw body.
struct message_view {
  std::uint8_t type = 0;
  std::optional<std::uint16_t> stream_id;
  field_view parameters;
  field_view payload;
  field_view resource;
  byte_view body;

  message_type known_type() const noexcept { return static_cast<message_type>(type); }
};

// An owned message, for building frames and for tests.
struct message {
  message_type type = message_type::reserved;
  std::optional<std::uint16_t> stream_id;
  std::optional<pson::value> parameters;
  std::optional<pson::value> payload;
  std::optional<pson::value> resource;

  static message from_view(const message_view& v);
  // One line for logs and test output: RUN sid=4660 resource="led" payload={...}
  std::string describe() const;
  friend bool operator==(const message&, const message&) = default;
};

// Decodes the fields of a body of a known type. Fields may come in any order;
// a repeated field keeps its last value; unknown field ids are skipped.
codec_error decode_body(std::uint8_t type, byte_view body, message_view& out);

// Appends a complete frame. Integer field values 0..2^32-1 go out as varints,
// everything else as PSON (negative integers included: a varint cannot hold them).
// Returns frame_too_large, leaving out unchanged, when the body exceeds the limit.
codec_error encode(const message& m, byte_buffer& out);
byte_buffer encode(const message& m);

// Builds a frame field by field into a caller-owned buffer; the hot paths use it
// to send pre-encoded PSON without building values.
class frame_writer {
 public:
  frame_writer(byte_buffer& out, message_type type);
  frame_writer& varint(field f, std::uint32_t n);
  frame_writer& pson(field f, byte_view encoded);
  frame_writer& value(field f, const pson::value& v);
  frame_writer& string(field f, std::string_view s);
  // Writes the key of a PSON field and returns the buffer to append its value to.
  byte_buffer& pson_field(field f);
  // Writes the header; on frame_too_large the buffer is restored.
  codec_error finish();

 private:
  void key(field f, unsigned wire);
  byte_buffer& out_;
  std::size_t start_;
};

// STREAM_DATA {1: sid, 3: payload} from already encoded PSON.
codec_error encode_stream_data(std::uint16_t stream_id, byte_view pson_payload, byte_buffer& out);

}  // namespace iotgw::iotmp
