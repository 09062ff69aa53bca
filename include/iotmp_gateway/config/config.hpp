// The gateway's configuration (SPEC §3), as loaded and validated from YAML.
// Plain data: the loader fills it, the daemon diffs two of them on reload.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "iotmp_gateway/iotmp/mqtt_stream.hpp"

namespace iotgw::config {

// How MQTT payloads become PSON values and back (SPEC §5).
enum class payload_format : std::uint8_t { auto_detect, json, string, number, bytes };

struct cloud_config {
  std::string host = "iot.thinger.io";
  std::uint16_t port = 25206;  // 25206 with TLS, 25204 without, unless given
  bool tls = true;
  std::string ca_file;  // empty: the system store
  bool insecure_skip_verify = false;
  std::string username;
  std::string device;
  std::string credential_file;  // resolved path the credential was read from
  std::string credential;       // never logged
  std::chrono::seconds keepalive{60};
  std::chrono::seconds reconnect_min{1};
  std::chrono::seconds reconnect_max{60};
  iotmp::mqtt_stream_scheme mqtt_streams = iotmp::mqtt_stream_scheme::spec;

  bool operator==(const cloud_config&) const = default;
};

struct mqtt_tls_config {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool operator==(const mqtt_tls_config&) const = default;
};

struct mqtt_config {
  std::string uri = "tcp://localhost:1883";
  std::string client_id;  // default iotmp-gateway-<device>
  std::string username;
  std::string password_file;
  std::string password;  // read from password_file; never logged
  mqtt_tls_config tls;
  std::string status_topic;  // default iotmp-gateway/<device>/status
  // MQTT keep-alive: a broker connection that went silent is noticed after
  // about 2 x this (a PINGREQ after one interval of silence, then one more
  // interval for any answer).
  std::chrono::seconds keepalive{30};

  bool operator==(const mqtt_config&) const = default;
};

struct resource_config {
  std::string name;  // resource path, may hold :x / *x placeholders
  std::string read;  // topic filter to subscribe ('+'/'#' for the placeholders); may be empty
  std::string write;  // topic to publish input to (placeholders substituted); may be empty
  payload_format format = payload_format::auto_detect;
  unsigned qos = 0;  // for the write
  bool retain = false;

  bool operator==(const resource_config&) const = default;
};

struct stream_config {
  std::string local;  // local topic filter
  std::string cloud;  // cloud topic; default: same as local
  iotmp::mqtt_scope scope = iotmp::mqtt_scope::publish;
  unsigned qos = 0;
  bool retained = false;
  payload_format format = payload_format::auto_detect;

  bool operator==(const stream_config&) const = default;
};

struct spool_config {
  std::string dir = "/var/lib/iotmp-gateway";
  std::uint64_t max_bytes = 64ull * 1024 * 1024;
  std::chrono::seconds max_age{7 * 24 * 3600};
  // fdatasync at most this far apart (0: after every write); what a power cut
  // can take. A crash of the process alone loses nothing written.
  std::chrono::seconds sync_interval{1};
  bool operator==(const spool_config&) const = default;
};

enum class log_level : std::uint8_t { error = 3, warn = 4, info = 6, debug = 7 };

struct gateway_config {
  std::string path;  // the file it was loaded from
  cloud_config cloud;
  mqtt_config mqtt;
  std::vector<resource_config> resources;  // in file order
  std::vector<stream_config> streams;      // in file order
  std::uint32_t max_topic_streams = 1000;
  spool_config spool;
  log_level log = log_level::info;

  bool operator==(const gateway_config&) const = default;
};

}  // namespace iotgw::config
