#include "iotmp_gateway/config/rules.hpp"

#include <gtest/gtest.h>

#include "iotmp_gateway/bridge/topic.hpp"
#include "iotmp_gateway/iotmp/resource_registry.hpp"

using namespace iotgw::config;
using namespace std::chrono_literals;

namespace {

TEST(topic_rules, valid_filters_follow_mqtt_3_1_1) {
  for (const char* ok : {"a", "a/b", "+", "#", "a/+/b", "a/#", "+/+/#", "/", "a//b", "$SYS/#",
                         "zigbee2mqtt/+/set", "tele/+/SENSOR", "caf\xc3\xa9/+", " spaced topic "}) {
    EXPECT_EQ(topic_filter_problem(ok), std::nullopt) << ok;
  }
}

TEST(topic_rules, invalid_filters_say_why) {
  const std::pair<std::string, std::string> bad[] = {
      {"", "a topic must not be empty"},
      {"a+", "'+' must be alone in its level"},
      {"a/b+", "'+' must be alone in its level"},
      {"a/+x", "'+' must be alone in its level"},
      {"a/++", "'+' must be alone in its level"},
      {"#/a", "'#' must be alone in the last level"},
      {"a/#/b", "'#' must be alone in the last level"},
      {"a#", "'#' must be alone in the last level"},
      {"a/##", "'#' must be alone in the last level"},
      {std::string("a\0b", 3), "a topic must not contain NUL"},
      {"a/\xff", "a topic must be valid UTF-8"},
      {"a/\xc0\xaf", "a topic must be valid UTF-8"},      // overlong '/'
      {"a/\xed\xa0\x80", "a topic must be valid UTF-8"},  // a surrogate
      {"a/\xe2\x82", "a topic must be valid UTF-8"},      // truncated
      {std::string(65536, 'a'), "a topic must not be longer than 65535 bytes"},
  };
  for (const auto& [filter, why] : bad) {
    EXPECT_EQ(topic_filter_problem(filter), why) << filter.substr(0, 20);
  }
  EXPECT_EQ(topic_filter_problem(std::string(65535, 'a')), std::nullopt);
  EXPECT_EQ(topic_filter_problem(std::string(65533, 'a') + "/#"), std::nullopt);
}

TEST(topic_rules, topic_names_take_no_wildcards) {
  EXPECT_EQ(topic_name_problem("iotmp-gateway/gw01/status"), std::nullopt);
  EXPECT_EQ(topic_name_problem("a/+"), "a topic name must not contain '+' or '#'");
  EXPECT_EQ(topic_name_problem("#"), "a topic name must not contain '+' or '#'");
  EXPECT_EQ(topic_name_problem("a+"), "'+' must be alone in its level");
  EXPECT_EQ(topic_name_problem(""), "a topic must not be empty");
}

TEST(topic_rules, wildcards_and_placeholders_pair_in_order) {
  EXPECT_EQ(topic_wildcards("a/b"), "");
  EXPECT_EQ(topic_wildcards("a/+/b/#"), "+#");
  EXPECT_EQ(topic_wildcards("+/+"), "++");
  EXPECT_EQ(placeholder_wildcards("lamp"), "");
  EXPECT_EQ(placeholder_wildcards("zigbee/:name"), "+");
  EXPECT_EQ(placeholder_wildcards("rooms/:room/:x/*rest"), "++#");
  EXPECT_EQ(placeholder_wildcards("$gateway"), "");
}

// The loader's rules must never let through what the bridge cannot run.
TEST(topic_rules, agree_with_the_bridge) {
  for (const char* f : {"a", "a/+/b/#", "+", "#", "a//+", "a/b+", "a/#/b", "", "x/+/+/#"}) {
    const auto bridge = iotgw::bridge::topic_filter::parse(f);
    EXPECT_EQ(!topic_filter_problem(f).has_value(), bridge.has_value()) << f;
    if (bridge) {
      EXPECT_EQ(topic_wildcards(f), bridge->signature()) << f;
    }
  }
  for (const char* n : {"lamp", "zigbee/:name", "a/:b/*c", "x/*rest"}) {
    EXPECT_EQ(placeholder_wildcards(n), iotgw::bridge::placeholder_signature(n)) << n;
  }
}

TEST(resource_names, problems_explain_what_resource_pattern_refuses) {
  for (const char* bad : {"", "a//b", "/a", "a/", "a/:", "a/*", "a/*rest/b"}) {
    ASSERT_FALSE(iotgw::iotmp::resource_pattern::parse(bad)) << bad;
  }
  EXPECT_EQ(resource_name_problem(""), "a resource name must not be empty");
  EXPECT_EQ(resource_name_problem("a//b"), "empty segment (leading, trailing or doubled '/')");
  EXPECT_EQ(resource_name_problem("a/"), "empty segment (leading, trailing or doubled '/')");
  EXPECT_EQ(resource_name_problem("a/:"), "a placeholder needs a name (':name' or '*name')");
  EXPECT_EQ(resource_name_problem("a/*"), "a placeholder needs a name (':name' or '*name')");
  EXPECT_EQ(resource_name_problem("a/*rest/b"), "a '*name' placeholder must be the last segment");
}

TEST(sizes, take_binary_units_or_bytes) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("100B"), 100u);
  EXPECT_EQ(parse_size("512KiB"), 512u * 1024);
  EXPECT_EQ(parse_size("64MiB"), 64u * 1024 * 1024);
  EXPECT_EQ(parse_size("64 MiB"), 64u * 1024 * 1024);
  EXPECT_EQ(parse_size("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("18446744073709551615"), UINT64_MAX);
  for (const char* bad : {"", "MiB", "64MB", "64mib", "64 M", "1.5GiB", "-1", "64MiB2",
                          "18446744073709551616", "17179869184GiB", "0x10", "64 TiB"}) {
    EXPECT_EQ(parse_size(bad), std::nullopt) << bad;
  }
}

TEST(durations, take_s_m_h_d_or_seconds) {
  EXPECT_EQ(parse_duration("0"), 0s);
  EXPECT_EQ(parse_duration("90"), 90s);
  EXPECT_EQ(parse_duration("90s"), 90s);
  EXPECT_EQ(parse_duration("15m"), 15min);
  EXPECT_EQ(parse_duration("2h"), 2h);
  EXPECT_EQ(parse_duration("7d"), 7 * 24h);
  EXPECT_EQ(parse_duration("7 d"), 7 * 24h);
  for (const char* bad : {"", "s", "1.5", "7days", "1w", "1ms", "-5s", "1h30m", "1S",
                          "106751991167301d", "99999999999999999999"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
  }
}

TEST(mqtt_uri, tcp_or_ssl_with_host_and_port) {
  for (const char* ok : {"tcp://localhost:1883", "ssl://broker.lan:8883", "tcp://127.0.0.1:1",
                         "tcp://[::1]:1883", "ssl://[fe80::1%eth0]:65535"}) {
    EXPECT_EQ(mqtt_uri_problem(ok), std::nullopt) << ok;
  }
  const std::pair<const char*, const char*> bad[] = {
      {"mqtt://localhost:1883", "the scheme must be tcp:// or ssl://"},
      {"ws://localhost:1883", "the scheme must be tcp:// or ssl://"},
      {"localhost:1883", "the scheme must be tcp:// or ssl://"},
      {"TCP://localhost:1883", "the scheme must be tcp:// or ssl://"},
      {"tcp://", "the host is missing"},
      {"tcp://:1883", "the host is missing"},
      {"tcp://[]:1883", "the host is missing"},
      {"tcp://[::1:1883", "unterminated '[' in the host"},
      {"tcp://localhost", "the port is missing"},
      {"tcp://localhost:", "the port is missing"},
      {"tcp://[::1]", "the port is missing"},
      {"tcp://localhost:abc", "the port must be a number"},
      {"tcp://localhost:0", "the port must be in 1..65535"},
      {"tcp://localhost:65536", "the port must be in 1..65535"},
      {"tcp://localhost:99999999999999999999", "the port must be in 1..65535"},
      {"tcp://localhost:1883/", "nothing may follow the port"},
      {"tcp://localhost:1883x", "nothing may follow the port"},
      {"tcp://local host:1883", "the host contains a space, '/' or a control character"},
      {"tcp://user:secret@localhost:1883",
       "no user or password in the uri: use username and password_file"},
  };
  for (const auto& [uri, why] : bad) {
    EXPECT_EQ(mqtt_uri_problem(uri), why) << uri;
  }
}

TEST(utf8, accepts_well_formed_text_only) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x8c\xa1"));  // é € 🌡
  EXPECT_FALSE(valid_utf8("\x80"));
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // over U+10FFFF
  EXPECT_FALSE(valid_utf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(valid_utf8("\xf8\x88\x80\x80\x80"));
}

}  // namespace
