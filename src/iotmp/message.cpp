#include "iotmp_gateway/iotmp/message.hpp"

#include "iotmp_gateway/pson/codec.hpp"
#include "iotmp_gateway/pson/json.hpp"

namespace iotgw::iotmp {

std::string_view to_string(message_type t) noexcept {
  switch (t) {
    case message_type::reserved: return "RESERVED";
    case message_type::ok: return "OK";
    case message_type::error: return "ERROR";
    case message_type::connect: return "CONNECT";
    case message_type::disconnect: return "DISCONNECT";
    case message_type::keep_alive: return "KEEP_ALIVE";
    case message_type::run: return "RUN";
    case message_type::describe: return "DESCRIBE";
    case message_type::start_stream: return "START_STREAM";
    case message_type::stop_stream: return "STOP_STREAM";
    case message_type::stream_data: return "STREAM_DATA";
  }
  return "UNKNOWN";
}

pson::value field_view::to_value() const {
  switch (kind) {
    case wire::absent: return {};
    case wire::varint: return pson::value(number);
    case wire::pson: {
      pson::value v;
      pson::decode(pson, v);  // validated when the frame was decoded
      return v;
    }
  }
  return {};
}

std::optional<std::uint64_t> field_view::as_unsigned() const noexcept {
  if (kind == wire::varint) return number;
  if (kind == wire::pson) return pson::read_unsigned(pson);
  return std::nullopt;
}

std::optional<std::string_view> field_view::as_string() const noexcept {
  if (kind == wire::pson) return pson::read_string(pson);
  return std::nullopt;
}

message message::from_view(const message_view& v) {
  message m;
  m.type = v.known_type();
  m.stream_id = v.stream_id;
  if (v.parameters.present()) m.parameters = v.parameters.to_value();
  if (v.payload.present()) m.payload = v.payload.to_value();
  if (v.resource.present()) m.resource = v.resource.to_value();
  return m;
}

std::string message::describe() const {
  std::string out(to_string(type));
  // Appended piece by piece: GCC 12 at -O3 warns falsely (-Wrestrict) on a + b + c.
  if (!is_known(type)) {
    out += '(';
    out += std::to_string(static_cast<unsigned>(type));
    out += ')';
  }
  if (stream_id) {
    out += " sid=";
    out += std::to_string(*stream_id);
  }
  for (const auto& [name, f] : {std::pair{" resource=", &resource}, std::pair{" params=", &parameters},
                                std::pair{" payload=", &payload}}) {
    if (!*f) continue;
    out += name;
    pson::append_json(**f, out);
  }
  return out;
}

codec_error decode_body(std::uint8_t type, byte_view body, message_view& out) {
  message_view result;
  result.type = type;
  result.body = body;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::uint64_t key = 0;
    if (auto e = read_varint(body, pos, key, varint32); e != codec_error::none) return e;
    const auto id = key >> 3;
    field_view f;
    switch (key & 7) {
      case 0: {
        std::uint64_t n = 0;
        if (auto e = read_varint(body, pos, n, varint32); e != codec_error::none) return e;
        f.kind = field_view::wire::varint;
        f.number = static_cast<std::uint32_t>(n);
        break;
      }
      case 1: return codec_error::legacy_wire_type;
      case 2: {
        const byte_view rest = body.subspan(pos);
        auto r = pson::validate(rest);
        if (!r) return r.error;
        f.kind = field_view::wire::pson;
        f.pson = rest.first(r.consumed);
        pos += r.consumed;
        break;
      }
      default: return codec_error::invalid_wire_type;
    }
    switch (id) {
      case static_cast<unsigned>(field::stream_id): {
        const auto sid = f.as_unsigned();
        if (!sid || *sid > 0xffff) return codec_error::invalid_stream_id;
        result.stream_id = static_cast<std::uint16_t>(*sid);
        break;
      }
      case static_cast<unsigned>(field::parameters): result.parameters = f; break;
      case static_cast<unsigned>(field::payload): result.payload = f; break;
      case static_cast<unsigned>(field::resource): result.resource = f; break;
      default: break;  // unknown field ids are ignored, as the reference decoders do
    }
  }
  out = result;
  return codec_error::none;
}

}  // namespace iotgw::iotmp
