#include "iotmp_gateway/iotmp/frame_decoder.hpp"

#include <gtest/gtest.h>

#include <random>

#include "support/hex.hpp"
#include "support/print.hpp"

using namespace iotgw::iotmp;
using iotgw::byte_buffer;
using iotgw::codec_error;
using iotgw::pson::value;
using test_support::from_hex;

namespace {

using status = frame_decoder::status;

// Feeds the stream in the given chunk sizes and collects every frame.
std::vector<message> decode_chunked(const byte_buffer& stream, const std::vector<std::size_t>& cuts,
                                    codec_error* error = nullptr) {
  frame_decoder d;
  std::vector<message> out;
  std::size_t pos = 0;
  auto drain = [&] {
    message_view v;
    status s;
    while ((s = d.next(v)) == status::frame) out.push_back(message::from_view(v));
    if (s == status::error && error) *error = d.error();
  };
  for (std::size_t cut : cuts) {
    const std::size_t n = std::min(cut, stream.size() - pos);
    d.feed(iotgw::byte_view(stream).subspan(pos, n));
    pos += n;
    drain();
  }
  d.feed(iotgw::byte_view(stream).subspan(pos));
  drain();
  return out;
}

byte_buffer sample_stream(std::vector<message>& messages) {
  messages = {
      {message_type::connect, 0x4567, {}, value(iotgw::pson::array{"alice", "gw", "s3cr3t"}), {}},
      {message_type::ok, 0x4567, {}, {}, {}},
      {message_type::keep_alive, {}, {}, {}, {}},
      {message_type::start_stream, 0x0101, value(iotgw::pson::object{{"interval", 5000}}), {},
       value("temperature")},
      {message_type::stream_data, 0x0101, {}, value(std::string(300, 'z')), {}},
      {message_type::stream_data, 0x0101, {}, value(iotgw::pson::object{{"celsius", 22.5}}), {}},
  };
  byte_buffer stream;
  for (const auto& m : messages) EXPECT_EQ(encode(m, stream), codec_error::none);
  return stream;
}

TEST(frame_decoder, one_byte_at_a_time) {
  std::vector<message> expected;
  const auto stream = sample_stream(expected);
  EXPECT_EQ(decode_chunked(stream, std::vector<std::size_t>(stream.size(), 1)), expected);
}

TEST(frame_decoder, any_split_gives_the_same_frames) {
  std::vector<message> expected;
  const auto stream = sample_stream(expected);
  std::mt19937 rng(12345);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::size_t> cuts;
    for (std::size_t total = 0; total < stream.size();) {
      const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 40)(rng);
      cuts.push_back(n);
      total += n;
    }
    ASSERT_EQ(decode_chunked(stream, cuts), expected) << "round " << round;
  }
}

TEST(frame_decoder, unknown_types_are_skipped_by_their_size) {
  frame_decoder d;
  d.feed(from_hex("0b03ffffff 7f00 0500"));
  message_view v;
  ASSERT_EQ(d.next(v), status::frame);
  EXPECT_EQ(v.type, 0x0b);
  EXPECT_EQ(v.body.size(), 3u) << "the body of an unknown type is not parsed";
  ASSERT_EQ(d.next(v), status::frame);
  EXPECT_EQ(v.type, 0x7f);
  ASSERT_EQ(d.next(v), status::frame);
  EXPECT_EQ(v.known_type(), message_type::keep_alive);
  EXPECT_EQ(d.next(v), status::need_more);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(frame_decoder, errors_are_sticky_until_reset) {
  frame_decoder d;
  d.feed(from_hex("06818010"));
  message_view v;
  EXPECT_EQ(d.next(v), status::error);
  EXPECT_EQ(d.error(), codec_error::frame_too_large);
  d.feed(from_hex("0500"));
  EXPECT_EQ(d.next(v), status::error) << "a broken stream cannot be resynchronised";
  d.reset();
  d.feed(from_hex("0500"));
  EXPECT_EQ(d.next(v), status::frame);
}

TEST(frame_decoder, size_limit_is_configurable_and_checked_before_the_body) {
  frame_decoder d(16);
  d.feed(from_hex("0a11"));  // 17 bytes declared, none sent yet
  message_view v;
  EXPECT_EQ(d.next(v), status::error);
  EXPECT_EQ(d.error(), codec_error::frame_too_large);
}

TEST(frame_decoder, reading_straight_into_the_buffer) {
  frame_decoder d;
  const auto frame = from_hex("010308b424");
  auto space = d.prepare(64 * 1024);
  ASSERT_GE(space.size(), 64u * 1024);
  std::copy(frame.begin(), frame.end(), space.begin());
  d.commit(frame.size());
  message_view v;
  ASSERT_EQ(d.next(v), status::frame);
  EXPECT_EQ(v.known_type(), message_type::ok);
  EXPECT_EQ(v.stream_id, 0x1234);
}

TEST(frame_decoder, buffer_does_not_grow_with_the_number_of_frames) {
  frame_decoder d;
  const auto frame = from_hex("0a120881021ac18763656c73697573400000b441");
  message_view v;
  std::size_t capacity_after_warmup = 0;
  for (int i = 0; i < 10000; ++i) {
    auto space = d.prepare(4096);
    if (i == 100) capacity_after_warmup = space.size() + d.buffered();
    // Two and a half frames per read, so frames straddle reads.
    const std::size_t n = frame.size() * 5 / 2;
    for (std::size_t k = 0; k < n; ++k) space[k] = frame[(i * n + k) % frame.size()];
    d.commit(n);
    while (d.next(v) == status::frame) {
    }
    ASSERT_EQ(d.error(), codec_error::none);
  }
  EXPECT_LE(d.prepare(4096).size() + d.buffered(), capacity_after_warmup + 4096);
}

}  // namespace
