#include "iotmp_gateway/config/loader.hpp"

#include <gtest/gtest.h>

#include "config_support.hpp"

using namespace iotgw::config;
using namespace config_test;
using namespace std::chrono_literals;
using iotgw::iotmp::mqtt_scope;
using iotgw::iotmp::mqtt_stream_scheme;

namespace {

gateway_config must_parse(const std::string& text,
                          const std::string& file = "/etc/gw/gateway.yaml") {
  auto r = parse(text, file, options());
  EXPECT_TRUE(r.ok()) << testing::PrintToString(lines(r));
  return r.config.value_or(gateway_config{});
}

std::vector<std::string> errors_of(const std::string& text) {
  return lines(parse(text, "t.yaml", options()));
}

// ---- defaults ----------------------------------------------------------------

TEST(defaults, are_exactly_those_of_spec_section_3) {
  const auto c = must_parse(minimal);
  EXPECT_EQ(c.path, "/etc/gw/gateway.yaml");
  EXPECT_EQ(c.cloud.host, "iot.thinger.io");
  EXPECT_EQ(c.cloud.port, 25206);
  EXPECT_TRUE(c.cloud.tls);
  EXPECT_EQ(c.cloud.ca_file, "");
  EXPECT_FALSE(c.cloud.insecure_skip_verify);
  EXPECT_EQ(c.cloud.username, "alice");
  EXPECT_EQ(c.cloud.device, "gw01");
  EXPECT_EQ(c.cloud.credential_file, "/nonexistent/iotmp-gateway-test/credential");
  EXPECT_EQ(c.cloud.credential, "");  // read_secrets is off here
  EXPECT_EQ(c.cloud.keepalive, 60s);
  EXPECT_EQ(c.cloud.reconnect_min, 1s);
  EXPECT_EQ(c.cloud.reconnect_max, 60s);
  EXPECT_EQ(c.cloud.mqtt_streams, mqtt_stream_scheme::spec);
  EXPECT_EQ(c.mqtt.uri, "tcp://localhost:1883");
  EXPECT_EQ(c.mqtt.client_id, "iotmp-gateway-gw01");
  EXPECT_EQ(c.mqtt.username, "");
  EXPECT_EQ(c.mqtt.password_file, "");
  EXPECT_EQ(c.mqtt.tls, mqtt_tls_config{});
  EXPECT_EQ(c.mqtt.status_topic, "iotmp-gateway/gw01/status");
  EXPECT_TRUE(c.resources.empty());
  EXPECT_TRUE(c.streams.empty());
  EXPECT_EQ(c.max_topic_streams, 1000u);
  EXPECT_EQ(c.spool.dir, "/var/lib/iotmp-gateway");
  EXPECT_EQ(c.spool.max_bytes, 64ull << 20);
  EXPECT_EQ(c.spool.max_age, 7 * 24h);
  EXPECT_EQ(c.spool.sync_interval, 1s);
  EXPECT_EQ(c.log, log_level::info);
}

TEST(defaults, port_follows_tls_unless_given) {
  EXPECT_EQ(must_parse(std::string(minimal) + "  tls: false\n").cloud.port, 25204);
  EXPECT_EQ(must_parse(std::string(minimal) + "  tls: true\n").cloud.port, 25206);
  EXPECT_EQ(must_parse(std::string(minimal) + "  tls: false\n  port: 9999\n").cloud.port, 9999);
  EXPECT_EQ(must_parse(std::string(minimal) + "  port: 443\n  tls: false\n").cloud.port, 443);
}

TEST(defaults, resource_and_stream_fields) {
  const auto c = must_parse(std::string(minimal) +
                            "resources:\n  lamp: {write: lamp/set}\n"
                            "streams:\n  - local: alerts/#\n");
  ASSERT_EQ(c.resources.size(), 1u);
  EXPECT_EQ(c.resources[0],
            (resource_config{"lamp", "", "lamp/set", payload_format::auto_detect, 0, false}));
  ASSERT_EQ(c.streams.size(), 1u);
  EXPECT_EQ(c.streams[0], (stream_config{"alerts/#", "alerts/#", mqtt_scope::publish, 0, false,
                                         payload_format::auto_detect}));
}

TEST(defaults, empty_sections_are_empty_not_errors) {
  // A section whose entries are all commented out is null in YAML.
  const auto c = must_parse(std::string(minimal) +
                            "mqtt:\nresources:\n  # lamp: {read: x}\nstreams:\nspool:\nlog:\n");
  EXPECT_TRUE(c.resources.empty());
  EXPECT_TRUE(c.streams.empty());
  EXPECT_EQ(c.mqtt.client_id, "iotmp-gateway-gw01");
  EXPECT_EQ(c.log, log_level::info);
}

// ---- every value, in and out -------------------------------------------------

TEST(round_trip, every_key_of_spec_section_3) {
  const auto c = must_parse(R"(cloud:
  host: cloud.example.com
  port: 8443
  tls: true
  ca_file: /etc/ssl/private-ca.pem
  insecure_skip_verify: true
  username: alice
  device: gateway01
  credential_file: /run/secrets/gw
  keepalive: 2m
  reconnect: { min: 2, max: 5m }
  mqtt_streams: event
mqtt:
  uri: ssl://broker.lan:8883
  client_id: my-gateway
  username: gw
  password_file: /etc/iotmp-gateway/mqtt-password
  tls: { ca_file: /etc/mosquitto/ca.crt, cert_file: /etc/gw/c.crt, key_file: /etc/gw/c.key }
  status_topic: site/gw/status
  keepalive: 10
resources:
  temperature:
    read: sensors/temp
    format: json
  lamp:
    read: lamp/state
    write: lamp/set
    qos: 1
    retain: true
  rooms/:room/temp:
    read: home/+/temperature
    format: number
  files/:dev/*path:
    write: files/+/#
    format: bytes
    qos: 2
  label:
    read: labels/x
    format: string
streams:
  - local: alerts/#
    cloud: gateway01/alerts/#
    scope: publish
    qos: 1
    retained: true
    format: json
  - local: cmnd/+/POWER
    cloud: gw/+/power
    scope: subscribe
    qos: 2
  - local: chat
    scope: both
    format: string
max_topic_streams: 50
spool:
  dir: /var/spool/gw
  max_bytes: 1GiB
  max_age: 12h
log:
  level: debug
)");
  gateway_config e;
  e.path = "/etc/gw/gateway.yaml";
  e.cloud = {"cloud.example.com",
             8443,
             true,
             "/etc/ssl/private-ca.pem",
             true,
             "alice",
             "gateway01",
             "/run/secrets/gw",
             "",
             120s,
             2s,
             300s,
             mqtt_stream_scheme::event};
  e.mqtt = {"ssl://broker.lan:8883",
            "my-gateway",
            "gw",
            "/etc/iotmp-gateway/mqtt-password",
            "",
            {"/etc/mosquitto/ca.crt", "/etc/gw/c.crt", "/etc/gw/c.key"},
            "site/gw/status",
            10s};
  e.resources = {
      {"temperature", "sensors/temp", "", payload_format::json, 0, false},
      {"lamp", "lamp/state", "lamp/set", payload_format::auto_detect, 1, true},
      {"rooms/:room/temp", "home/+/temperature", "", payload_format::number, 0, false},
      {"files/:dev/*path", "", "files/+/#", payload_format::bytes, 2, false},
      {"label", "labels/x", "", payload_format::string, 0, false},
  };
  e.streams = {
      {"alerts/#", "gateway01/alerts/#", mqtt_scope::publish, 1, true, payload_format::json},
      {"cmnd/+/POWER", "gw/+/power", mqtt_scope::subscribe, 2, false, payload_format::auto_detect},
      {"chat", "chat", mqtt_scope::both, 0, false, payload_format::string},
  };
  e.max_topic_streams = 50;
  e.spool = {"/var/spool/gw", 1ull << 30, 12h};
  e.log = log_level::debug;
  EXPECT_EQ(c, e);
}

// Writes a configuration back as YAML, the way a user would.
std::string to_yaml(const gateway_config& c) {
  const auto fmt = [](payload_format f) {
    switch (f) {
      case payload_format::json:
        return "json";
      case payload_format::string:
        return "string";
      case payload_format::number:
        return "number";
      case payload_format::bytes:
        return "bytes";
      case payload_format::auto_detect:
        break;
    }
    return "auto";
  };
  const auto scope = [](mqtt_scope s) {
    return s == mqtt_scope::publish ? "publish" : s == mqtt_scope::subscribe ? "subscribe" : "both";
  };
  const auto level = [](log_level l) {
    return l == log_level::error  ? "error"
           : l == log_level::warn ? "warn"
           : l == log_level::info ? "info"
                                  : "debug";
  };
  const auto b = [](bool v) { return v ? "true" : "false"; };
  std::ostringstream y;
  y << "cloud:\n  host: " << c.cloud.host << "\n  port: " << c.cloud.port
    << "\n  tls: " << b(c.cloud.tls)
    << "\n  insecure_skip_verify: " << b(c.cloud.insecure_skip_verify)
    << "\n  username: " << c.cloud.username << "\n  device: " << c.cloud.device
    << "\n  credential_file: " << c.cloud.credential_file
    << "\n  keepalive: " << c.cloud.keepalive.count()
    << "\n  reconnect: {min: " << c.cloud.reconnect_min.count()
    << ", max: " << c.cloud.reconnect_max.count() << "}\n  mqtt_streams: "
    << (c.cloud.mqtt_streams == mqtt_stream_scheme::spec ? "spec" : "event") << "\n";
  if (!c.cloud.ca_file.empty()) y << "  ca_file: " << c.cloud.ca_file << "\n";
  y << "mqtt:\n  uri: " << c.mqtt.uri << "\n  client_id: " << c.mqtt.client_id
    << "\n  status_topic: '" << c.mqtt.status_topic << "'\n";
  y << "resources:\n";
  for (const auto& r : c.resources) {
    y << "  '" << r.name << "':\n";
    if (!r.read.empty()) y << "    read: '" << r.read << "'\n";
    if (!r.write.empty()) y << "    write: '" << r.write << "'\n";
    y << "    format: " << fmt(r.format) << "\n    qos: " << r.qos
      << "\n    retain: " << b(r.retain) << "\n";
  }
  y << "streams:\n";
  for (const auto& s : c.streams) {
    y << "  - local: '" << s.local << "'\n    cloud: '" << s.cloud
      << "'\n    scope: " << scope(s.scope) << "\n    qos: " << s.qos
      << "\n    retained: " << b(s.retained) << "\n    format: " << fmt(s.format) << "\n";
  }
  y << "max_topic_streams: " << c.max_topic_streams << "\nspool:\n  dir: " << c.spool.dir
    << "\n  max_bytes: " << c.spool.max_bytes << "\n  max_age: " << c.spool.max_age.count()
    << "s\nlog:\n  level: " << level(c.log) << "\n";
  return y.str();
}

TEST(round_trip, generated_configurations_parse_back_equal) {
  const payload_format formats[] = {payload_format::auto_detect, payload_format::json,
                                    payload_format::string, payload_format::number,
                                    payload_format::bytes};
  const mqtt_scope scopes[] = {mqtt_scope::publish, mqtt_scope::subscribe, mqtt_scope::both};
  const log_level levels[] = {log_level::error, log_level::warn, log_level::info, log_level::debug};
  for (unsigned i = 0; i < 40; ++i) {
    gateway_config c;
    c.path = "/etc/gw/g.yaml";
    c.cloud.host = i % 2 ? "10.0.0." + std::to_string(i) : "host" + std::to_string(i) + ".example";
    c.cloud.port = static_cast<std::uint16_t>(1 + i * 1637);
    c.cloud.tls = i % 3 == 0;
    c.cloud.insecure_skip_verify = i % 5 == 0;
    c.cloud.ca_file = i % 4 ? "" : "/etc/ca" + std::to_string(i) + ".pem";
    c.cloud.username = "user" + std::to_string(i);
    c.cloud.device = "dev-" + std::to_string(i);
    c.cloud.credential_file = "/run/cred/" + std::to_string(i);
    c.cloud.keepalive = std::chrono::seconds(1 + i * 89);
    c.cloud.reconnect_min = std::chrono::seconds(1 + i);
    c.cloud.reconnect_max = std::chrono::seconds(1 + i * 7);
    c.cloud.mqtt_streams = i % 2 ? mqtt_stream_scheme::event : mqtt_stream_scheme::spec;
    c.mqtt.uri =
        (i % 2 ? "ssl://b" : "tcp://b") + std::to_string(i) + ":" + std::to_string(1000 + i);
    c.mqtt.client_id = "client" + std::to_string(i);
    c.mqtt.status_topic = "status/" + std::to_string(i);
    for (unsigned k = 0; k < i % 6; ++k) {
      const auto n = std::to_string(k);
      resource_config r;
      r.name = k % 2 ? "r" + n + "/:a/*b" : "r" + n;
      r.read = k % 3 == 2 ? "" : (k % 2 ? "t" + n + "/+/#" : "t" + n);
      r.write = k % 3 == 0 ? "" : (k % 2 ? "w/+/" + n + "/#" : "w/" + n);
      r.format = formats[(i + k) % 5];
      r.qos = (i + k) % 3;
      r.retain = (i + k) % 2 == 0;
      c.resources.push_back(r);
    }
    for (unsigned k = 0; k < i % 4; ++k) {
      const auto n = std::to_string(k);
      stream_config s;
      s.local = k % 2 ? "l" + n + "/+/#" : "l/" + n;
      s.cloud = k % 2 ? "c/+/" + n + "/#" : "c/" + n;
      s.scope = scopes[(i + k) % 3];
      s.qos = (i + k) % 3;
      s.retained = k % 2 == 0;
      s.format = formats[(i * 3 + k) % 5];
      c.streams.push_back(s);
    }
    c.max_topic_streams = 1 + i * 1000;
    c.spool.dir = "/var/spool/gw" + std::to_string(i);
    c.spool.max_bytes = 1 + i * 123456789ull;
    c.spool.max_age = std::chrono::seconds(1 + i * 3600);
    c.log = levels[i % 4];
    const auto text = to_yaml(c);
    const auto r = parse(text, c.path, options());
    ASSERT_TRUE(r.ok()) << text << testing::PrintToString(lines(r));
    EXPECT_EQ(*r.config, c) << text;
  }
}

// ---- values with units ---------------------------------------------------------

TEST(units, sizes_and_durations_in_the_file) {
  const auto c = must_parse(std::string(minimal) +
                            "  keepalive: 1h\n  reconnect: {min: 30s, max: 1d}\n"
                            "spool: {max_bytes: 512KiB, max_age: 90m}\n");
  EXPECT_EQ(c.cloud.keepalive, 3600s);
  EXPECT_EQ(c.cloud.reconnect_min, 30s);
  EXPECT_EQ(c.cloud.reconnect_max, 24h);
  EXPECT_EQ(c.spool.max_bytes, 512u * 1024);
  EXPECT_EQ(c.spool.max_age, 90min);
  EXPECT_EQ(must_parse(std::string(minimal) + "spool: {max_bytes: 4096}\n").spool.max_bytes, 4096u);
  EXPECT_EQ(must_parse(std::string(minimal) + "spool: {sync_interval: 0}\n").spool.sync_interval, 0s)
      << "0: fdatasync after every write";
  EXPECT_EQ(must_parse(std::string(minimal) + "spool: {sync_interval: 5s}\n").spool.sync_interval, 5s);
  EXPECT_EQ(must_parse(std::string(minimal) + "spool: {max_bytes: \"2 GiB\"}\n").spool.max_bytes,
            2ull << 30);
  EXPECT_EQ(must_parse(std::string(minimal) + "  keepalive: 3600\n").cloud.keepalive, 3600s);
  EXPECT_EQ(must_parse(std::string(minimal) + "  keepalive: 1\n").cloud.keepalive, 1s);
  EXPECT_EQ(errors_of(std::string(minimal) + "  keepalive: 61m\n"),
            std::vector<std::string>{
                "t.yaml:4:14: keepalive must be between 1 and 3600 seconds (got 61m)"});
  EXPECT_EQ(
      must_parse(std::string(minimal) + "  reconnect: {min: 5, max: 5}\n").cloud.reconnect_max, 5s);
}

TEST(values, ranges_at_their_edges) {
  EXPECT_EQ(must_parse(std::string(minimal) + "  port: 1\n").cloud.port, 1);
  EXPECT_EQ(must_parse(std::string(minimal) + "  port: 65535\n").cloud.port, 65535);
  EXPECT_EQ(
      errors_of(std::string(minimal) + "  port: 65536\n"),
      std::vector<std::string>{"t.yaml:4:9: port must be an integer in 1..65535 (got 65536)"});
  EXPECT_EQ(errors_of(std::string(minimal) + "  port: 99999999999999999999999\n"),
            std::vector<std::string>{
                "t.yaml:4:9: port must be an integer in 1..65535 (got 99999999999999999999999)"});
  EXPECT_EQ(must_parse(std::string(minimal) + "max_topic_streams: 1\n").max_topic_streams, 1u);
  EXPECT_EQ(must_parse(std::string(minimal) + "max_topic_streams: 4294967295\n").max_topic_streams,
            4294967295u);
  EXPECT_EQ(errors_of(std::string(minimal) + "max_topic_streams: 4294967296\n").size(), 1u);
  for (const char* b : {"true", "True", "TRUE"}) {
    EXPECT_TRUE(must_parse(std::string(minimal) + "  tls: " + b + "\n").cloud.tls) << b;
  }
  for (const char* b : {"false", "False", "FALSE"}) {
    EXPECT_FALSE(must_parse(std::string(minimal) + "  tls: " + b + "\n").cloud.tls) << b;
  }
  // YAML 1.1 booleans are not booleans here: "no" is Norway.
  for (const char* b : {"yes", "no", "on", "off", "y", "1"}) {
    EXPECT_EQ(errors_of(std::string(minimal) + "  tls: " + b + "\n").size(), 1u) << b;
  }
  // Explicit core tags are honoured.
  EXPECT_EQ(must_parse(std::string(minimal) + "  port: !!int 1234\n").cloud.port, 1234);
  EXPECT_EQ(must_parse("cloud: {username: !!str 1234, device: d}\n").cloud.username, "1234");
}

TEST(values, strings_keep_what_the_user_typed) {
  const auto c = must_parse("cloud:\n  username: 0123\n  device: 1e3\n");
  EXPECT_EQ(c.cloud.username, "0123");
  EXPECT_EQ(c.cloud.device, "1e3");
}

// ---- topics and names ------------------------------------------------------------

TEST(topics, placeholders_pair_with_wildcards_on_both_sides) {
  const auto c = must_parse(std::string(minimal) + R"(resources:
  zigbee/:name: {read: zigbee2mqtt/+, write: zigbee2mqtt/+/set}
  files/:dev/*path: {read: "files/+/#", write: "put/+/#"}
  "a/:x/:y": {read: a/+/+}
streams:
  - {local: "tele/+/SENSOR", cloud: "gw/+/sensor"}
  - {local: "a/+/b/#", cloud: "+/x/#"}
)");
  EXPECT_EQ(c.resources.size(), 3u);
  EXPECT_EQ(c.streams.size(), 2u);
}

TEST(topics, the_longest_topic_is_65535_bytes) {
  const std::string ok(65535, 't');
  const std::string too_long(65536, 't');
  EXPECT_EQ(must_parse(std::string(minimal) + "resources:\n  r: {read: " + ok + "}\n")
                .resources.at(0)
                .read,
            ok);
  const auto e = errors_of(std::string(minimal) + "resources:\n  r: {read: " + too_long + "}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], "t.yaml:5:13: invalid read topic '" + std::string(57, 't') +
                      "...': a topic must not be longer than 65535 bytes");
}

TEST(topics, messages_escape_control_characters) {
  const auto e = errors_of(std::string(minimal) + "resources:\n  r: {read: \"a\\tb+\"}\n");
  EXPECT_EQ(e, std::vector<std::string>{
                   "t.yaml:5:13: invalid read topic 'a\\x09b+': '+' must be alone in its level"});
}

TEST(topics, status_topic_default_follows_device) {
  const auto c = must_parse("cloud: {username: u, device: kitchen-pi}\n");
  EXPECT_EQ(c.mqtt.status_topic, "iotmp-gateway/kitchen-pi/status");
  EXPECT_EQ(c.mqtt.client_id, "iotmp-gateway-kitchen-pi");
  const auto d =
      must_parse("cloud: {username: u, device: x}\nmqtt: {status_topic: a/b, client_id: c}\n");
  EXPECT_EQ(d.mqtt.status_topic, "a/b");
  EXPECT_EQ(d.mqtt.client_id, "c");
}

TEST(topics, resources_keep_file_order) {
  const auto c = must_parse(std::string(minimal) +
                            "resources:\n  z: {read: z}\n  a: {read: a}\n  m/:x: {read: m/+}\n");
  ASSERT_EQ(c.resources.size(), 3u);
  EXPECT_EQ(c.resources[0].name, "z");
  EXPECT_EQ(c.resources[1].name, "a");
  EXPECT_EQ(c.resources[2].name, "m/:x");
}

// ---- paths -----------------------------------------------------------------------

TEST(paths, relative_paths_resolve_against_the_file_directory) {
  const auto c = must_parse(std::string(minimal) + R"(  credential_file: cred
  ca_file: ../ca.pem
mqtt:
  uri: ssl://b:8883
  username: gw
  password_file: secrets/mqtt
  tls: {ca_file: ca.crt, cert_file: /abs/c.crt, key_file: c.key}
spool: {dir: spool}
)",
                            "/srv/gw/conf/gateway.yaml");
  EXPECT_EQ(c.cloud.credential_file, "/srv/gw/conf/cred");
  EXPECT_EQ(c.cloud.ca_file, "/srv/gw/conf/../ca.pem");
  EXPECT_EQ(c.mqtt.password_file, "/srv/gw/conf/secrets/mqtt");
  EXPECT_EQ(c.mqtt.tls.ca_file, "/srv/gw/conf/ca.crt");
  EXPECT_EQ(c.mqtt.tls.cert_file, "/abs/c.crt");
  EXPECT_EQ(c.mqtt.tls.key_file, "/srv/gw/conf/c.key");
  EXPECT_EQ(c.spool.dir, "/srv/gw/conf/spool");
}

TEST(paths, a_relative_config_path_gives_absolute_paths) {
  const auto c = must_parse(std::string(minimal) + "  credential_file: cred\n", "etc/demo.yaml");
  EXPECT_EQ(c.cloud.credential_file, (fs::current_path() / "etc" / "cred").string());
  const auto d = must_parse(std::string(minimal) + "  credential_file: cred\n", "demo.yaml");
  EXPECT_EQ(d.cloud.credential_file, (fs::current_path() / "cred").string());
}

// ---- reporting ---------------------------------------------------------------------

TEST(reporting, diagnostics_format_like_a_compiler) {
  EXPECT_EQ(to_string(diagnostic{"/etc/g.yaml", 3, 7, "qos must be an integer in 0..2 (got 3)"}),
            "/etc/g.yaml:3:7: qos must be an integer in 0..2 (got 3)");
  EXPECT_EQ(to_string(diagnostic{"/etc/cred", 0, 0, "the credential file is empty"}),
            "/etc/cred: the credential file is empty");
}

TEST(reporting, all_errors_in_file_order_then_files) {
  const auto r = parse(R"(log: {level: loud}
cloud:
  username: alice
  device: gw01
  credential_file: /nonexistent/iotmp-test/cred
  port: 0
)",
                       "t.yaml", options({}, true));
  EXPECT_EQ(lines(r), (std::vector<std::string>{
                          "t.yaml:1:14: level must be one of error, warn, info, debug (got loud)",
                          "t.yaml:6:9: port must be an integer in 1..65535 (got 0)",
                          "/nonexistent/iotmp-test/cred: cannot read the credential file: No such "
                          "file or directory",
                      }));
  EXPECT_FALSE(r.config.has_value());
}

TEST(reporting, an_alias_used_twice_reports_once) {
  const auto e = errors_of(std::string(minimal) + "resources:\n  a: &bad {read: x/+}\n  b: *bad\n");
  // Different resources, different messages; the same message at the same place is folded.
  ASSERT_EQ(e.size(), 2u);
  const auto f =
      errors_of(std::string(minimal) + "streams:\n  - &s {local: a/+, cloud: b}\n  - *s\n");
  EXPECT_EQ(f.size(), 1u);
}

TEST(reporting, cyclic_aliases_do_not_hang) {
  EXPECT_FALSE(errors_of("cloud: &c {username: a, device: b, x: *c}\n").empty());
  EXPECT_FALSE(errors_of(std::string(minimal) + "streams: &s [*s]\n").empty());
  EXPECT_FALSE(errors_of("a: &a [*a]\n").empty());
}

TEST(reporting, garbage_never_throws) {
  const std::string inputs[] = {"",
                                "\0",
                                std::string("\0\0\0", 3),
                                "{",
                                "}",
                                "[",
                                ":",
                                "- -",
                                "!!binary 12",
                                "&a",
                                "*a",
                                "? [a]\n: b",
                                "%YAML 9.9\n---\na: 1",
                                "cloud: !!map {}",
                                "\xff\xfe\x00\x00",
                                "cloud:\n  - a\n  - b"};
  for (const auto& in : inputs) {
    load_result r;
    EXPECT_NO_THROW(r = parse(in, "g.yaml", options())) << in;
    EXPECT_FALSE(r.ok()) << in;
    EXPECT_FALSE(r.diagnostics.empty()) << in;
  }
}

// yaml-cpp 0.7's LoadAll never returns on these (a ',' outside any flow
// collection yields endless empty documents); the loader reads two at most.
TEST(reporting, inputs_that_hang_yaml_cpp_load_all_return) {
  const std::string inputs[] = {",", ", b", "- a\n, b\n", "---\n,", "a: b\n---\n, c", "\"x\"\n,",
                                "&x ,", "!t ,", "[a]\n, b",
                                // found by config_fuzz
                                std::string("- cloud\n- mq\0 cloud\n, mq\0\x0f\x0f\n", 28)};
  for (const auto& in : inputs) {
    const auto r = parse(in, "g.yaml", options());
    EXPECT_FALSE(r.ok()) << in;
    EXPECT_FALSE(r.diagnostics.empty()) << in;
  }
  EXPECT_EQ(lines(parse("cloud: {username: a, device: b}\n---\n,\n", "g.yaml", options())),
            std::vector<std::string>{"g.yaml:3:1: unexpected ',' outside a flow collection"});
}

TEST(reporting, many_errors_stay_linear) {
  std::string text = minimal;
  for (int i = 0; i < 30000; ++i) text += "unknown" + std::to_string(i) + ": 1\n";
  text += "resources:\n";
  for (int i = 0; i < 30000; ++i) text += "  r" + std::to_string(i) + ": {read: x/+}\n";
  const auto r = parse(text, "g.yaml", options());
  EXPECT_EQ(r.diagnostics.size(), 60000u);
}

// yaml-cpp 0.7 guards its recursion (DeepRecursion); the tree is then never
// deeper than that guard, so neither building nor freeing it exhausts the stack.
TEST(reporting, deep_nesting_is_an_error_not_a_crash) {
  const auto flow = errors_of("cloud: " + std::string(100000, '[') + std::string(100000, ']'));
  ASSERT_EQ(flow.size(), 1u);
  EXPECT_TRUE(flow[0].ends_with(": nesting too deep")) << flow[0];
  std::string block;
  for (int i = 0; i < 3000; ++i) block += std::string(i, ' ') + "a:\n";
  const auto nested = errors_of(block);
  ASSERT_EQ(nested.size(), 1u);
  EXPECT_TRUE(nested[0].ends_with(": nesting too deep")) << nested[0];
  std::string dashes;
  for (int i = 0; i < 3000; ++i) dashes += "- ";
  EXPECT_TRUE(errors_of(dashes + "x\n").at(0).ends_with(": nesting too deep"));
  // Nesting the guard lets through is still refused by the schema, quickly.
  EXPECT_FALSE(
      errors_of(std::string(minimal) + "streams: " + std::string(300, '[') + std::string(300, ']'))
          .empty());
}

TEST(reporting, complex_keys_are_refused) {
  EXPECT_EQ(errors_of(std::string(minimal) + "? [a, b]\n: c\n"),
            std::vector<std::string>{"t.yaml:4:3: a key must be a plain name"});
}

TEST(load_file, a_missing_file_is_one_unplaced_error) {
  const auto r = load_file("/nonexistent/iotmp-test/gateway.yaml", options());
  EXPECT_EQ(lines(r),
            std::vector<std::string>{"/nonexistent/iotmp-test/gateway.yaml: cannot "
                                     "read the configuration: No such file or directory"});
}

TEST(load_file, a_directory_is_refused) {
  temp_dir dir;
  const auto r = load_file(dir.path().string(), options());
  EXPECT_EQ(lines(r),
            std::vector<std::string>{dir.path().string() +
                                     ": cannot read the configuration: it is a directory"});
}

TEST(load_file, reads_and_resolves_against_its_directory) {
  temp_dir dir;
  write_text(dir / "g.yaml", std::string(minimal) + "  credential_file: cred\n", fs::perms(0644));
  const auto r = load_file((dir / "g.yaml").string(), options());
  ASSERT_TRUE(r.ok()) << testing::PrintToString(lines(r));
  EXPECT_EQ(r.config->path, (dir / "g.yaml").string());
  EXPECT_EQ(r.config->cloud.credential_file, (dir / "cred").string());
}

TEST(load_file, loading_twice_gives_equal_configs) {
  // SIGHUP reload diffs two loads; an unchanged file must compare equal.
  const auto path = (source_dir() / "etc" / "gateway.yaml").string();
  const auto a = load_file(path, options());
  const auto b = load_file(path, options());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a.config, *b.config);
}

// ---- the shipped files ----------------------------------------------------------------

TEST(shipped, example_config_loads_clean) {
  const auto r = load_file((source_dir() / "etc" / "gateway.yaml").string(), options());
  ASSERT_TRUE(r.ok()) << testing::PrintToString(lines(r));
  const auto& c = *r.config;
  EXPECT_EQ(c.cloud.host, "iot.thinger.io");
  EXPECT_EQ(c.cloud.port, 25206);
  EXPECT_TRUE(c.cloud.tls);
  EXPECT_EQ(c.cloud.credential_file, "/nonexistent/iotmp-gateway-test/credential")
      << "the example must not name a credential file: the default order applies";
  EXPECT_EQ(check_summary(c), "ok: 7 resources, 3 streams");
  const auto text = read_text(source_dir() / "etc" / "gateway.yaml");
  EXPECT_EQ(text.find("credential:"), std::string::npos);
  EXPECT_EQ(text.find("password:"), std::string::npos);
}

TEST(shipped, demo_config_loads_clean_and_points_at_the_devserver) {
  const auto r = load_file((source_dir() / "etc" / "demo.yaml").string(), options());
  ASSERT_TRUE(r.ok()) << testing::PrintToString(lines(r));
  const auto& c = *r.config;
  EXPECT_EQ(c.cloud.host, "127.0.0.1");
  EXPECT_EQ(c.cloud.port, 25204);
  EXPECT_FALSE(c.cloud.tls);
  EXPECT_EQ(c.cloud.username, "demo");
  EXPECT_EQ(c.cloud.device, "gateway01");
  EXPECT_EQ(fs::path(c.cloud.credential_file), source_dir() / "etc" / "demo-credential");
  EXPECT_TRUE(c.spool.dir.starts_with("/tmp/"));
  EXPECT_EQ(check_summary(c), "ok: 7 resources, 3 streams");
}

TEST(shipped, demo_and_example_map_the_same_topics) {
  const auto a = load_file((source_dir() / "etc" / "gateway.yaml").string(), options());
  const auto b = load_file((source_dir() / "etc" / "demo.yaml").string(), options());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a.config->resources, b.config->resources);
  EXPECT_EQ(a.config->streams, b.config->streams);
}

TEST(shipped, valid_test_files_load_clean) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(source_dir() / "tests" / "config" / "valid")) {
    const auto r = load_file(e.path().string(), options());
    EXPECT_TRUE(r.ok()) << e.path() << testing::PrintToString(lines(r));
    ++n;
  }
  EXPECT_GE(n, 3u);
}

// ---- --check summary --------------------------------------------------------------------

TEST(check_summary, plural_always_and_both_counts_once) {
  EXPECT_EQ(check_summary(must_parse(minimal)), "ok: 0 resources, 0 streams");
  EXPECT_EQ(check_summary(must_parse(std::string(minimal) +
                                     "resources:\n  lamp: {read: l}\n"
                                     "streams:\n  - {local: chat, scope: both}\n")),
            "ok: 1 resources, 1 streams");
  EXPECT_EQ(check_summary(must_parse(std::string(minimal) +
                                     "resources:\n  a: {read: a}\n  b: {write: b}\n"
                                     "streams:\n  - {local: x}\n  - {local: y, scope: subscribe}\n"
                                     "  - {local: z/#, scope: both}\n")),
            "ok: 2 resources, 3 streams");
}

}  // namespace
