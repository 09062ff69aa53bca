// The Paho link against a real mosquitto on a loopback port.
#include "iotmp_gateway/mqtt/link.hpp"

#include <gtest/gtest.h>

#include <netinet/tcp.h>

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
    return h;
  }
  bool connected(iotgw::mqtt::link& l) {
    return run_until(loop_, [&] { return l.state() == link_state::connected; }, 10s);
  }

  test_support::mosquitto_broker broker;
  std::vector<test_support::received_message> received;
  int connects = 0;
  int losses = 0;
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

TEST_F(link_test, paho_socket_gets_tcp_nodelay) {
  iotgw::mqtt::link l(loop_, config(), handlers());
  l.start();
  ASSERT_TRUE(connected(l));
  // Our own probe: a socket connected to the broker now has TCP_NODELAY set.
  EXPECT_GE(iotgw::mqtt::set_nodelay_on_sockets_to("127.0.0.1", broker.port()), 1);
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

}  // namespace
