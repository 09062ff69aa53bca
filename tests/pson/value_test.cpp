#include "iotmp_gateway/pson/value.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/print.hpp"

using namespace iotgw::pson;

namespace {

TEST(pson_value, kinds_follow_the_constructor_argument) {
  EXPECT_EQ(value().type(), kind::null);
  EXPECT_EQ(value(nullptr).type(), kind::null);
  EXPECT_EQ(value(true).type(), kind::boolean);
  EXPECT_EQ(value(7u).type(), kind::unsigned_integer);
  EXPECT_EQ(value(-7).type(), kind::signed_integer);
  EXPECT_EQ(value(2.5).type(), kind::floating);
  EXPECT_EQ(value(2.5f).type(), kind::floating);
  EXPECT_EQ(value("x").type(), kind::string);
  EXPECT_EQ(value(as_bytes, {1, 2}).type(), kind::bytes);
  EXPECT_EQ(value(array{1, 2}).type(), kind::array);
  EXPECT_EQ(value(object{{"a", 1}}).type(), kind::object);
}

TEST(pson_value, numbers_compare_by_value_across_kinds) {
  EXPECT_EQ(value(3u), value(3));
  EXPECT_EQ(value(3u), value(3.0));
  EXPECT_EQ(value(-7), value(-7.0));
  EXPECT_NE(value(3u), value(3.5));
  EXPECT_NE(value(-1), value(UINT64_MAX));
  EXPECT_EQ(value(UINT64_MAX), value(UINT64_MAX));
  EXPECT_NE(value(UINT64_MAX), value(18446744073709551616.0));  // 2^64 does not fit
  EXPECT_EQ(value(std::nan("")), value(std::nan("")));
  EXPECT_NE(value(1), value(true));
  EXPECT_NE(value("1"), value(1));
}

TEST(pson_value, objects_keep_keys_sorted_and_unique) {
  object o = object::from_members({{"b", 1}, {"a", 2}, {"b", 3}});
  ASSERT_EQ(o.size(), 2u);
  EXPECT_EQ(o.begin()->first, "a");
  EXPECT_EQ(*o.find("b"), value(3)) << "the last duplicate wins";
  o["0"] = "first";
  o.insert_or_assign("z", value(nullptr));
  o.insert_or_assign("a", value(9));
  std::string keys;
  for (const auto& [k, v] : o) keys += k;
  EXPECT_EQ(keys, "0abz");
  EXPECT_EQ(*o.find("a"), value(9));
  EXPECT_TRUE(o.erase("z"));
  EXPECT_FALSE(o.erase("z"));
  EXPECT_EQ(o.find("z"), nullptr);
}

TEST(pson_value, integral_extraction_checks_range_and_wholeness) {
  std::uint64_t u = 0;
  std::int64_t s = 0;
  EXPECT_TRUE(value(5000.0).get_unsigned(u));
  EXPECT_EQ(u, 5000u);
  EXPECT_FALSE(value(-1).get_unsigned(u));
  EXPECT_FALSE(value(1.5).get_unsigned(u));
  EXPECT_FALSE(value(std::numeric_limits<double>::infinity()).get_unsigned(u));
  EXPECT_FALSE(value(UINT64_MAX).get_signed(s));
  EXPECT_TRUE(value(-9223372036854775807 - 1).get_signed(s));
  EXPECT_FALSE(value("5").get_unsigned(u));
}

TEST(pson_value, find_looks_into_objects_only) {
  const value v(object{{"interval", 5000}});
  ASSERT_NE(v.find("interval"), nullptr);
  EXPECT_EQ(*v.find("interval"), value(5000));
  EXPECT_EQ(value(array{}).find("interval"), nullptr);
}

}  // namespace
