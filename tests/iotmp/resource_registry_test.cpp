#include "iotmp_gateway/iotmp/resource_registry.hpp"

#include <gtest/gtest.h>

using namespace iotgw::iotmp;

namespace {

class named : public resource {
 public:
  explicit named(resource_io io) : io_(io) {}
  resource_io io() const override { return io_; }
  void run(const resource_call&, reply) override {}
  std::optional<iotgw::pson::value> sample(const resource_call&) override { return std::nullopt; }
  resource_io io_;
};

TEST(resource_pattern, placeholders_match_segments) {
  captures caps;
  const auto one = resource_pattern::parse("zigbee/:name");
  ASSERT_TRUE(one);
  EXPECT_TRUE(one->match("zigbee/kitchen_sensor", caps));
  EXPECT_EQ(caps, (captures{{"name", "kitchen_sensor"}}));
  EXPECT_FALSE(one->match("zigbee", caps));
  EXPECT_FALSE(one->match("zigbee/", caps));
  EXPECT_FALSE(one->match("zigbee/a/b", caps));
  EXPECT_FALSE(one->match("other/a", caps));

  const auto rest = resource_pattern::parse("files/:dev/*path");
  ASSERT_TRUE(rest);
  EXPECT_TRUE(rest->match("files/pi/var/log/syslog", caps));
  EXPECT_EQ(caps, (captures{{"dev", "pi"}, {"path", "var/log/syslog"}}));
  EXPECT_FALSE(rest->match("files/pi", caps));
  EXPECT_FALSE(rest->match("files/pi/", caps));
}

TEST(resource_pattern, malformed_patterns_are_refused) {
  for (const char* bad : {"", "a//b", "/a", "a/", "a/:", "a/*", "a/*rest/b"}) {
    EXPECT_FALSE(resource_pattern::parse(bad)) << bad;
  }
  EXPECT_TRUE(resource_pattern::parse("$gateway"));
}

TEST(resource_registry, exact_names_win_and_first_pattern_wins) {
  resource_registry r;
  auto exact = std::make_shared<named>(resource_io::output);
  auto first = std::make_shared<named>(resource_io::input);
  auto second = std::make_shared<named>(resource_io::input_output);
  ASSERT_TRUE(r.add("rooms/:room", first));
  ASSERT_TRUE(r.add("rooms/*any", second));
  ASSERT_TRUE(r.add("rooms/hall", exact));
  EXPECT_FALSE(r.add("bad//pattern", exact));
  EXPECT_EQ(r.find("rooms/hall")->target, exact.get());
  EXPECT_EQ(r.find("rooms/kitchen")->target, first.get());
  EXPECT_EQ(r.find("rooms/kitchen/lamp")->target, second.get());
  EXPECT_FALSE(r.find("garage"));

  ASSERT_TRUE(r.add("rooms/:room", second));  // replaced in place
  EXPECT_EQ(r.size(), 3u);
  EXPECT_EQ(r.find("rooms/kitchen")->target, second.get());
  EXPECT_TRUE(r.remove("rooms/hall"));
  EXPECT_FALSE(r.remove("rooms/hall"));
  EXPECT_EQ(r.find("rooms/hall")->target, second.get());
  const auto listing = r.listing();
  ASSERT_EQ(listing.size(), 2u);
  EXPECT_EQ(listing[0].first, "rooms/:room");
}

}  // namespace
