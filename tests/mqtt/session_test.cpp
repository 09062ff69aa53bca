// The MQTT client state machine with the broker played by the test: bytes in,
// bytes out, time passed in. The link against a real mosquitto is link_test.
#include "iotmp_gateway/mqtt/session.hpp"

#include <gtest/gtest.h>

#include "support/hex.hpp"

#include <string>
#include <vector>

using namespace iotgw;
using namespace iotgw::mqtt;
using namespace std::chrono_literals;

namespace {

using test_support::bytes;

struct sent_packet {
  packet_type type;
  std::uint8_t flags;
  byte_buffer body;
};

struct outcome {
  int calls = 0;
  bool ok = false;
  std::string error;
};

class session_test : public ::testing::Test {
 protected:
  session_test() : s(options(), handlers()) {}

  virtual session_options options() {
    session_options o;
    o.client_id = "gw";
    o.keepalive = 10s;
    o.max_pending_publishes = 8;
    o.max_filters_per_subscribe = 3;
    return o;
  }
  session_handlers handlers() {
    session_handlers h;
    h.on_open = [this](bool) { ++opens; };
    h.on_message = [this](std::string_view topic, std::string_view payload, bool retained) {
      messages.push_back(std::string(topic) + "=" + std::string(payload) + (retained ? " (retained)" : ""));
    };
    h.on_subscribe_failed = [this](std::string_view filter, std::string_view reason) {
      failed_filters.push_back(std::string(filter) + ": " + std::string(reason));
    };
    h.on_subscribes_answered = [this] { ++answered; };
    return h;
  }

  // Everything the session wants to send, split into packets.
  std::vector<sent_packet> sent() {
    const auto out = s.take_output(now);
    s.output_written(true);
    std::vector<sent_packet> packets;
    std::size_t at = 0;
    while (at < out.size()) {
      std::size_t remaining = 0, i = 1;
      for (;; ++i) {
        remaining |= static_cast<std::size_t>(out[at + i] & 0x7f) << (7 * (i - 1));
        if ((out[at + i] & 0x80) == 0) break;
      }
      const auto body_at = at + i + 1;
      packets.push_back({static_cast<packet_type>(out[at] >> 4), static_cast<std::uint8_t>(out[at] & 15),
                         byte_buffer(out.begin() + static_cast<std::ptrdiff_t>(body_at),
                                     out.begin() + static_cast<std::ptrdiff_t>(body_at + remaining))});
      at = body_at + remaining;
    }
    return packets;
  }
  std::string feed(const byte_buffer& b) { return s.on_data(b, now); }
  std::uint16_t id_of(const sent_packet& p) {
    // PUBLISH: after the topic; acks and SUBSCRIBE: first.
    if (p.type == packet_type::publish) {
      const std::size_t topic = static_cast<std::size_t>(p.body[0] << 8 | p.body[1]);
      return static_cast<std::uint16_t>(p.body[2 + topic] << 8 | p.body[3 + topic]);
    }
    return static_cast<std::uint16_t>(p.body[0] << 8 | p.body[1]);
  }
  void open(const byte_buffer& connack = bytes({0x20, 3, 0, 0, 0})) {
    s.begin(now);
    const auto out = sent();
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].type, packet_type::connect);
    ASSERT_EQ(feed(connack), "");
    ASSERT_EQ(s.current_state(), session::state::open);
  }
  session::publish_done record(outcome& o) {
    return [&o](bool ok, std::string_view error) {
      ++o.calls;
      o.ok = ok;
      o.error = error;
    };
  }
  static byte_buffer ack(int type, std::uint16_t id, int reason = -1) {
    byte_buffer b = bytes({type << 4 | (type == 6 ? 2 : 0), reason < 0 ? 2 : 3, id >> 8, id & 0xff});
    if (reason >= 0) b.push_back(static_cast<std::uint8_t>(reason));
    return b;
  }

  clock::time_point now = clock::time_point{} + 1000s;
  session s;
  int opens = 0;
  int answered = 0;
  std::vector<std::string> messages;
  std::vector<std::string> failed_filters;
};

TEST_F(session_test, connects_then_opens_on_connack) {
  open();
  EXPECT_EQ(opens, 1);
}

TEST_F(session_test, refused_connack_is_the_reason_to_drop) {
  s.begin(now);
  sent();
  EXPECT_EQ(feed(bytes({0x20, 3, 0, 0x86, 0})), "connection refused: Bad User Name or Password");
  EXPECT_EQ(opens, 0);
}

TEST_F(session_test, anything_before_connack_is_a_protocol_error) {
  s.begin(now);
  sent();
  EXPECT_NE(feed(bytes({0xd0, 0})), "");
}

TEST_F(session_test, no_connack_within_the_timeout) {
  s.begin(now);
  sent();
  EXPECT_EQ(s.on_timer(now + 9s), "");
  EXPECT_EQ(s.on_timer(now + 10s), "no CONNACK within 10000 ms");
}

TEST_F(session_test, qos1_message_is_delivered_and_acknowledged) {
  open();
  byte_buffer in;
  append_publish(in, {"a/b", "21.5", 1, true, false, 42});
  ASSERT_EQ(feed(in), "");
  EXPECT_EQ(messages, std::vector<std::string>{"a/b=21.5 (retained)"});
  const auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, packet_type::puback);
  EXPECT_EQ(id_of(out[0]), 42);
}

TEST_F(session_test, qos2_message_is_delivered_once_even_if_resent) {
  open();
  byte_buffer in;
  append_publish(in, {"a", "x", 2, false, false, 7});
  ASSERT_EQ(feed(in), "");
  byte_buffer again;
  append_publish(again, {"a", "x", 2, false, true, 7});
  ASSERT_EQ(feed(again), "");
  EXPECT_EQ(messages.size(), 1u);
  ASSERT_EQ(feed(ack(6, 7)), "");  // PUBREL
  const auto out = sent();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].type, packet_type::pubrec);
  EXPECT_EQ(out[1].type, packet_type::pubrec);
  EXPECT_EQ(out[2].type, packet_type::pubcomp);
  // After PUBCOMP the id is free again: a new message with it is new.
  ASSERT_EQ(feed(in), "");
  EXPECT_EQ(messages.size(), 2u);
}

TEST_F(session_test, many_messages_in_one_read_give_one_output) {
  open();
  byte_buffer in;
  for (std::uint16_t id = 1; id <= 50; ++id) append_publish(in, {"t", "v", 1, false, false, id});
  ASSERT_EQ(feed(in), "");
  EXPECT_EQ(messages.size(), 50u);
  const auto out = sent();
  ASSERT_EQ(out.size(), 50u);
  for (std::uint16_t i = 0; i < 50; ++i) EXPECT_EQ(id_of(out[i]), i + 1);
}

TEST_F(session_test, qos1_publish_completes_on_puback) {
  open();
  outcome o;
  s.publish("lamp/set", "on", 1, false, record(o));
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, packet_type::publish);
  EXPECT_EQ(o.calls, 0);
  ASSERT_EQ(feed(ack(4, id_of(out[0]))), "");
  EXPECT_EQ(o.calls, 1);
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(s.pending_publishes(), 0u);
}

TEST_F(session_test, refused_publish_reports_the_reason) {
  open();
  outcome o;
  s.publish("lamp/set", "on", 1, false, record(o));
  const auto out = sent();
  ASSERT_EQ(feed(ack(4, id_of(out[0]), 0x87)), "");
  EXPECT_EQ(o.calls, 1);
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.error, "broker refused the message: Not authorized");
}

TEST_F(session_test, qos2_publish_goes_through_pubrec_pubrel_pubcomp) {
  open();
  outcome o;
  s.publish("t", "v", 2, false, record(o));
  const auto id = id_of(sent()[0]);
  ASSERT_EQ(feed(ack(5, id)), "");  // PUBREC
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, packet_type::pubrel);
  EXPECT_EQ(out[0].flags, 2);
  EXPECT_EQ(o.calls, 0);
  ASSERT_EQ(feed(ack(7, id)), "");  // PUBCOMP
  EXPECT_EQ(o.calls, 1);
  EXPECT_TRUE(o.ok);
}

TEST_F(session_test, qos0_publish_completes_once_written) {
  open();
  outcome o;
  s.publish("t", "v", 0, false, record(o));
  EXPECT_EQ(o.calls, 0);
  sent();  // output_written(true)
  EXPECT_EQ(o.calls, 1);
  EXPECT_TRUE(o.ok);
}

TEST_F(session_test, publishes_wait_for_the_brokers_receive_maximum) {
  // CONNACK with Receive Maximum 2.
  open(bytes({0x20, 6, 0, 0, 3, 0x21, 0, 2}));
  outcome o[4];
  for (auto& one : o) s.publish("t", "v", 1, false, record(one));
  auto out = sent();
  ASSERT_EQ(out.size(), 2u) << "only two in flight";
  ASSERT_EQ(feed(ack(4, id_of(out[0]))), "");
  auto more = sent();
  ASSERT_EQ(more.size(), 1u) << "one acknowledged, one more goes";
  ASSERT_EQ(feed(ack(4, id_of(out[1]))), "");
  ASSERT_EQ(feed(ack(4, id_of(more[0]))), "");
  auto last = sent();
  ASSERT_EQ(last.size(), 1u);
  ASSERT_EQ(feed(ack(4, id_of(last[0]))), "");
  for (const auto& one : o) EXPECT_EQ(one.calls, 1);
}

TEST_F(session_test, full_queue_and_closed_session_refuse_at_once) {
  outcome closed;
  s.publish("t", "v", 1, false, record(closed));
  EXPECT_EQ(closed.calls, 1);
  EXPECT_EQ(closed.error, "not connected to the local broker");
  open();
  outcome o[9];
  for (auto& one : o) s.publish("t", "v", 1, false, record(one));
  EXPECT_EQ(o[7].calls, 0);
  EXPECT_EQ(o[8].calls, 1);
  EXPECT_EQ(o[8].error, "local publish queue full");
}

TEST_F(session_test, message_over_the_brokers_maximum_packet_size_is_refused) {
  open(bytes({0x20, 8, 0, 0, 5, 0x27, 0, 0, 0, 64}));
  outcome o;
  s.publish("t", std::string(100, 'x'), 1, false, record(o));
  EXPECT_EQ(o.calls, 1);
  EXPECT_FALSE(o.ok);
  EXPECT_TRUE(sent().empty());
}

TEST_F(session_test, unacknowledged_publishes_are_resent_after_a_reconnect) {
  open();
  outcome q1, q0, q2;
  s.publish("one", "1", 1, false, record(q1));
  s.publish("zero", "0", 0, false, record(q0));
  s.publish("two", "2", 2, false, record(q2));
  const auto out = sent();
  ASSERT_EQ(out.size(), 3u);
  ASSERT_EQ(q0.calls, 1) << "QoS 0 is done once written";
  ASSERT_EQ(feed(ack(5, id_of(out[2]))), "");  // QoS 2 got its PUBREC
  sent();
  s.on_closed();
  EXPECT_EQ(q1.calls, 0) << "QoS 1 waits for the next connection";
  EXPECT_EQ(q2.calls, 1) << "QoS 2 past PUBREC is with the broker";
  open();
  const auto again = sent();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].type, packet_type::publish);
  ASSERT_EQ(feed(ack(4, id_of(again[0]))), "");
  EXPECT_EQ(q1.calls, 1);
  EXPECT_TRUE(q1.ok);
}

TEST_F(session_test, unwritten_qos0_fails_when_the_connection_goes) {
  open();
  outcome o;
  s.publish("t", "v", 0, false, record(o));
  s.on_closed();
  EXPECT_EQ(o.calls, 1);
  EXPECT_FALSE(o.ok);
}

TEST_F(session_test, abandon_fails_everything_waiting) {
  open();
  outcome a, b;
  s.publish("t", "v", 1, false, record(a));
  sent();
  s.on_closed();
  s.publish("t", "v", 1, false, record(b));  // refused: closed
  s.abandon("stopping");
  EXPECT_EQ(a.calls, 1);
  EXPECT_EQ(a.error, "stopping");
  EXPECT_EQ(s.pending_publishes(), 0u);
}

TEST_F(session_test, subscribes_in_batches_with_no_local_and_reports_failures) {
  open();
  const std::vector<filter_request> filters = {{"a", 0}, {"b", 1}, {"c", 2}, {"d", 1}};
  s.subscribe(filters);
  const auto out = sent();
  ASSERT_EQ(out.size(), 2u) << "three filters per SUBSCRIBE in this test";
  EXPECT_EQ(out[0].type, packet_type::subscribe);
  EXPECT_EQ(out[0].flags, 2);
  // id, no properties, "a" with options QoS 0 + No Local.
  EXPECT_EQ(byte_buffer(out[0].body.begin() + 2, out[0].body.begin() + 7), bytes({0, 0, 1, 'a', 0x04}));
  byte_buffer suback1 = bytes({0x90, 6, 0, 0, 0, 0x00, 0x01, 0x87});
  suback1[2] = static_cast<std::uint8_t>(id_of(out[0]) >> 8);
  suback1[3] = static_cast<std::uint8_t>(id_of(out[0]));
  ASSERT_EQ(feed(suback1), "");
  EXPECT_EQ(failed_filters, std::vector<std::string>{"c: Not authorized"});
  EXPECT_EQ(answered, 0);
  byte_buffer suback2 = bytes({0x90, 4, 0, 0, 0, 0x01});
  suback2[2] = static_cast<std::uint8_t>(id_of(out[1]) >> 8);
  suback2[3] = static_cast<std::uint8_t>(id_of(out[1]));
  ASSERT_EQ(feed(suback2), "");
  EXPECT_EQ(answered, 1);
}

TEST_F(session_test, suback_with_the_wrong_reason_count_is_an_error) {
  open();
  const std::vector<filter_request> filters = {{"a", 0}, {"b", 1}};
  s.subscribe(filters);
  const auto id = id_of(sent()[0]);
  EXPECT_NE(feed(bytes({0x90, 4, id >> 8, id & 0xff, 0, 0})), "");
}

TEST_F(session_test, pings_when_quiet_and_gives_up_without_an_answer) {
  open();
  EXPECT_EQ(s.on_timer(now + 9s), "");
  EXPECT_TRUE(sent().empty());
  now += 10s;
  EXPECT_EQ(s.on_timer(now), "");
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, packet_type::pingreq);
  // Answered: no new ping until the next quiet period.
  ASSERT_EQ(feed(bytes({0xd0, 0})), "");
  EXPECT_EQ(s.on_timer(now + 5s), "");
  EXPECT_TRUE(sent().empty());
  now += 10s;
  EXPECT_EQ(s.on_timer(now), "");
  ASSERT_EQ(sent().size(), 1u);
  EXPECT_EQ(s.on_timer(now + 9s), "");
  EXPECT_EQ(s.on_timer(now + 10s), "no answer to PINGREQ within 10 s");
}

TEST_F(session_test, server_keep_alive_replaces_ours) {
  open(bytes({0x20, 6, 0, 0, 3, 0x13, 0, 2}));
  EXPECT_EQ(s.keepalive(), 2s);
  EXPECT_EQ(s.on_timer(now + 2s), "");
  EXPECT_EQ(sent().size(), 1u);
}

TEST_F(session_test, broken_or_unexpected_input_is_the_reason_to_drop) {
  const std::vector<std::pair<byte_buffer, std::string>> cases = {
      {bytes({0x30, 0xff, 0xff, 0xff, 0xff, 0x01}), "from the broker: malformed remaining length"},
      {bytes({0x30, 3, 0, 1, 't'}), "malformed PUBLISH"},
      {bytes({0x30, 7, 0, 1, 't', 3, 0x23, 0, 1}), "broker used a topic alias we did not allow"},
      {bytes({0x30, 3, 0, 0, 0}), "PUBLISH without a topic"},
      {bytes({0x20, 3, 0, 0, 0}), "second CONNACK"},
      {bytes({0xe0, 1, 0x8b}), "broker disconnected: Server shutting down"},
      {bytes({0xf0, 0}), "broker asked for enhanced authentication (AUTH), which is not supported"},
      {bytes({0x80, 0}), "from the broker: packet type a server must not send"},
  };
  for (const auto& [input, reason] : cases) {
    session fresh(options(), handlers());
    fresh.begin(now);
    ASSERT_EQ(fresh.on_data(bytes({0x20, 3, 0, 0, 0}), now), "");
    EXPECT_EQ(fresh.on_data(input, now), reason);
  }
}

TEST_F(session_test, unsubscribe_and_disconnect) {
  open();
  const std::vector<std::string> filters = {"a", "b"};
  s.unsubscribe(filters);
  s.disconnect();
  const auto out = sent();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].type, packet_type::unsubscribe);
  EXPECT_EQ(out[1].type, packet_type::disconnect);
}

}  // namespace
