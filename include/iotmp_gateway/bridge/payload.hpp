// MQTT payloads <-> PSON, per the `format` of a resource or stream (SPEC §4, §5).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "iotmp_gateway/config/config.hpp"
#include "iotmp_gateway/pson/value.hpp"
#include "iotmp_gateway/varint.hpp"

namespace iotgw::bridge {

using config::payload_format;

// Local -> cloud. Appends the PSON encoding of an MQTT payload to out; false
// (out untouched) when the payload is not of the format (invalid JSON for json,
// not a JSON number for number). auto: JSON if it parses, else the text.
bool mqtt_to_pson(std::string_view payload, payload_format format, byte_buffer& out);

// The same as a value (for tests and for callers that need the value).
std::optional<pson::value> mqtt_to_value(std::string_view payload, payload_format format);

// Cloud input for a write -> MQTT payload. nullopt with *error set when the value
// is refused (format number and the value is not a number).
//   number: PSON numbers only, as JSON text; string: strings raw, others compact JSON;
//   json/bytes: bytes raw, others compact JSON; auto: like json but strings raw.
std::optional<std::string> value_to_mqtt(const pson::value& v, payload_format format,
                                         std::string* error);

// Cloud -> local publish on subscribe streams: strings raw, bytes raw, the rest compact JSON.
std::string cloud_value_to_mqtt(const pson::value& v);

std::string_view to_string(payload_format f) noexcept;

}  // namespace iotgw::bridge
