#include "iotmp_gateway/devserver/topic_table.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/print.hpp"

using iotgw::devserver::topic_table;
using iotgw::pson::value;

namespace {

struct recorder {
  std::vector<std::pair<std::string, value>> got;
  topic_table::subscriber cb() {
    return [this](const std::string& t, const value& v) { got.emplace_back(t, v); };
  }
};

TEST(topic_table, latest_value_per_topic) {
  topic_table t;
  EXPECT_EQ(t.publish("home/kitchen/temp", value(21.5)), 0u);
  EXPECT_EQ(t.publish("home/kitchen/temp", value(22)), 0u);
  ASSERT_NE(t.latest("home/kitchen/temp"), nullptr);
  EXPECT_EQ(t.latest("home/kitchen/temp")->value, value(22));
  EXPECT_EQ(t.latest("home/kitchen/temp")->messages, 2u);
  EXPECT_EQ(t.latest("home/other"), nullptr);
  EXPECT_EQ(t.topic_count(), 1u);
  // Not topic names: nothing stored.
  EXPECT_EQ(t.publish("home/+/temp", value(1)), std::nullopt);
  EXPECT_EQ(t.publish("", value(1)), std::nullopt);
  EXPECT_EQ(t.topic_count(), 1u);
}

TEST(topic_table, wildcard_subscribers) {
  topic_table t;
  recorder plus, hash, exact, all;
  EXPECT_NE(t.subscribe("home/+/temp", plus.cb()), 0u);
  EXPECT_NE(t.subscribe("home/#", hash.cb()), 0u);
  EXPECT_NE(t.subscribe("home/kitchen/temp", exact.cb()), 0u);
  EXPECT_NE(t.subscribe("#", all.cb()), 0u);
  EXPECT_EQ(t.subscribe("home/#/x", recorder{}.cb()), 0u);  // not a filter

  EXPECT_EQ(t.publish("home/kitchen/temp", value(1)), 4u);
  EXPECT_EQ(t.publish("home/hall/humidity", value(2)), 2u);
  EXPECT_EQ(t.publish("home", value(3)), 2u);         // "home/#" matches its parent
  EXPECT_EQ(t.publish("$SYS/uptime", value(4)), 0u);  // '#' does not match '$' topics
  EXPECT_EQ(plus.got.size(), 1u);
  EXPECT_EQ(hash.got.size(), 3u);
  ASSERT_EQ(exact.got.size(), 1u);
  EXPECT_EQ(exact.got[0].first, "home/kitchen/temp");
  EXPECT_EQ(exact.got[0].second, value(1));
  EXPECT_EQ(all.got.size(), 3u);
  EXPECT_EQ(t.audience("home/kitchen/temp"), 4u);

  const auto m = t.matching("home/+/+");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].first, "home/hall/humidity");
  EXPECT_EQ(m[1].first, "home/kitchen/temp");
}

TEST(topic_table, no_echo_to_the_same_origin) {
  topic_table t;
  recorder device7, device8, api;
  t.subscribe("a/#", device7.cb(), 7);
  t.subscribe("a/#", device8.cb(), 8);
  t.subscribe("a/#", api.cb());
  EXPECT_EQ(t.publish("a/b", value(1), 7), 2u);
  EXPECT_TRUE(device7.got.empty());
  EXPECT_EQ(device8.got.size(), 1u);
  EXPECT_EQ(api.got.size(), 1u);
  EXPECT_EQ(t.latest("a/b")->origin, 7u);
  EXPECT_EQ(t.publish("a/b", value(2)), 3u);  // the API reaches everybody
  EXPECT_EQ(t.audience("a/b", 8), 2u);
}

TEST(topic_table, callbacks_may_change_subscriptions) {
  topic_table t;
  int first = 0;
  int second = 0;
  topic_table::subscription_id self = 0;
  self = t.subscribe("x", [&](const std::string&, const value&) {
    ++first;
    t.unsubscribe(self);  // itself, while running
    t.subscribe("x", [&](const std::string&, const value&) { ++second; });
    t.publish("y", value(0));  // nested publish
  });
  EXPECT_EQ(t.publish("x", value(1)), 1u);  // the one added meanwhile waits for the next message
  EXPECT_EQ(t.publish("x", value(2)), 1u);
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
  EXPECT_FALSE(t.unsubscribe(self));
  EXPECT_EQ(t.subscription_count(), 1u);
}

}  // namespace
