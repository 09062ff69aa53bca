// JSON text <-> PSON values. Parsing uses nlohmann::json's SAX parser, so numbers
// get the same integer/unsigned/float classification as the reference encoder
// (which stores JSON in nlohmann::json), and no intermediate JSON document is built.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "iotmp_gateway/pson/value.hpp"

namespace iotgw::pson {

struct json_error {
  std::size_t offset = 0;  // byte offset in the text where parsing stopped
  std::string message;
};

// Parses exactly one JSON value (surrounding white space allowed). Nesting deeper
// than max_nesting_depth is an error. out is untouched on error.
std::optional<json_error> parse_json(std::string_view text, value& out);

// Compact JSON. Bytes become a base64 string, strings with invalid UTF-8 get
// U+FFFD for each bad sequence, NaN and infinities become null (JSON has none).
std::string to_json(const value& v);
void append_json(const value& v, std::string& out);

}  // namespace iotgw::pson
