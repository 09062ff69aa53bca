#include "iotmp_gateway/pson/json.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "iotmp_gateway/pson/codec.hpp"
#include "support/hex.hpp"
#include "support/print.hpp"

using namespace iotgw::pson;

namespace {

value parse(std::string_view text) {
  value v;
  auto err = parse_json(text, v);
  EXPECT_FALSE(err) << text << ": " << (err ? err->message : "");
  return v;
}

TEST(json, numbers_are_classified_like_the_reference) {
  EXPECT_EQ(parse("7").type(), kind::unsigned_integer);
  EXPECT_EQ(parse("-7").type(), kind::signed_integer);
  EXPECT_EQ(parse("7.0").type(), kind::floating);
  EXPECT_EQ(parse("18446744073709551615").as_unsigned(), UINT64_MAX);
  EXPECT_EQ(parse("-9223372036854775808").as_signed(), INT64_MIN);
  EXPECT_EQ(parse("18446744073709551616").type(), kind::floating) << "too big for uint64";
  // What the encoder then makes of them (PROTOCOL.md §5.1).
  EXPECT_EQ(test_support::to_hex(encode(parse("7.0"))), "07");
  EXPECT_EQ(test_support::to_hex(encode(parse("22.5"))), "400000b441");
}

TEST(json, objects_come_out_with_sorted_keys) {
  EXPECT_EQ(to_json(parse(R"({"b":1,"a":{"d":[],"c":null}})")), R"({"a":{"c":null,"d":[]},"b":1})");
  EXPECT_EQ(to_json(parse(R"({"k":1,"k":2})")), R"({"k":2})") << "last duplicate wins";
}

TEST(json, zigbee2mqtt_state_round_trips) {
  const char* text = R"({"battery":97,"humidity":48,"linkquality":120,"temperature":21.5})";
  const value v = parse(text);
  EXPECT_EQ(to_json(v), text);
  value back;
  ASSERT_TRUE(decode_all(encode(v), back));
  EXPECT_EQ(to_json(back), text);
}

TEST(json, strings_are_escaped_and_kept_valid_utf8) {
  EXPECT_EQ(to_json(value("a\"b\\c\n\t\x01")), R"("a\"b\\c\n\t\u0001")");
  EXPECT_EQ(to_json(value("caf\xc3\xa9")), "\"caf\xc3\xa9\"");
  EXPECT_EQ(to_json(parse(R"("\u00e9\ud83d\ude00")")), "\"\xc3\xa9\xf0\x9f\x98\x80\"");
  // Invalid sequences (a lone continuation byte, an overlong form, a surrogate)
  // each become U+FFFD so the output is still JSON.
  EXPECT_EQ(to_json(value("\x80x\xc0\xaf\xed\xa0\x80")),
            "\"\xef\xbf\xbdx\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
}

TEST(json, values_json_cannot_hold) {
  EXPECT_EQ(to_json(value(std::nan(""))), "null");
  EXPECT_EQ(to_json(value(-HUGE_VAL)), "null");
  EXPECT_EQ(to_json(value(as_bytes, {})), R"("")");
  EXPECT_EQ(to_json(value(as_bytes, {'M'})), R"("TQ==")");
  EXPECT_EQ(to_json(value(as_bytes, {'M', 'a'})), R"("TWE=")");
  EXPECT_EQ(to_json(value(as_bytes, {'M', 'a', 'n'})), R"("TWFu")");
}

TEST(json, doubles_print_shortest_round_trip) {
  EXPECT_EQ(to_json(value(0.1)), "0.1");
  EXPECT_EQ(to_json(value(21.5)), "21.5");
  EXPECT_EQ(to_json(value(1e100)), "1e+100");
  EXPECT_EQ(parse(to_json(value(3.14159))), value(3.14159));
}

TEST(json, errors_say_where) {
  value v = "untouched";
  auto err = parse_json(R"({"a":1,})", v);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->offset, 7u);
  EXPECT_NE(err->message.find("syntax error"), std::string::npos) << err->message;
  EXPECT_EQ(v, value("untouched"));
  EXPECT_TRUE(parse_json("", v));
  EXPECT_TRUE(parse_json("1 2", v));
  EXPECT_TRUE(parse_json("\"\xff\"", v)) << "invalid UTF-8 in JSON text is refused";
  EXPECT_FALSE(parse_json("  [1, 2] \n", v));
}

TEST(json, nesting_is_bounded) {
  const std::string ok(iotgw::max_nesting_depth, '[');
  value v;
  EXPECT_FALSE(parse_json(ok + std::string(iotgw::max_nesting_depth, ']'), v));
  const std::string deep(100000, '[');
  auto err = parse_json(deep, v);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->message, "nesting too deep");
}

}  // namespace
