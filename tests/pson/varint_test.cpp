#include "iotmp_gateway/varint.hpp"

#include <gtest/gtest.h>

#include "support/hex.hpp"

using iotgw::codec_error;
using test_support::from_hex;

namespace {

codec_error read(std::string_view hex, std::uint64_t& value, iotgw::varint_limits limits,
                 std::size_t* consumed = nullptr) {
  const auto bytes = from_hex(hex);
  std::size_t pos = 0;
  auto e = iotgw::read_varint(bytes, pos, value, limits);
  if (consumed) *consumed = pos;
  return e;
}

TEST(varint, protocol_examples_round_trip) {
  const std::pair<std::uint64_t, const char*> examples[] = {
      {0, "00"},       {1, "01"},         {127, "7f"},        {128, "8001"},
      {300, "ac02"},   {4660, "b424"},    {17767, "e78a01"},  {65535, "ffff03"},
      {UINT64_MAX, "ffffffffffffffffff01"},
  };
  for (const auto& [value, hex] : examples) {
    iotgw::byte_buffer out;
    iotgw::write_varint(value, out);
    EXPECT_EQ(test_support::to_hex(out), hex);
    EXPECT_EQ(iotgw::varint_size(value), out.size());
    std::uint64_t decoded = 0;
    std::size_t consumed = 0;
    ASSERT_EQ(read(hex, decoded, iotgw::varint64, &consumed), codec_error::none) << hex;
    EXPECT_EQ(decoded, value);
    EXPECT_EQ(consumed, out.size());
  }
}

TEST(varint, thirty_two_bit_fields_take_five_bytes_at_most) {
  std::uint64_t v = 0;
  EXPECT_EQ(read("ffffffff0f", v, iotgw::varint32), codec_error::none);
  EXPECT_EQ(v, 0xffffffffu);
  EXPECT_EQ(read("ffffffff1f", v, iotgw::varint32), codec_error::varint_overflow);
  EXPECT_EQ(read("ffffffffff01", v, iotgw::varint32), codec_error::varint_too_long);
}

TEST(varint, sixty_four_bit_values_take_ten_bytes_at_most) {
  std::uint64_t v = 0;
  EXPECT_EQ(read("ffffffffffffffffff02", v, iotgw::varint64), codec_error::varint_overflow);
  EXPECT_EQ(read("ffffffffffffffffff8001", v, iotgw::varint64), codec_error::varint_too_long);
}

TEST(varint, truncation_leaves_position_unchanged) {
  const auto bytes = from_hex("8080");
  std::size_t pos = 0;
  std::uint64_t v = 42;
  EXPECT_EQ(iotgw::read_varint(bytes, pos, v, iotgw::varint64), codec_error::truncated);
  EXPECT_EQ(pos, 0u);
  EXPECT_EQ(v, 42u);
  std::size_t at_end = 0;
  EXPECT_EQ(iotgw::read_varint({}, at_end, v, iotgw::varint32), codec_error::truncated);
}

}  // namespace
