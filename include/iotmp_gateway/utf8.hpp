// UTF-8 well-formedness (no overlong forms, no surrogates, at most U+10FFFF):
// MQTT requires it of topics, JSON output must not carry broken sequences.
#pragma once

#include <cstddef>
#include <string_view>

namespace iotgw {

// Length of the well-formed sequence starting at s[i] (1 for ASCII), or 0.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept;

bool valid_utf8(std::string_view s) noexcept;

}  // namespace iotgw
