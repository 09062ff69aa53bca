#include "iotmp_gateway/iotmp/message.hpp"
#include "iotmp_gateway/pson/codec.hpp"

namespace iotgw::iotmp {

namespace {
constexpr unsigned wire_varint = 0;
constexpr unsigned wire_pson = 2;
}  // namespace

frame_writer::frame_writer(byte_buffer& out, message_type type) : out_(out), start_(out.size()) {
  out_.push_back(static_cast<std::uint8_t>(type));
  out_.push_back(0);  // size; widened in finish() when the body needs more bytes
}

void frame_writer::key(field f, unsigned wire) {
  write_varint((static_cast<std::uint64_t>(f) << 3) | wire, out_);
}

frame_writer& frame_writer::varint(field f, std::uint32_t n) {
  key(f, wire_varint);
  write_varint(n, out_);
  return *this;
}

frame_writer& frame_writer::pson(field f, byte_view encoded) {
  key(f, wire_pson);
  out_.insert(out_.end(), encoded.begin(), encoded.end());
  return *this;
}

frame_writer& frame_writer::value(field f, const pson::value& v) {
  // The reference encoders put JSON integers in varint fields; we do so only
  // where a varint field can hold them (decoders take at most 32 bits).
  if (std::uint64_t n = 0; v.is_integer() && v.get_unsigned(n) && n <= 0xffffffffu) {
    return varint(f, static_cast<std::uint32_t>(n));
  }
  key(f, wire_pson);
  pson::encode(v, out_);
  return *this;
}

frame_writer& frame_writer::string(field f, std::string_view s) {
  key(f, wire_pson);
  pson::encode_string(s, out_);
  return *this;
}

byte_buffer& frame_writer::pson_field(field f) {
  key(f, wire_pson);
  return out_;
}

codec_error frame_writer::finish() {
  const std::size_t body = out_.size() - start_ - 2;
  if (body > max_body_size) {
    out_.resize(start_);
    return codec_error::frame_too_large;
  }
  const std::size_t width = varint_size(body);
  const std::size_t size_at = start_ + 1;
  if (width > 1) out_.insert(out_.begin() + static_cast<std::ptrdiff_t>(size_at) + 1, width - 1, 0);
  std::uint64_t n = body;
  for (std::size_t i = 0; i < width; ++i) {
    out_[size_at + i] = static_cast<std::uint8_t>((n & 0x7f) | (i + 1 < width ? 0x80 : 0));
    n >>= 7;
  }
  return codec_error::none;
}

codec_error encode(const message& m, byte_buffer& out) {
  frame_writer w(out, m.type);
  // Ascending field ids: the canonical order of the golden vectors.
  if (m.stream_id) w.varint(field::stream_id, *m.stream_id);
  if (m.parameters) w.value(field::parameters, *m.parameters);
  if (m.payload) w.value(field::payload, *m.payload);
  if (m.resource) w.value(field::resource, *m.resource);
  return w.finish();
}

byte_buffer encode(const message& m) {
  byte_buffer out;
  encode(m, out);
  return out;
}

codec_error encode_stream_data(std::uint16_t stream_id, byte_view pson_payload, byte_buffer& out) {
  return frame_writer(out, message_type::stream_data)
      .varint(field::stream_id, stream_id)
      .pson(field::payload, pson_payload)
      .finish();
}

}  // namespace iotgw::iotmp
