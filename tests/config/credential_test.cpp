// Where the cloud credential and the MQTT password come from, and which files
// are refused (SPEC §3). Every test uses its own temporary directory and an
// injected environment.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "config_support.hpp"

using namespace iotgw::config;
using namespace config_test;

namespace {

constexpr const char* secret = "s3cr3t-t0ken-\xe2\x9c\x93";

class credentials : public testing::Test {
 protected:
  // Loads `yaml` (cloud section and more) from dir/gateway.yaml with secrets read.
  load_result load(const std::string& yaml, std::map<std::string, std::string> env = {}) {
    write_text(dir_ / "gateway.yaml", yaml, fs::perms(0644));
    auto o = options(std::move(env), true);
    o.default_credential_file = (dir_ / "default-credential").string();
    auto r = load_file((dir_ / "gateway.yaml").string(), o);
    // Whatever happened, no diagnostic may carry a secret.
    for (const auto& d : r.diagnostics) {
      EXPECT_EQ(to_string(d).find("s3cr3t"), std::string::npos) << to_string(d);
      EXPECT_EQ(to_string(d).find("swordfish"), std::string::npos) << to_string(d);
    }
    return r;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  temp_dir dir_;
};

TEST_F(credentials, explicit_file_is_read) {
  write_text(dir_ / "cred", std::string(secret) + "\n");
  const auto r = load(std::string(minimal) + "  credential_file: " + path("cred") + "\n");
  ASSERT_TRUE(r.ok()) << testing::PrintToString(lines(r));
  EXPECT_EQ(r.config->cloud.credential, secret);
  EXPECT_EQ(r.config->cloud.credential_file, path("cred"));
}

TEST_F(credentials, explicit_relative_file_is_next_to_the_config) {
  write_text(dir_ / "cred", secret);
  const auto r = load(std::string(minimal) + "  credential_file: cred\n");
  ASSERT_TRUE(r.ok()) << testing::PrintToString(lines(r));
  EXPECT_EQ(r.config->cloud.credential, secret);
}

TEST_F(credentials, explicit_file_wins_over_credentials_directory) {
  write_text(dir_ / "cred", "explicit");
  fs::create_directory(dir_ / "creds");
  write_text(dir_ / "creds" / "credential", "from-systemd");
  const auto r = load(std::string(minimal) + "  credential_file: cred\n",
                      {{"CREDENTIALS_DIRECTORY", path("creds")}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config->cloud.credential, "explicit");
}

TEST_F(credentials, credentials_directory_comes_next) {
  fs::create_directory(dir_ / "creds");
  write_text(dir_ / "creds" / "credential", "from-systemd\n", fs::perms(0400));
  write_text(dir_ / "default-credential", "default");
  const auto r = load(minimal, {{"CREDENTIALS_DIRECTORY", path("creds")}});
  ASSERT_TRUE(r.ok()) << testing::PrintToString(lines(r));
  EXPECT_EQ(r.config->cloud.credential, "from-systemd");
  EXPECT_EQ(r.config->cloud.credential_file, (dir_ / "creds" / "credential").string());
}

TEST_F(credentials, missing_file_in_credentials_directory_names_the_path) {
  fs::create_directory(dir_ / "creds");
  write_text(dir_ / "default-credential", "default");  // not a fallback once the variable is set
  const auto r = load(minimal, {{"CREDENTIALS_DIRECTORY", path("creds")}});
  EXPECT_EQ(lines(r), std::vector<std::string>{
                          path("creds") + "/credential: cannot read the credential file: No such "
                                          "file or directory (looked for because "
                                          "$CREDENTIALS_DIRECTORY is set)"});
}

TEST_F(credentials, default_file_last) {
  write_text(dir_ / "default-credential", "default\r\n");
  const auto r = load(minimal);
  ASSERT_TRUE(r.ok()) << testing::PrintToString(lines(r));
  EXPECT_EQ(r.config->cloud.credential, "default");
  EXPECT_EQ(r.config->cloud.credential_file, path("default-credential"));
  // An empty variable is no variable.
  EXPECT_TRUE(load(minimal, {{"CREDENTIALS_DIRECTORY", ""}}).ok());
}

TEST_F(credentials, missing_default_file_is_an_error) {
  const auto r = load(minimal);
  EXPECT_EQ(lines(r), std::vector<std::string>{path("default-credential") +
                                               ": cannot read the credential file: No such file "
                                               "or directory"});
}

TEST_F(credentials, the_real_defaults_are_spec_section_3) {
  const load_options o;
  EXPECT_EQ(o.default_credential_file, "/etc/iotmp-gateway/credential");
  EXPECT_TRUE(o.read_secrets);
  // Only CREDENTIALS_DIRECTORY is looked up, and only through the injected lookup.
  std::vector<std::string> asked;
  auto injected = options({}, false);
  injected.environment = [&](const std::string& name) -> std::optional<std::string> {
    asked.push_back(name);
    return "/run/credentials/iotmp-gateway.service";
  };
  const auto r = parse(minimal, "g.yaml", injected);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(asked, std::vector<std::string>{"CREDENTIALS_DIRECTORY"});
  EXPECT_EQ(r.config->cloud.credential_file, "/run/credentials/iotmp-gateway.service/credential");
  EXPECT_EQ(r.config->cloud.credential, "") << "read_secrets=false reads nothing";
}

TEST_F(credentials, one_trailing_newline_is_ignored) {
  const std::pair<std::string, std::string> cases[] = {
      {"abc", "abc"},     {"abc\n", "abc"},     {"abc\r\n", "abc"}, {"abc\n\n", "abc\n"},
      {"abc\r", "abc\r"}, {" abc \n", " abc "}, {"a\nb\n", "a\nb"},
  };
  for (const auto& [content, expected] : cases) {
    write_text(dir_ / "cred", content);
    const auto r = load(std::string(minimal) + "  credential_file: cred\n");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(lines(r));
    EXPECT_EQ(r.config->cloud.credential, expected) << testing::PrintToString(content);
  }
}

TEST_F(credentials, empty_is_an_error) {
  for (const char* content : {"", "\n", "\r\n"}) {
    write_text(dir_ / "cred", content);
    const auto r = load(std::string(minimal) + "  credential_file: cred\n");
    EXPECT_EQ(lines(r), std::vector<std::string>{path("cred") + ": the credential file is empty"})
        << testing::PrintToString(std::string(content));
  }
}

TEST_F(credentials, readable_by_group_or_others_is_refused) {
  const std::pair<unsigned, const char*> refused[] = {{0640, "0640"}, {0604, "0604"},
                                                      {0644, "0644"}, {0440, "0440"},
                                                      {0444, "0444"}, {0777, "0777"}};
  for (const auto& [mode, text] : refused) {
    write_text(dir_ / "cred", secret, fs::perms(mode));
    const auto r = load(std::string(minimal) + "  credential_file: cred\n");
    EXPECT_EQ(lines(r),
              std::vector<std::string>{path("cred") +
                                       ": refusing the credential file: it is readable by "
                                       "group or others (mode " +
                                       text + "); make it private with chmod 600"});
  }
  for (const unsigned mode : {0600u, 0400u, 0620u, 0602u, 0700u}) {
    write_text(dir_ / "cred", secret, fs::perms(mode));
    EXPECT_TRUE(load(std::string(minimal) + "  credential_file: cred\n").ok()) << std::oct << mode;
  }
}

TEST_F(credentials, only_regular_files) {
  fs::create_directory(dir_ / "adir");
  fs::permissions(dir_ / "adir", fs::perms(0700));
  auto r = load(std::string(minimal) + "  credential_file: adir\n");
  EXPECT_EQ(lines(r),
            std::vector<std::string>{path("adir") + ": the credential file is not a regular file"});
  // A FIFO with no writer would block a plain open(); --check must not hang.
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  r = load(std::string(minimal) + "  credential_file: fifo\n");
  EXPECT_EQ(lines(r),
            std::vector<std::string>{path("fifo") + ": the credential file is not a regular file"});
  write_text(dir_ / "big", std::string(64 * 1024 + 1, 'x'));
  r = load(std::string(minimal) + "  credential_file: big\n");
  EXPECT_EQ(lines(r),
            std::vector<std::string>{path("big") + ": the credential file is larger than 64 KiB"});
  write_text(dir_ / "max", std::string(64 * 1024, 'x'));
  EXPECT_TRUE(load(std::string(minimal) + "  credential_file: max\n").ok());
}

TEST_F(credentials, a_symlink_to_a_private_file_is_fine) {
  write_text(dir_ / "real", secret);
  fs::create_symlink(dir_ / "real", dir_ / "link");
  const auto r = load(std::string(minimal) + "  credential_file: link\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config->cloud.credential, secret);
}

TEST_F(credentials, yaml_errors_and_credential_errors_are_all_reported) {
  write_text(dir_ / "cred", secret, fs::perms(0644));
  const auto r = load(std::string(minimal) + "  credential_file: cred\n  port: 0\n");
  EXPECT_EQ(lines(r),
            (std::vector<std::string>{
                path("gateway.yaml") + ":5:9: port must be an integer in 1..65535 (got 0)",
                path("cred") + ": refusing the credential file: it is readable by group "
                               "or others (mode 0644); make it private with chmod 600"}));
}

TEST_F(credentials, inline_secrets_are_refused_without_quoting_them) {
  write_text(dir_ / "default-credential", "x");
  const auto r = load(std::string(minimal) +
                      "  credential: s3cr3t-inline\n"
                      "mqtt:\n  username: gw\n  password: swordfish\n"
                      "  uri: tcp://gw:swordfish@localhost:1883\n");
  EXPECT_EQ(r.diagnostics.size(), 3u);
}

TEST_F(credentials, secret_content_never_reaches_a_diagnostic) {
  // A credential whose text looks like YAML or a path must not leak either.
  for (const std::string content : {"s3cr3t: [\n", "s3cr3t\n\n", "/s3cr3t/path"}) {
    write_text(dir_ / "cred", content, fs::perms(0640));
    const auto r = load(std::string(minimal) + "  credential_file: cred\n  port: 70000\n");
    EXPECT_EQ(r.diagnostics.size(), 2u);
  }
}

TEST_F(credentials, mqtt_password_file_follows_the_same_rules) {
  write_text(dir_ / "default-credential", "c");
  write_text(dir_ / "mqtt-password", "swordfish\n");
  const std::string yaml =
      std::string(minimal) + "mqtt:\n  username: gw\n  password_file: mqtt-password\n";
  auto r = load(yaml);
  ASSERT_TRUE(r.ok()) << testing::PrintToString(lines(r));
  EXPECT_EQ(r.config->mqtt.password, "swordfish");
  EXPECT_EQ(r.config->mqtt.password_file, path("mqtt-password"));

  fs::permissions(dir_ / "mqtt-password", fs::perms(0644));
  r = load(yaml);
  EXPECT_EQ(lines(r), std::vector<std::string>{path("mqtt-password") +
                                               ": refusing the MQTT password file: it is "
                                               "readable by group or others (mode 0644); make "
                                               "it private with chmod 600"});
  write_text(dir_ / "mqtt-password", "\n");
  r = load(yaml);
  EXPECT_EQ(lines(r),
            std::vector<std::string>{path("mqtt-password") + ": the MQTT password file is empty"});
  fs::remove(dir_ / "mqtt-password");
  r = load(yaml);
  EXPECT_EQ(lines(r), std::vector<std::string>{path("mqtt-password") +
                                               ": cannot read the MQTT password file: No such "
                                               "file or directory"});
}

TEST_F(credentials, no_password_file_means_no_password) {
  write_text(dir_ / "default-credential", "c");
  const auto r = load(std::string(minimal) + "mqtt:\n  username: gw\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config->mqtt.password, "");
}

TEST_F(credentials, the_demo_loads_with_its_credential_once_private) {
  // git keeps no file modes: the demo script chmods etc/demo-credential; do the same on a copy.
  fs::copy_file(source_dir() / "etc" / "demo.yaml", dir_ / "demo.yaml");
  fs::copy_file(source_dir() / "etc" / "demo-credential", dir_ / "demo-credential");
  fs::permissions(dir_ / "demo-credential", fs::perms(0644));
  auto o = options({}, true);
  auto r = load_file(path("demo.yaml"), o);
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_NE(to_string(r.diagnostics[0]).find("chmod 600"), std::string::npos);
  fs::permissions(dir_ / "demo-credential", fs::perms(0600));
  r = load_file(path("demo.yaml"), o);
  ASSERT_TRUE(r.ok()) << testing::PrintToString(lines(r));
  EXPECT_FALSE(r.config->cloud.credential.empty());
  EXPECT_EQ(r.config->cloud.credential.find('\n'), std::string::npos);
}

}  // namespace
