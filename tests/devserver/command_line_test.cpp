#include "iotmp_gateway/devserver/command_line.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace iotgw::devserver;
using namespace std::chrono_literals;

namespace {

command_line parse(std::vector<std::string> args) {
  return parse_command_line(args);
}

std::string usage_error_of(std::vector<std::string> args) {
  try {
    parse_command_line(args);
  } catch (const usage_error& e) {
    return e.what();
  }
  return "";
}

TEST(command_line, defaults_and_every_option) {
  auto cl = parse({"--allow-any"});
  EXPECT_EQ(cl.listen.host, "127.0.0.1");
  EXPECT_EQ(cl.listen.port, 25204);
  EXPECT_TRUE(cl.allow_any);
  EXPECT_EQ(cl.idle_timeout, 150s);

  cl = parse({"--listen", "0.0.0.0:9000", "--tls-cert=c.pem", "--tls-key", "k.pem", "--users",
              "u.txt", "--http", "[::1]:8080", "--watch", "temperature", "--watch=lamp@2.5",
              "--watch", "a@b@1", "-v", "--verbose", "--idle-timeout", "0.3"});
  EXPECT_EQ(cl.listen, (iotgw::net::endpoint{"0.0.0.0", 9000}));
  EXPECT_EQ(cl.tls_cert, "c.pem");
  EXPECT_EQ(cl.tls_key, "k.pem");
  EXPECT_EQ(cl.users_file, "u.txt");
  ASSERT_TRUE(cl.http);
  EXPECT_EQ(cl.http->host, "::1");
  ASSERT_EQ(cl.watches.size(), 3u);
  EXPECT_EQ(cl.watches[0], (watch_spec{"temperature", std::nullopt}));
  EXPECT_EQ(cl.watches[1], (watch_spec{"lamp", 2500ms}));
  EXPECT_EQ(cl.watches[2], (watch_spec{"a@b", 1000ms}));
  EXPECT_EQ(cl.verbosity, 2);
  EXPECT_EQ(cl.idle_timeout, 300ms);
  EXPECT_EQ(parse({"--allow-any", "--listen", "localhost:1"}).listen.host, "127.0.0.1");
}

TEST(command_line, help_and_version_need_nothing_else) {
  EXPECT_TRUE(parse({"--help"}).help);
  EXPECT_TRUE(parse({"-h"}).help);
  EXPECT_TRUE(parse({"--version"}).version);
  EXPECT_NE(usage_text().find("--watch RES[@SECONDS]"), std::string::npos);
}

TEST(command_line, usage_errors) {
  EXPECT_EQ(usage_error_of({}), "say who may connect: --users FILE, or --allow-any");
  EXPECT_EQ(usage_error_of({"--allow-any", "--users", "u"}),
            "--users and --allow-any exclude each other");
  EXPECT_EQ(usage_error_of({"--allow-any", "--tls-cert", "c"}),
            "--tls-cert and --tls-key go together");
  EXPECT_EQ(usage_error_of({"--allow-any", "--bogus"}), "unknown argument '--bogus'");
  EXPECT_EQ(usage_error_of({"--allow-any", "--listen"}), "--listen needs a value");
  EXPECT_EQ(usage_error_of({"--allow-any", "--listen", "127.0.0.1"}),
            "--listen: expected ADDRESS:PORT, got '127.0.0.1'");
  EXPECT_EQ(usage_error_of({"--allow-any", "--listen", "example.com:1"}),
            "--listen: 'example.com' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, [::1])");
  EXPECT_EQ(usage_error_of({"--allow-any", "--watch", "t@0"}),
            "--watch: '0' is not a number of seconds above 0");
  EXPECT_EQ(usage_error_of({"--allow-any", "--watch", "t@-1"}),
            "--watch: '-1' is not a number of seconds above 0");
  EXPECT_EQ(usage_error_of({"--allow-any", "--watch", "@5"}),
            "--watch: the resource name is empty");
  EXPECT_EQ(usage_error_of({"--allow-any=yes"}), "--allow-any takes no value");
}

}  // namespace
