// The MQTT link against a real mosquitto on a loopback port, with Paho
// clients (test_support::mqtt_peer) on the other side.
#include "iotmp_gateway/mqtt/link.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <netinet/tcp.h>

#include "net/net_support.hpp"
#include "support/loop.hpp"
#include "support/mosquitto.hpp"
#include "support/mqtt_peer.hpp"

using namespace std::chrono_literals;
using iotgw::bridge::link_state;
using test_support::run_until;

namespace {

class link_test : public test_support::loop_test {
 protected:
  iotgw::mqtt::link_config config() {
    iotgw::mqtt::link_config c;
    c.uri = broker.uri();
    c.client_id = "gw-under-test";
    c.status_topic = "iotmp-gateway/gw1/status";
    c.reconnect_min = 1s;
    c.reconnect_max = 2s;
    return c;
  }
  iotgw::mqtt::link_handlers handlers() {
    iotgw::mqtt::link_handlers h;
    h.on_message = [this](std::string_view topic, std::string_view payload, bool retained) {
      received.push_back({std::string(topic), std::string(payload), retained, 0});
    };
    h.on_connected = [this] { ++connects; };
    h.on_connection_lost = [this](std::string_view) { ++losses; };
    h.log = [this](int, std::string_view text) { logs.emplace_back(text); };
    return h;
  }
  bool connected(iotgw::mqtt::link& l) {
    return run_until(loop_, [&] { return l.state() == link_state::connected; }, 10s);
  }

  test_support::mosquitto_broker broker;
  std::vector<test_support::received_message> received;
  int connects = 0;
  int losses = 0;
  std::vector<std::string> logs;
};

TEST_F(link_test, receives_subscribed_messages_including_retained_ones) {
  test_support::mqtt_peer sensor(broker.uri(), "sensor");
  sensor.publish("zigbee2mqtt/kitchen", R"({"temperature":21.5})", 1, true);
  iotgw::mqtt::link l(loop_, config(), handlers());
  l.set_subscriptions({{"zigbee2mqtt/+", 1}, {"alerts/#", 0}});
  l.start();
  ASSERT_TRUE(connected(l));
  ASSERT_TRUE(run_until(loop_, [&] { return received.size() == 1; }));
  EXPECT_EQ(received[0].topic, "zigbee2mqtt/kitchen");
  EXPECT_TRUE(received[0].retained) << "retained state fills the cache at start";
  sensor.publish("alerts/fire", "kitchen", 1);
  sensor.publish("other/topic", "ignored", 1);
  ASSERT_TRUE(run_until(loop_, [&] { return received.size() == 2; }));
  EXPECT_EQ(received[1].topic, "alerts/fire");
  EXPECT_EQ(received[1].payload, "kitchen");
  EXPECT_FALSE(received[1].retained);
  l.stop();
}

TEST_F(link_test, publishes_complete_after_the_broker_accepted_them) {
  test_support::mqtt_peer watcher(broker.uri(), "watcher");
  watcher.subscribe("lamp/#");
  iotgw::mqtt::link l(loop_, config(), handlers());
  l.set_subscriptions({{"lamp/#", 1}});
  l.start();
  ASSERT_TRUE(connected(l));
  int done = 0;
  for (unsigned qos : {0u, 1u, 2u}) {
    l.publish("lamp/set", "ON" + std::to_string(qos), qos, false, [&](bool ok, std::string_view e) {
      EXPECT_TRUE(ok) << e;
      ++done;
    });
  }
  ASSERT_TRUE(run_until(loop_, [&] { return done == 3; }));
  ASSERT_TRUE(watcher.wait_count("lamp/set", 3));
  EXPECT_EQ(l.published(), 4u) << "three, and the retained \"online\" on the status topic";
  // No Local: our own publications do not come back to us.
  loop_.run(UV_RUN_NOWAIT);
  EXPECT_TRUE(received.empty());
  l.stop();
}

TEST_F(link_test, status_topic_is_online_and_offline_on_clean_stop) {
  test_support::mqtt_peer watcher(broker.uri(), "watcher");
  watcher.subscribe("iotmp-gateway/gw1/status");
  {
    iotgw::mqtt::link l(loop_, config(), handlers());
    l.start();
    ASSERT_TRUE(connected(l));
    ASSERT_TRUE(watcher.wait_count("iotmp-gateway/gw1/status", 1));
    EXPECT_EQ(watcher.on("iotmp-gateway/gw1/status")[0].payload, "online");
    l.stop();
  }
  ASSERT_TRUE(watcher.wait_count("iotmp-gateway/gw1/status", 2));
  EXPECT_EQ(watcher.on("iotmp-gateway/gw1/status")[1].payload, "offline");
  // Retained: a newcomer sees the last state.
  test_support::mqtt_peer late(broker.uri(), "late");
  late.subscribe("iotmp-gateway/gw1/status");
  ASSERT_TRUE(late.wait_count("iotmp-gateway/gw1/status", 1));
  EXPECT_EQ(late.on("iotmp-gateway/gw1/status")[0].payload, "offline");
  EXPECT_TRUE(late.on("iotmp-gateway/gw1/status")[0].retained);
}

TEST_F(link_test, graceful_stop_waits_until_the_broker_has_stored_offline) {
  iotgw::mqtt::link l(loop_, config(), handlers());
  l.start();
  ASSERT_TRUE(connected(l));
  bool done = false;
  l.stop_gracefully(2s, [&] { done = true; });
  EXPECT_FALSE(done) << "waits for the broker's PUBACK on the loop";
  EXPECT_EQ(l.state(), link_state::connected) << "still usable while it waits";
  ASSERT_TRUE(run_until(loop_, [&] { return done; }, 5s));
  EXPECT_EQ(l.state(), link_state::disconnected);
  // Stored before done: a newcomer gets it at once, with no will involved.
  test_support::mqtt_peer late(broker.uri(), "late");
  late.subscribe("iotmp-gateway/gw1/status");
  ASSERT_TRUE(late.wait_count("iotmp-gateway/gw1/status", 1));
  EXPECT_EQ(late.on("iotmp-gateway/gw1/status")[0].payload, "offline");
}

TEST_F(link_test, graceful_stop_without_a_broker_is_done_at_once) {
  broker.stop();
  iotgw::mqtt::link l(loop_, config(), handlers());
  l.start();
  bool done = false;
  l.stop_gracefully(2s, [&] { done = true; });
  EXPECT_TRUE(done);
  EXPECT_EQ(l.state(), link_state::disconnected);
}

TEST_F(link_test, reconnects_and_resubscribes_after_a_broker_restart) {
  iotgw::mqtt::link l(loop_, config(), handlers());
  l.set_subscriptions({{"sensors/#", 1}});
  l.start();
  ASSERT_TRUE(connected(l));
  broker.stop();
  ASSERT_TRUE(run_until(loop_, [&] { return l.state() != link_state::connected; }));
  EXPECT_EQ(losses, 1);
  // Publishing while the broker is down fails at once, with a reason.
  std::string error;
  l.publish("lamp/set", "x", 1, false, [&](bool ok, std::string_view e) {
    EXPECT_FALSE(ok);
    error = e;
  });
  EXPECT_EQ(error, "not connected to the local broker");
  broker.start();
  ASSERT_TRUE(run_until(loop_, [&] { return l.state() == link_state::connected; }, 20s));
  test_support::mqtt_peer sensor(broker.uri(), "sensor");
  // The subscription is back: poll by publishing until a message arrives.
  ASSERT_TRUE(run_until(loop_, [&] {
    if (received.empty()) sensor.publish("sensors/t", "1", 1);
    return !received.empty();
  }, 10s));
  EXPECT_GE(connects, 2);
  l.stop();
}

TEST_F(link_test, first_connect_failure_is_retried) {
  broker.stop();
  iotgw::mqtt::link l(loop_, config(), handlers());
  l.start();
  ASSERT_TRUE(run_until(loop_, [&] { return l.state() == link_state::connecting; }));
  broker.start();
  EXPECT_TRUE(run_until(loop_, [&] { return l.state() == link_state::connected; }, 20s));
  l.stop();
}

TEST_F(link_test, subscriptions_change_while_connected) {
  test_support::mqtt_peer sensor(broker.uri(), "sensor");
  iotgw::mqtt::link l(loop_, config(), handlers());
  l.set_subscriptions({{"a/#", 1}});
  l.start();
  ASSERT_TRUE(connected(l));
  l.set_subscriptions({{"b/#", 1}});
  // Once b/x arrives the broker has handled the UNSUBSCRIBE sent before it.
  ASSERT_TRUE(run_until(loop_, [&] {
    if (received.empty()) sensor.publish("b/x", "first", 1);
    return !received.empty();
  }));
  received.clear();
  sensor.publish("a/x", "old", 1);
  sensor.publish("b/x", "new", 1);
  ASSERT_TRUE(run_until(loop_, [&] { return !received.empty(); }));
  for (const auto& m : received) EXPECT_EQ(m.topic, "b/x") << "a/# was unsubscribed";
  l.stop();
}

TEST_F(link_test, thousands_of_filters_are_subscribed_in_few_packets) {
  std::vector<iotgw::bridge::subscription> subs;
  for (int i = 0; i < 5000; ++i) subs.push_back({"many/" + std::to_string(i), 1});
  iotgw::mqtt::link l(loop_, config(), handlers());
  l.set_subscriptions(subs);
  l.start();
  ASSERT_TRUE(connected(l));
  test_support::mqtt_peer sensor(broker.uri(), "sensor");
  // The last filter of the last SUBSCRIBE works, and so does the first.
  ASSERT_TRUE(run_until(loop_, [&] {
    if (received.empty()) sensor.publish("many/4999", "last", 1);
    return !received.empty();
  }, 10s));
  sensor.publish("many/0", "first", 1);
  // The poll above may have sent "last" more than once: look for "first" among all.
  EXPECT_TRUE(run_until(loop_, [&] {
    return std::any_of(received.begin(), received.end(), [](const auto& m) { return m.payload == "first"; });
  }));
  l.stop();
}

// mosquitto with a TLS listener next to the plain one (the Paho peers use that).
class link_tls_test : public link_test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pki.ok());
    ASSERT_TRUE(pki.make_client_certificate());
    // mosquitto started as root drops to its own user, which must read the key.
    std::filesystem::permissions(pki.file("server.key"), std::filesystem::perms::others_read,
                                 std::filesystem::perm_options::add);
    tls_broker.emplace(test_support::tls_listener{pki.file("server.pem"), pki.file("server.key"),
                                                  pki.file("ca.pem"), true});
  }
  iotgw::mqtt::link_config tls_config() {
    auto c = config();
    c.uri = tls_broker->tls_uri();
    c.ca_file = pki.file("ca.pem");
    c.cert_file = pki.file("client.pem");
    c.key_file = pki.file("client.key");
    return c;
  }
  net_test::test_pki pki;
  std::optional<test_support::mosquitto_broker> tls_broker;
};

TEST_F(link_tls_test, connects_with_a_client_certificate_and_carries_messages_both_ways) {
  test_support::mqtt_peer peer(tls_broker->uri(), "plain-peer");
  peer.subscribe("lamp/#");
  iotgw::mqtt::link l(loop_, tls_config(), handlers());
  l.set_subscriptions({{"sensors/#", 1}});
  l.start();
  ASSERT_TRUE(connected(l));
  ASSERT_TRUE(run_until(loop_, [&] {
    if (received.empty()) peer.publish("sensors/t", "21", 1);
    return !received.empty();
  }, 10s));
  EXPECT_EQ(received[0].payload, "21");
  bool done = false;
  l.publish("lamp/set", "ON", 1, false, [&](bool ok, std::string_view e) {
    EXPECT_TRUE(ok) << e;
    done = true;
  });
  ASSERT_TRUE(run_until(loop_, [&] { return done; }));
  ASSERT_TRUE(peer.wait_count("lamp/set", 1));
  l.stop();
}

TEST_F(link_tls_test, broker_with_an_untrusted_certificate_is_refused_with_the_reason) {
  auto c = tls_config();
  c.ca_file = pki.file("other-ca.pem");
  iotgw::mqtt::link l(loop_, c, handlers());
  l.start();
  ASSERT_TRUE(run_until(loop_, [&] { return !logs.empty(); }, 10s));
  EXPECT_NE(logs[0].find("connect failed"), std::string::npos) << logs[0];
  EXPECT_NE(logs[0].find("certificate verify failed"), std::string::npos) << logs[0];
  EXPECT_EQ(l.state(), link_state::connecting);
  EXPECT_EQ(connects, 0);
  l.stop();
}

TEST_F(link_tls_test, missing_client_key_is_a_configuration_error) {
  auto c = tls_config();
  c.key_file = pki.file("no-such.key");
  EXPECT_THROW(iotgw::mqtt::link(loop_, c, handlers()), iotgw::net::tls_config_error);
}

TEST_F(link_tls_test, without_a_client_certificate_the_broker_refuses) {
  auto c = tls_config();
  c.cert_file.clear();
  c.key_file.clear();
  iotgw::mqtt::link l(loop_, c, handlers());
  l.start();
  ASSERT_TRUE(run_until(loop_, [&] { return !logs.empty(); }, 10s));
  EXPECT_NE(logs[0].find("connect failed"), std::string::npos) << logs[0];
  EXPECT_EQ(connects, 0);
  l.stop();
}

}  // namespace
