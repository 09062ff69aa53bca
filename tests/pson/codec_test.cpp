#include "iotmp_gateway/pson/codec.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/hex.hpp"
#include "support/print.hpp"

using namespace iotgw::pson;
using iotgw::byte_buffer;
using iotgw::codec_error;
using test_support::from_hex;
using test_support::to_hex;

namespace {

std::string hex_of(const value& v) { return to_hex(encode(v)); }

codec_error decode_error(std::string_view hex) {
  const auto bytes = from_hex(hex);
  value v;
  return decode(bytes, v).error;
}

TEST(pson_codec, doubles_follow_the_reference_encoder) {
  EXPECT_EQ(hex_of(3.0), "03");
  EXPECT_EQ(hex_of(-7.0), "27");
  EXPECT_EQ(hex_of(-0.0), "00");
  EXPECT_EQ(hex_of(1e10), "1f80c8afa025");
  EXPECT_EQ(hex_of(22.5), "400000b441");
  EXPECT_EQ(hex_of(0.1), "419a9999999999b93f");
  // 2^63 does not survive int64, but is exact in float32.
  EXPECT_EQ(hex_of(9223372036854775808.0), "400000005f");
  EXPECT_EQ(encode(std::numeric_limits<double>::infinity()).front(), 0x41);
  EXPECT_EQ(encode(std::nan("")).front(), 0x41);
}

TEST(pson_codec, integers_use_the_whole_64_bit_range) {
  EXPECT_EQ(hex_of(value(std::int64_t{5})), "05");
  EXPECT_EQ(hex_of(value(INT64_MIN)), "3f80808080808080808001");
  EXPECT_EQ(hex_of(value(UINT64_MAX)), "1fffffffffffffffffff01");
  value v;
  ASSERT_TRUE(decode(from_hex("3f80808080808080808001"), v));
  EXPECT_EQ(v.as_signed(), INT64_MIN);
  EXPECT_EQ(decode_error("3f81808080808080808001"), codec_error::integer_overflow);
  ASSERT_TRUE(decode(from_hex("20"), v)) << "magnitude 0 is read as 0";
  EXPECT_EQ(v, value(0));
}

TEST(pson_codec, round_trips_nested_values) {
  const value v(object{
      {"bytes", value(as_bytes, {0, 1, 255})},
      {"list", array{1, -2, 3.25, "x", nullptr, false, array{}, object{}}},
      {"nested", object{{"deeper", object{{"k", "v"}}}}},
  });
  const auto bytes = encode(v);
  value back;
  auto r = decode_all(bytes, back);
  ASSERT_TRUE(r) << to_string(r.error);
  EXPECT_EQ(r.consumed, bytes.size());
  EXPECT_EQ(back, v);
  EXPECT_EQ(encode(back), bytes);
}

TEST(pson_codec, decode_all_rejects_trailing_bytes) {
  value v = "untouched";
  EXPECT_EQ(decode_all(from_hex("0102"), v).error, codec_error::trailing_bytes);
  EXPECT_EQ(v, value("untouched"));
}

TEST(pson_codec, each_malformation_has_its_own_error) {
  EXPECT_EQ(decode_error(""), codec_error::truncated);
  EXPECT_EQ(decode_error("856865"), codec_error::truncated);
  EXPECT_EQ(decode_error("63"), codec_error::invalid_discrete);
  EXPECT_EQ(decode_error("42"), codec_error::invalid_float_subtype);
  EXPECT_EQ(decode_error("c10101"), codec_error::non_string_key);
  EXPECT_EQ(decode_error("c281"), codec_error::truncated);
  EXPECT_EQ(decode_error("400000"), codec_error::truncated);
  EXPECT_EQ(decode_error("1f80"), codec_error::truncated);
  EXPECT_EQ(decode_error("1fffffffffffffffffff8001"), codec_error::varint_too_long);
  // A string of 2^32 bytes is refused for its length before anything is read.
  EXPECT_EQ(decode_error("9f8080808010"), codec_error::length_too_large);
  // Counts that the remaining bytes cannot hold are refused before allocating.
  EXPECT_EQ(decode_error("ff ffffffffffffffff7f"), codec_error::truncated);
  EXPECT_EQ(decode_error("df ffffffff0f 8161 01"), codec_error::truncated);
}

TEST(pson_codec, nesting_is_bounded) {
  byte_buffer ok(iotgw::max_nesting_depth, 0xe1);
  ok.push_back(0x00);
  value v;
  EXPECT_TRUE(decode(ok, v));
  byte_buffer deep(iotgw::max_nesting_depth + 1, 0xe1);
  deep.push_back(0x00);
  EXPECT_EQ(decode(deep, v).error, codec_error::nesting_too_deep);
  EXPECT_EQ(validate(deep).error, codec_error::nesting_too_deep);
  // Deep input is refused even when it is long: no recursion past the bound.
  byte_buffer very_deep(100000, 0xe1);
  EXPECT_EQ(validate(very_deep).error, codec_error::nesting_too_deep);
}

TEST(pson_codec, validate_agrees_with_decode) {
  for (const char* hex : {"00", "c38464617461c0846c697374e0816b62", "a4010203ff", "e3 01 02"}) {
    const auto bytes = from_hex(hex);
    value v;
    const auto d = decode(bytes, v);
    const auto c = validate(bytes);
    EXPECT_EQ(d.error, c.error) << hex;
    EXPECT_EQ(d.consumed, c.consumed) << hex;
  }
}

TEST(pson_codec, zero_copy_readers) {
  EXPECT_EQ(read_string(from_hex("836c6564")), "led");
  EXPECT_FALSE(read_string(from_hex("05")));
  EXPECT_FALSE(read_string(from_hex("856c")));
  EXPECT_EQ(read_unsigned(from_hex("1f8827")), 5000u);
  EXPECT_FALSE(read_unsigned(from_hex("25")));
}

}  // namespace
