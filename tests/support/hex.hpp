// Hex text <-> bytes for tests.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace test_support {

inline std::vector<std::uint8_t> from_hex(std::string_view hex) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::invalid_argument("not a hex digit");
  };
  std::vector<std::uint8_t> out;
  std::string compact;
  for (char c : hex) {
    if (c != ' ') compact.push_back(c);
  }
  if (compact.size() % 2 != 0) throw std::invalid_argument("odd hex length");
  for (std::size_t i = 0; i < compact.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(digit(compact[i]) * 16 + digit(compact[i + 1])));
  }
  return out;
}

// Bytes written as numbers, e.g. bytes({0x20, 3, 0, 'a'}) for a packet in a test.
inline std::vector<std::uint8_t> bytes(std::initializer_list<int> list) {
  std::vector<std::uint8_t> out;
  for (int v : list) out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

inline std::string to_hex(const std::vector<std::uint8_t>& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xf]);
  }
  return out;
}

}  // namespace test_support
