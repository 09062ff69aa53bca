#include "iotmp_gateway/bridge/payload.hpp"

#include "iotmp_gateway/pson/codec.hpp"
#include "iotmp_gateway/pson/json.hpp"

namespace iotgw::bridge {

std::optional<pson::value> mqtt_to_value(std::string_view payload, payload_format format) {
  switch (format) {
    case payload_format::string: return pson::value(payload);
    case payload_format::bytes:
      return pson::value(pson::as_bytes, pson::bytes(payload.begin(), payload.end()));
    case payload_format::json:
    case payload_format::number:
    case payload_format::auto_detect: {
      pson::value v;
      if (pson::parse_json(payload, v)) {
        if (format == payload_format::auto_detect) return pson::value(payload);
        return std::nullopt;
      }
      if (format == payload_format::number && !v.is_number()) return std::nullopt;
      return v;
    }
  }
  return std::nullopt;
}

bool mqtt_to_pson(std::string_view payload, payload_format format, byte_buffer& out) {
  // Text and bytes go straight to the wire form without building a value.
  if (format == payload_format::string) {
    pson::encode_string(payload, out);
    return true;
  }
  if (format == payload_format::bytes) {
    pson::encode(pson::value(pson::as_bytes, pson::bytes(payload.begin(), payload.end())), out);
    return true;
  }
  auto v = mqtt_to_value(payload, format);
  if (!v) return false;
  pson::encode(*v, out);
  return true;
}

std::optional<std::string> value_to_mqtt(const pson::value& v, payload_format format,
                                         std::string* error) {
  if (v.is_bytes()) {
    if (format == payload_format::number) {
      if (error) *error = "input is not a number";
      return std::nullopt;
    }
    const auto& b = v.as_bytes();
    return std::string(b.begin(), b.end());
  }
  switch (format) {
    case payload_format::number:
      if (!v.is_number()) {
        if (error) *error = "input is not a number";
        return std::nullopt;
      }
      return pson::to_json(v);
    case payload_format::string:
    case payload_format::auto_detect:
      if (v.is_string()) return v.as_string();
      return pson::to_json(v);
    case payload_format::json:
    case payload_format::bytes: return pson::to_json(v);
  }
  return std::nullopt;
}

std::string cloud_value_to_mqtt(const pson::value& v) {
  if (v.is_string()) return v.as_string();
  if (v.is_bytes()) return std::string(v.as_bytes().begin(), v.as_bytes().end());
  return pson::to_json(v);
}

std::string_view to_string(payload_format f) noexcept {
  switch (f) {
    case payload_format::auto_detect: return "auto";
    case payload_format::json: return "json";
    case payload_format::string: return "string";
    case payload_format::number: return "number";
    case payload_format::bytes: return "bytes";
  }
  return "auto";
}

}  // namespace iotgw::bridge
