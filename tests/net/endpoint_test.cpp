#include "iotmp_gateway/net/endpoint.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include "iotmp_gateway/net/status.hpp"

using namespace iotgw::net;

namespace {

TEST(endpoint, parses_names_and_literals) {
  EXPECT_EQ(parse_endpoint("broker.example:25204"), (endpoint{"broker.example", 25204}));
  EXPECT_EQ(parse_endpoint("127.0.0.1:0"), (endpoint{"127.0.0.1", 0}));
  EXPECT_EQ(parse_endpoint("[::1]:8443"), (endpoint{"::1", 8443}));
  EXPECT_EQ(parse_endpoint("[fe80::1%eth0]:1"), (endpoint{"fe80::1%eth0", 1}));
  EXPECT_EQ(parse_endpoint("localhost:65535"), (endpoint{"localhost", 65535}));
}

TEST(endpoint, rejects_malformed) {
  for (const char* bad :
       {"", "localhost", "localhost:", ":80", "host:65536", "host:-1", "host:80x", "::1:80",
        "[::1]", "[::1]80", "[::1:80", "[localhost]:80", "[]:80", "a]:80", "host: 80"}) {
    EXPECT_FALSE(parse_endpoint(bad).has_value()) << bad;
  }
}

TEST(endpoint, formats_with_brackets_for_ipv6) {
  EXPECT_EQ(format_endpoint("::1", 80), "[::1]:80");
  EXPECT_EQ(format_endpoint("127.0.0.1", 25204), "127.0.0.1:25204");
  EXPECT_EQ(format_endpoint("localhost", 1), "localhost:1");
}

TEST(endpoint, recognises_ip_literals) {
  EXPECT_TRUE(is_ip_literal("127.0.0.1"));
  EXPECT_TRUE(is_ip_literal("::1"));
  EXPECT_TRUE(is_ip_literal("2001:db8::42"));
  EXPECT_FALSE(is_ip_literal("localhost"));
  EXPECT_FALSE(is_ip_literal("127.1"));
  EXPECT_FALSE(is_ip_literal("256.0.0.1"));
  EXPECT_FALSE(is_ip_literal(""));
}

TEST(status, messages_carry_libuv_text) {
  const auto st = uv_status(errc::io, UV_ECONNREFUSED, "connect to 127.0.0.1:25204");
  EXPECT_EQ(st.message, "connect to 127.0.0.1:25204: connection refused");
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(status{}.ok());
  EXPECT_EQ(to_string(errc::write_limit), "write_limit");
}

}  // namespace
