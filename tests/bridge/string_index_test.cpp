#include "iotmp_gateway/string_index.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

namespace {

// Values are indexes into a list of keys, as the spool's queue ids are.
struct key_in {
  const std::deque<std::string>* keys;
  const std::string& operator()(std::uint32_t i) const { return (*keys)[i]; }
};
constexpr std::uint32_t none = ~std::uint32_t{0};
using index = iotgw::string_index<std::uint32_t, key_in, none>;

std::vector<std::uint32_t> all(const index& ix, std::string_view key) {
  std::vector<std::uint32_t> out;
  ix.for_each(key, [&](std::uint32_t v) {
    out.push_back(v);
    return true;
  });
  return out;
}

TEST(string_index, finds_each_key_and_misses_absent_ones) {
  std::deque<std::string> keys;
  index ix(key_in{&keys});
  EXPECT_EQ(ix.find("a"), none) << "an empty index finds nothing";
  for (std::uint32_t i = 0; i < 5000; ++i) {
    keys.push_back("bench/t/" + std::to_string(i));
    ix.insert(i);
  }
  EXPECT_EQ(ix.size(), 5000u);
  for (std::uint32_t i = 0; i < 5000; ++i) ASSERT_EQ(ix.find(keys[i]), i);
  EXPECT_EQ(ix.find("bench/t/5000"), none);
  EXPECT_EQ(ix.find("bench/t/"), none);
  EXPECT_EQ(ix.find(""), none);
}

TEST(string_index, equal_keys_come_back_in_insertion_order_across_growth) {
  std::deque<std::string> keys;
  index ix(key_in{&keys});
  // Interleaved with other keys so the table grows (and reorders) many times
  // between the copies of one key.
  std::vector<std::uint32_t> want_a, want_b;
  for (std::uint32_t i = 0; i < 3000; ++i) {
    const char* k = i % 7 == 0 ? "a" : i % 11 == 0 ? "b" : nullptr;
    keys.push_back(k ? std::string(k) : "x" + std::to_string(i));
    ix.insert(i);
    if (i % 7 == 0) want_a.push_back(i);
    else if (i % 11 == 0) want_b.push_back(i);
  }
  EXPECT_EQ(all(ix, "a"), want_a);
  EXPECT_EQ(all(ix, "b"), want_b);
  EXPECT_EQ(ix.find("a"), 0u) << "find gives the first inserted";
}

TEST(string_index, for_each_stops_when_asked) {
  std::deque<std::string> keys{"k", "k", "k"};
  index ix(key_in{&keys});
  for (std::uint32_t i = 0; i < 3; ++i) ix.insert(i);
  int calls = 0;
  ix.for_each("k", [&](std::uint32_t) { return ++calls < 2; });
  EXPECT_EQ(calls, 2);
}

TEST(string_index, clear_and_reserve_keep_it_usable) {
  std::deque<std::string> keys{"one", "two"};
  index ix(key_in{&keys});
  ix.reserve(1000);
  ix.insert(0);
  EXPECT_EQ(ix.find("one"), 0u);
  ix.clear();
  EXPECT_TRUE(ix.empty());
  EXPECT_EQ(ix.find("one"), none);
  ix.insert(1);
  EXPECT_EQ(ix.find("two"), 1u);
  EXPECT_EQ(ix.find("one"), none);
}

}  // namespace
