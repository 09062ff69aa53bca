// SIGHUP against the real iotmp-gateway binary: a resource added by a reload is
// callable at once, on the same cloud session and the same MQTT session; a
// broken file leaves the old configuration serving.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "iotmp_gateway/devserver/registry.hpp"
#include "iotmp_gateway/devserver/server.hpp"
#include "iotmp_gateway/devserver/topic_table.hpp"
#include "support/loop.hpp"
#include "support/mosquitto.hpp"
#include "support/mqtt_peer.hpp"
#include "support/process.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace ds = iotgw::devserver;
using iotgw::pson::value;

namespace {

class reload_test : public test_support::loop_test {
 protected:
  reload_test() : registry(topics), server(loop_, registry, options()) {
    EXPECT_TRUE(server.start().ok());
    dir = fs::temp_directory_path() / ("iotmp-reload-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(server.port()));
    fs::create_directories(dir);
    std::ofstream(dir / "credential") << "secret\n";
    fs::permissions(dir / "credential", fs::perms::owner_read | fs::perms::owner_write);
  }
  ~reload_test() override {
    gateway.stop();
    server.close();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  static ds::server_options options() {
    ds::server_options o;
    o.port = 0;
    o.allow_any = true;
    return o;
  }
  void write_config(const std::string& resources) {
    std::ofstream(dir / "gateway.yaml.tmp")
        << "cloud:\n  host: 127.0.0.1\n  port: " << server.port()
        << "\n  tls: false\n  username: u\n  device: d\n  credential_file: credential\n"
        << "mqtt:\n  uri: " << broker.uri() << "\n  status_topic: gw/d/status\n"
        << "resources:\n" << resources;
    fs::rename(dir / "gateway.yaml.tmp", dir / "gateway.yaml");  // never half a file
  }
  // RUN until it answers OK with a payload, or the deadline.
  std::optional<value> read(const std::string& resource, std::chrono::milliseconds deadline = 10s) {
    std::optional<value> got;
    bool pending = false;
    test_support::run_until(loop_, [&] {
      if (!pending && !got) {
        pending = registry.run(device, resource, std::nullopt, [&](const ds::request_result& r) {
          pending = false;
          if (r.status == ds::request_status::ok && r.payload) got = r.payload;
        }) == ds::request_status::ok;
      }
      return got.has_value();
    }, deadline);
    // A request still in flight would call back into this frame's locals.
    test_support::run_until(loop_, [&] { return !pending; }, 5s);
    return got;
  }

  test_support::mosquitto_broker broker;
  ds::topic_table topics;
  ds::device_registry registry;
  ds::server server;
  fs::path dir;
  ds::device_id device{"u", "d"};
  test_support::child_process gateway;
};

TEST_F(reload_test, added_resource_works_on_the_same_sessions_and_a_broken_file_changes_nothing) {
  test_support::mqtt_peer sensors(broker.uri(), "sensors");
  sensors.publish("sensors/temp", "21.5", 1, true);
  sensors.publish("sensors/hum", "48", 1, true);
  sensors.subscribe("gw/d/status");
  write_config("  temperature:\n    read: sensors/temp\n");
  gateway.start({IOTMP_GATEWAY_BINARY, "-c", (dir / "gateway.yaml").string()});
  ASSERT_TRUE(test_support::run_until(loop_, [&] { return registry.connected(device); }, 15s));
  ASSERT_EQ(read("temperature"), value(21.5));
  ASSERT_TRUE(sensors.wait_count("gw/d/status", 1));
  const auto connects_before = server.connect_attempts().size();

  write_config("  temperature:\n    read: sensors/temp\n  humidity:\n    read: sensors/hum\n");
  ::kill(gateway.pid(), SIGHUP);
  EXPECT_EQ(read("humidity"), value(48)) << "the new resource answers with the retained value";
  EXPECT_EQ(read("temperature"), value(21.5)) << "the old one still does";
  EXPECT_EQ(server.connect_attempts().size(), connects_before) << "no new CONNECT on the cloud side";
  EXPECT_EQ(server.accepted_connections(), 1u);
  // Every MQTT (re)connect publishes "online": still exactly one.
  EXPECT_EQ(sensors.on("gw/d/status").size(), 1u) << "no MQTT reconnect";

  std::ofstream(dir / "gateway.yaml") << "resources:\n  temperature: [unclosed\n";
  ::kill(gateway.pid(), SIGHUP);
  // The old configuration keeps serving, both resources included: a new value
  // on the added resource's topic still reaches the cloud.
  sensors.publish("sensors/hum", "49", 1, true);
  const auto until = std::chrono::steady_clock::now() + 10s;
  std::optional<value> humidity;
  while (humidity != value(49) && std::chrono::steady_clock::now() < until) humidity = read("humidity");
  EXPECT_EQ(humidity, value(49));
  EXPECT_TRUE(gateway.running());
  EXPECT_EQ(read("temperature"), value(21.5));
  EXPECT_EQ(server.accepted_connections(), 1u);

  ::kill(gateway.pid(), SIGTERM);
  ASSERT_TRUE(test_support::wait_for([&] { return !gateway.running(); }, 5s));
  EXPECT_EQ(WEXITSTATUS(gateway.exit_status()), 0);
}

}  // namespace
