#include "iotmp_gateway/iotmp/message.hpp"

#include <gtest/gtest.h>

#include "iotmp_gateway/pson/codec.hpp"
#include "support/hex.hpp"
#include "support/print.hpp"

using namespace iotgw::iotmp;
using iotgw::byte_buffer;
using iotgw::codec_error;
using iotgw::pson::value;
using test_support::from_hex;
using test_support::to_hex;

namespace {

message decode_one(const byte_buffer& frame) {
  // Frames from encode() have a 1..3 byte size varint after the type byte.
  std::size_t pos = 1;
  std::uint64_t size = 0;
  EXPECT_EQ(iotgw::read_varint(frame, pos, size, iotgw::varint32), codec_error::none);
  message_view view;
  EXPECT_EQ(decode_body(frame[0], iotgw::byte_view(frame).subspan(pos), view), codec_error::none);
  return message::from_view(view);
}

TEST(iotmp_message, fields_go_out_in_ascending_order) {
  message m{message_type::run, 0x1234, value(iotgw::pson::object{{"mode", "out"}}), value(true),
            value("gpio/4")};
  EXPECT_EQ(to_hex(encode(m)), "061808b42412c1846d6f6465836f75741a6122866770696f2f34");
  EXPECT_EQ(decode_one(encode(m)), m);
}

TEST(iotmp_message, integers_pick_the_wire_type_a_decoder_can_read) {
  message m{message_type::ok, 1, value(201), value(-5), value(0x100000000ull)};
  const auto frame = encode(m);
  // 201 as varint (key 10), -5 and 2^32 as PSON (keys 1a, 22).
  EXPECT_EQ(to_hex(frame), "010e080110c9011a25221f8080808010");
  EXPECT_EQ(decode_one(frame), m);
}

TEST(iotmp_message, body_size_widens_past_127_bytes) {
  message m{message_type::stream_data, 7, {}, value(std::string(200, 'x')), {}};
  const auto frame = encode(m);
  // 2 (sid) + 1 (key) + 3 (string tag) + 200 = 206 body bytes = varint ce 01.
  EXPECT_EQ(to_hex(byte_buffer(frame.begin(), frame.begin() + 3)), "0ace01");
  EXPECT_EQ(frame.size(), 3u + 206u);
  EXPECT_EQ(decode_one(frame), m);
}

TEST(iotmp_message, oversize_frames_are_not_produced) {
  byte_buffer out = from_hex("0500");
  message m{message_type::stream_data, 7, {}, value(std::string(max_body_size, 'x')), {}};
  EXPECT_EQ(encode(m, out), codec_error::frame_too_large);
  EXPECT_EQ(to_hex(out), "0500") << "the buffer is left as it was";
  message fits{message_type::stream_data, 7, {}, value(std::string(max_body_size - 8, 'x')), {}};
  EXPECT_EQ(encode(fits, out), codec_error::none);
}

TEST(iotmp_message, stream_data_from_encoded_payload) {
  byte_buffer out;
  const auto payload = iotgw::pson::encode(value(iotgw::pson::object{{"celsius", 22.5}}));
  ASSERT_EQ(encode_stream_data(0x0101, payload, out), codec_error::none);
  EXPECT_EQ(to_hex(out), "0a120881021ac18763656c73697573400000b441");
}

TEST(iotmp_message, field_views_read_either_wire_type) {
  message_view v;
  ASSERT_EQ(decode_body(8, from_hex("08810223"), v), codec_error::invalid_wire_type);
  const auto body = from_hex("08810210882722836c6564");  // views point into it
  ASSERT_EQ(decode_body(8, body, v), codec_error::none);
  EXPECT_EQ(v.stream_id, 0x0101);
  EXPECT_EQ(v.parameters.as_unsigned(), 5000u);
  EXPECT_FALSE(v.parameters.as_string());
  EXPECT_EQ(v.resource.as_string(), "led");
  EXPECT_EQ(v.resource.to_value(), value("led"));
  EXPECT_FALSE(v.payload.present());
  EXPECT_EQ(v.payload.to_value(), value());
}

TEST(iotmp_message, stream_id_must_be_a_16_bit_unsigned) {
  message_view v;
  EXPECT_EQ(decode_body(1, from_hex("0a1fffff03"), v), codec_error::none) << "PSON 65535 is fine";
  EXPECT_EQ(v.stream_id, 0xffff);
  EXPECT_EQ(decode_body(1, from_hex("0a8161"), v), codec_error::invalid_stream_id);
  EXPECT_EQ(decode_body(1, from_hex("088080 04"), v), codec_error::invalid_stream_id);
}

TEST(iotmp_message, names_of_types) {
  EXPECT_EQ(to_string(message_type::start_stream), "START_STREAM");
  EXPECT_TRUE(is_known(message_type::stream_data));
  EXPECT_FALSE(is_known(message_type::reserved));
  EXPECT_FALSE(is_known(static_cast<message_type>(11)));
}

}  // namespace
