#include "iotmp_gateway/bridge/topic.hpp"

#include <gtest/gtest.h>

using namespace iotgw::bridge;

namespace {

TEST(topic_filter, validity_follows_mqtt) {
  for (const char* ok : {"a", "a/b", "+", "#", "a/+/b", "a/#", "+/+/#", "/", "a//b", "$SYS/#"}) {
    EXPECT_TRUE(topic_filter::parse(ok)) << ok;
  }
  for (const char* bad : {"", "a+", "a/b+", "#/a", "a/#/b", "a#", "a/+x"}) {
    EXPECT_FALSE(topic_filter::parse(bad)) << bad;
  }
  EXPECT_FALSE(topic_filter::parse(std::string("a\0b", 3)));
  EXPECT_FALSE(topic_filter::parse(std::string(65536, 'a')));
  EXPECT_EQ(topic_filter::parse("a/+/b/#")->signature(), "+#");
}

TEST(topic_filter, matches_and_captures) {
  wildcard_values caps;
  const auto z = *topic_filter::parse("zigbee2mqtt/+");
  EXPECT_TRUE(z.match("zigbee2mqtt/kitchen", &caps));
  EXPECT_EQ(caps, (wildcard_values{"kitchen"}));
  EXPECT_FALSE(z.match("zigbee2mqtt/kitchen/set", &caps));
  EXPECT_FALSE(z.match("zigbee2mqtt", &caps));
  EXPECT_TRUE(z.match("zigbee2mqtt/", &caps)) << "an empty level is a level";

  const auto h = *topic_filter::parse("alerts/#");
  EXPECT_TRUE(h.match("alerts/fire/kitchen", &caps));
  EXPECT_EQ(caps, (wildcard_values{"fire/kitchen"}));
  EXPECT_TRUE(h.match("alerts", &caps)) << "'#' includes the parent level";
  EXPECT_EQ(caps, (wildcard_values{""}));
  EXPECT_FALSE(h.match("alertsx/y", &caps));

  const auto mixed = *topic_filter::parse("home/+/sensor/#");
  EXPECT_TRUE(mixed.match("home/hall/sensor/t/1", &caps));
  EXPECT_EQ(caps, (wildcard_values{"hall", "t/1"}));
  EXPECT_FALSE(topic_filter::parse("#")->match("$SYS/broker/uptime"));
  EXPECT_TRUE(topic_filter::parse("$SYS/#")->match("$SYS/broker/uptime"));
  EXPECT_TRUE(topic_filter::parse("a/b")->match("a/b"));
  EXPECT_FALSE(topic_filter::parse("a/b")->match("a/b/c"));
}

TEST(topic_filter, fill_puts_values_in_wildcard_places) {
  EXPECT_EQ(topic_filter::parse("zigbee2mqtt/+/set")->fill({"lamp"}), "zigbee2mqtt/lamp/set");
  EXPECT_EQ(topic_filter::parse("gw/alerts/#")->fill({"fire/kitchen"}), "gw/alerts/fire/kitchen");
  EXPECT_EQ(topic_filter::parse("gw/alerts/#")->fill({""}), "gw/alerts");
  EXPECT_FALSE(topic_filter::parse("a/+/b")->fill({"x/y"}));
  EXPECT_FALSE(topic_filter::parse("a/+/b")->fill({""}));
  EXPECT_FALSE(topic_filter::parse("a/+/b")->fill({"x", "y"}));
  EXPECT_FALSE(topic_filter::parse("a/+/b")->fill({"x+"}));
}

TEST(placeholders, signature_and_fill) {
  EXPECT_EQ(placeholder_signature("rooms/:room/temp"), "+");
  EXPECT_EQ(placeholder_signature("files/:dev/*path"), "+#");
  EXPECT_EQ(placeholder_signature("temperature"), "");
  EXPECT_EQ(fill_placeholders("zigbee/:name", {"kitchen"}), "zigbee/kitchen");
  EXPECT_EQ(fill_placeholders("files/:dev/*path", {"pi", "var/log"}), "files/pi/var/log");
  EXPECT_FALSE(fill_placeholders("files/*path", {""}));
  EXPECT_FALSE(fill_placeholders("zigbee/:name", {"a/b"}));
  EXPECT_FALSE(fill_placeholders("zigbee/:name", {}));
  EXPECT_FALSE(fill_placeholders("zigbee", {"x"}));
}

TEST(topic_name, publishable_topics) {
  EXPECT_TRUE(valid_topic_name("a/b"));
  EXPECT_FALSE(valid_topic_name(""));
  EXPECT_FALSE(valid_topic_name("a/+"));
  EXPECT_FALSE(valid_topic_name("a/#"));
}

TEST(topic_filter, covers) {
  EXPECT_TRUE(filter_covers("a/#", "a/b"));
  EXPECT_TRUE(filter_covers("a/#", "a"));
  EXPECT_TRUE(filter_covers("a/#", "a/+/c"));
  EXPECT_TRUE(filter_covers("a/#", "a/#"));
  EXPECT_TRUE(filter_covers("a/+", "a/b"));
  EXPECT_TRUE(filter_covers("+/+", "a/+"));
  EXPECT_TRUE(filter_covers("#", "a/b/c"));
  EXPECT_TRUE(filter_covers("a/b", "a/b"));
  EXPECT_FALSE(filter_covers("a/+", "a/#"));
  EXPECT_FALSE(filter_covers("a/+", "a"));
  EXPECT_FALSE(filter_covers("a/+", "a/b/c"));
  EXPECT_FALSE(filter_covers("a/+/#", "a"));
  EXPECT_FALSE(filter_covers("a/b", "a/+"));
  EXPECT_FALSE(filter_covers("a/b", "a/b/c"));
  EXPECT_FALSE(filter_covers("#", "$SYS/x"));
  EXPECT_FALSE(filter_covers("+/x", "$SYS/x"));
  EXPECT_TRUE(filter_covers("$SYS/#", "$SYS/x"));
}

}  // namespace
