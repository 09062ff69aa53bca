#include "iotmp_gateway/devserver/users.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

using iotgw::devserver::credential_store;
using iotgw::devserver::users_file_error;

namespace {

std::string error_of(std::string_view text) {
  try {
    credential_store::parse(text, "users.txt");
  } catch (const users_file_error& e) {
    return e.what();
  }
  return "";
}

TEST(users_file, lines_comments_and_blank_lines) {
  const auto store = credential_store::parse(
      "# username device credential\n"
      "\n"
      "alice gw01 s3cret\r\n"
      "   # indented comment\n"
      "alice\t*\tshared#1\n"
      "bob   gw01   other  \n");
  EXPECT_EQ(store.size(), 3u);
  EXPECT_TRUE(store.check("alice", "gw01", "s3cret"));
  EXPECT_FALSE(store.check("alice", "gw01", "shared#1"));  // the exact entry wins over '*'
  EXPECT_TRUE(store.check("alice", "anything", "shared#1"));
  EXPECT_TRUE(store.check("bob", "gw01", "other"));
  EXPECT_FALSE(store.check("bob", "gw02", "other"));
  EXPECT_FALSE(store.check("bob", "gw01", "othe"));
  EXPECT_FALSE(store.check("carol", "gw01", "other"));
}

TEST(users_file, errors_name_the_line) {
  EXPECT_EQ(error_of("alice gw01\n"),
            "users.txt:1: expected `username device credential`, found 2 fields");
  EXPECT_EQ(error_of("# ok\nalice gw01 a b\n"),
            "users.txt:2: expected `username device credential`, found 4 fields");
  EXPECT_EQ(error_of("alice gw01 a\nalice gw01 b\n"),
            "users.txt:2: duplicate entry for alice/gw01");
  EXPECT_EQ(error_of("* gw01 a\n"), "users.txt:1: the username cannot be `*`");
}

TEST(users_file, load_from_disk_and_missing_file) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("iotmp-devserver-users-" + std::to_string(::getpid()));
  std::ofstream(path) << "alice gw01 s3cret\n";
  const auto store = credential_store::load(path.string());
  EXPECT_TRUE(store.check("alice", "gw01", "s3cret"));
  std::filesystem::remove(path);
  try {
    credential_store::load(path.string());
    FAIL() << "no error for a missing file";
  } catch (const users_file_error& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ": cannot read the users file");
  }
}

}  // namespace
