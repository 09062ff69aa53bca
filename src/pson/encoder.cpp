#include <bit>
#include <cmath>
#include <cstring>

#include "iotmp_gateway/pson/codec.hpp"
#include "pson/tags.hpp"

namespace iotgw::pson {

namespace {

void write_tag(major m, std::uint64_t n, byte_buffer& out) {
  const auto high = static_cast<std::uint8_t>(static_cast<unsigned>(m) << 5);
  if (n < inline_escape) {
    out.push_back(static_cast<std::uint8_t>(high | n));
  } else {
    out.push_back(static_cast<std::uint8_t>(high | inline_escape));
    write_varint(n, out);
  }
}

void write_signed(std::int64_t n, byte_buffer& out) {
  if (n >= 0) {
    write_tag(major::unsigned_integer, static_cast<std::uint64_t>(n), out);
  } else {
    // Magnitude computed in unsigned arithmetic so INT64_MIN does not overflow.
    write_tag(major::negative_integer, 0 - static_cast<std::uint64_t>(n), out);
  }
}

template <typename T>
void write_le(T bits, byte_buffer& out) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
  }
}

void write_double(double d, byte_buffer& out) {
  // Reference rule (PROTOCOL.md §5.1): a double that survives a round trip through
  // int64 is an integer; one exact in float32 is a float32; the rest float64.
  // NaN and infinities take the float64 path.
  if (std::isfinite(d)) {
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && std::trunc(d) == d) {
      write_signed(static_cast<std::int64_t>(d), out);
      return;
    }
    const auto f = static_cast<float>(d);
    if (static_cast<double>(f) == d) {
      out.push_back(tag_float32);
      write_le(std::bit_cast<std::uint32_t>(f), out);
      return;
    }
  }
  out.push_back(tag_float64);
  write_le(std::bit_cast<std::uint64_t>(d), out);
}

}  // namespace

void encode_string(std::string_view s, byte_buffer& out) {
  write_tag(major::string, s.size(), out);
  out.insert(out.end(), s.begin(), s.end());
}

void encode(const value& v, byte_buffer& out) {
  switch (v.type()) {
    case kind::null: out.push_back(tag_null); break;
    case kind::boolean: out.push_back(v.as_bool() ? tag_true : tag_false); break;
    case kind::unsigned_integer: write_tag(major::unsigned_integer, v.as_unsigned(), out); break;
    case kind::signed_integer: write_signed(v.as_signed(), out); break;
    case kind::floating: write_double(v.as_double(), out); break;
    case kind::string: encode_string(v.as_string(), out); break;
    case kind::bytes: {
      const auto& b = v.as_bytes();
      write_tag(major::bytes, b.size(), out);
      out.insert(out.end(), b.begin(), b.end());
      break;
    }
    case kind::array: {
      const auto& a = v.as_array();
      write_tag(major::array, a.size(), out);
      for (const auto& element : a) encode(element, out);
      break;
    }
    case kind::object: {
      const auto& o = v.as_object();
      write_tag(major::map, o.size(), out);
      for (const auto& [key, member] : o) {
        encode_string(key, out);
        encode(member, out);
      }
      break;
    }
  }
}

byte_buffer encode(const value& v) {
  byte_buffer out;
  encode(v, out);
  return out;
}

}  // namespace iotgw::pson
