// MQTT 5 packets: encoders against bytes worked out by hand from the OASIS
// standard (section numbers beside them), the reader against every split of a
// stream, and the parsers against malformed input.
#include "iotmp_gateway/mqtt/packet.hpp"

#include <gtest/gtest.h>

#include "support/hex.hpp"

#include <string>
#include <vector>

using namespace iotgw;
using namespace iotgw::mqtt;

namespace {

using test_support::bytes;

byte_buffer text(std::string_view s) { return byte_buffer(s.begin(), s.end()); }

byte_buffer cat(std::initializer_list<byte_buffer> parts) {
  byte_buffer out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// All packets in `stream`, fed in pieces of `step` bytes; copies the bodies.
struct read_result {
  std::vector<packet_type> types;
  std::vector<byte_buffer> bodies;
  wire_error error = wire_error::none;
};
read_result read_all(const byte_buffer& stream, std::size_t step, std::size_t max = max_remaining_length + 5) {
  read_result r;
  packet_reader reader(max);
  for (std::size_t at = 0; at < stream.size(); at += step) {
    const auto n = std::min(step, stream.size() - at);
    reader.feed(byte_view(stream).subspan(at, n));
    packet p;
    while (reader.next(p)) {
      r.types.push_back(p.type);
      r.bodies.emplace_back(p.body.begin(), p.body.end());
    }
    if (reader.error() != wire_error::none) {
      r.error = reader.error();
      break;
    }
  }
  return r;
}

TEST(mqtt_encode, connect_with_will_credentials_and_maximum_packet_size) {
  const will_message will{"gw/status", "offline", 1, true};
  connect_fields c;
  c.client_id = "gw1";
  c.username = "u";
  c.password = "pw";
  c.keepalive_s = 30;
  c.max_packet_size = 0x00400000;
  c.will = &will;
  byte_buffer out;
  append_connect(out, c);
  const auto expected = cat({
      bytes({0x10, 49}),                                   // CONNECT, remaining length
      bytes({0, 4}), text("MQTT"), bytes({5}),              // §3.1.2.1-2
      bytes({0xee}),                                        // user, password, will retain, will QoS 1, will, clean start
      bytes({0, 30}),                                       // keep alive
      bytes({5, 0x27, 0x00, 0x40, 0x00, 0x00}),             // Maximum Packet Size
      bytes({0, 3}), text("gw1"),                           // client id
      bytes({0}),                                           // will properties
      bytes({0, 9}), text("gw/status"), bytes({0, 7}), text("offline"),
      bytes({0, 1}), text("u"), bytes({0, 2}), text("pw"),
  });
  EXPECT_EQ(out, expected);
}

TEST(mqtt_encode, minimal_connect_has_clean_start_only) {
  connect_fields c;
  c.client_id = "";
  c.keepalive_s = 0;
  byte_buffer out;
  append_connect(out, c);
  EXPECT_EQ(out, cat({bytes({0x10, 13, 0, 4}), text("MQTT"), bytes({5, 0x02, 0, 0, 0, 0, 0})}));
}

TEST(mqtt_encode, publish_at_each_qos) {
  byte_buffer q0, q1;
  append_publish(q0, {"a/b", "hi", 0, false, false, 0});
  EXPECT_EQ(q0, cat({bytes({0x30, 8, 0, 3}), text("a/b"), bytes({0}), text("hi")}));
  append_publish(q1, {"a/b", "hi", 1, true, true, 0x1234});
  EXPECT_EQ(q1, cat({bytes({0x3b, 10, 0, 3}), text("a/b"), bytes({0x12, 0x34, 0}), text("hi")}));
  EXPECT_EQ(publish_size({"a/b", "hi", 1, true, true, 0x1234}), q1.size());
}

TEST(mqtt_encode, long_publish_uses_a_multi_byte_remaining_length) {
  const std::string payload(200, 'x');
  byte_buffer out;
  append_publish(out, {"t", payload, 0, false, false, 0});
  // 2 + 1 + 1 + 200 = 204 = 0xcc: 0xcc 0x01 as a Variable Byte Integer (§1.5.5).
  ASSERT_GE(out.size(), 3u);
  EXPECT_EQ(out[1], 0xcc);
  EXPECT_EQ(out[2], 0x01);
  EXPECT_EQ(out.size(), 3u + 204u);
  EXPECT_EQ(publish_size({"t", payload, 0, false, false, 0}), out.size());
}

TEST(mqtt_encode, acks_subscribe_unsubscribe_ping_disconnect) {
  byte_buffer out;
  append_ack(out, packet_type::puback, 7);
  EXPECT_EQ(out, bytes({0x40, 2, 0, 7}));
  out.clear();
  append_ack(out, packet_type::pubrel, 0x0102);
  EXPECT_EQ(out, bytes({0x62, 2, 1, 2})) << "PUBREL carries flags 0010 (§3.6.1)";
  out.clear();
  append_ack(out, packet_type::pubrec, 9, 0x80);
  EXPECT_EQ(out, bytes({0x50, 3, 0, 9, 0x80}));

  out.clear();
  const subscribe_filter filters[] = {{"a/#", 1, true}, {"b", 0, false}};
  append_subscribe(out, 5, filters);
  EXPECT_EQ(out, cat({bytes({0x82, 13, 0, 5, 0, 0, 3}), text("a/#"), bytes({0x05, 0, 1}), text("b"), bytes({0x00})}));

  out.clear();
  const std::string_view names[] = {"a/#"};
  append_unsubscribe(out, 6, names);
  EXPECT_EQ(out, cat({bytes({0xa2, 8, 0, 6, 0, 0, 3}), text("a/#")}));

  out.clear();
  append_pingreq(out);
  append_disconnect(out);
  append_disconnect(out, 0x04);
  EXPECT_EQ(out, bytes({0xc0, 0, 0xe0, 0, 0xe0, 1, 0x04}));
}

// A stream of server packets: CONNACK, PUBLISH QoS 1, a 300-byte PUBLISH, PINGRESP, SUBACK.
byte_buffer server_stream() {
  byte_buffer s = bytes({0x20, 3, 0, 0, 0});
  append_publish(s, {"t/1", "v", 1, false, false, 1});
  append_publish(s, {"t/2", std::string(300, 'p'), 0, false, false, 0});
  const auto tail = bytes({0xd0, 0, 0x90, 4, 0, 2, 0, 1});
  s.insert(s.end(), tail.begin(), tail.end());
  return s;
}

TEST(mqtt_reader, same_packets_whatever_the_split) {
  const auto stream = server_stream();
  const auto whole = read_all(stream, stream.size());
  ASSERT_EQ(whole.error, wire_error::none);
  ASSERT_EQ(whole.types, (std::vector<packet_type>{packet_type::connack, packet_type::publish, packet_type::publish,
                                                   packet_type::pingresp, packet_type::suback}));
  for (std::size_t step = 1; step < stream.size(); ++step) {
    const auto split = read_all(stream, step);
    EXPECT_EQ(split.error, wire_error::none) << "step " << step;
    EXPECT_EQ(split.types, whole.types) << "step " << step;
    EXPECT_EQ(split.bodies, whole.bodies) << "step " << step;
  }
}

TEST(mqtt_reader, whole_packets_are_views_into_the_input) {
  const auto stream = server_stream();
  packet_reader reader;
  reader.feed(stream);
  packet p;
  ASSERT_TRUE(reader.next(p));
  EXPECT_EQ(p.body.data(), stream.data() + 2) << "no copy for a packet that arrived whole";
}

TEST(mqtt_reader, rejects_a_five_byte_remaining_length) {
  const auto r = read_all(bytes({0x30, 0xff, 0xff, 0xff, 0xff, 0x01}), 1);
  EXPECT_EQ(r.error, wire_error::malformed_length);
  EXPECT_TRUE(r.types.empty());
}

TEST(mqtt_reader, rejects_a_packet_over_the_limit_before_reading_it) {
  // Announces 1 MiB with a limit of 1 KiB: refused from the header alone.
  const auto r = read_all(bytes({0x30, 0x80, 0x80, 0x40}), 4, 1024);
  EXPECT_EQ(r.error, wire_error::packet_too_large);
}

TEST(mqtt_reader, rejects_packet_types_a_server_never_sends) {
  for (int type : {0, 1, 8, 10, 12}) {
    const auto r = read_all(bytes({type << 4, 0}), 2);
    EXPECT_EQ(r.error, wire_error::unknown_packet_type) << "type " << type;
  }
}

TEST(mqtt_reader, reset_forgets_a_partial_packet_and_an_error) {
  packet_reader reader;
  const auto half = bytes({0x30, 10, 0});
  reader.feed(half);
  packet p;
  EXPECT_FALSE(reader.next(p));
  reader.reset();
  const auto pingresp = bytes({0xd0, 0});
  reader.feed(pingresp);
  ASSERT_TRUE(reader.next(p));
  EXPECT_EQ(p.type, packet_type::pingresp);
}

packet as_packet(const byte_buffer& whole) {
  packet_reader reader;
  reader.feed(whole);
  packet p;
  EXPECT_TRUE(reader.next(p));
  return p;
}

TEST(mqtt_parse, connack_with_properties) {
  // Receive Maximum 20, Maximum Packet Size 1000, Server Keep Alive 10,
  // Reason String "ok", a User Property; session present.
  const auto whole = bytes({0x20, 27, 0x01, 0x00, 24, 0x21, 0, 20, 0x27, 0, 0, 0x03, 0xe8, 0x13, 0, 10,
                            0x1f, 0, 2, 'o', 'k', 0x26, 0, 1, 'k', 0, 2, 'v', 'v'});
  connack_view c;
  ASSERT_EQ(parse_connack(as_packet(whole), c), wire_error::none);
  EXPECT_TRUE(c.session_present);
  EXPECT_EQ(c.reason, 0);
  EXPECT_EQ(c.props.receive_maximum, 20);
  EXPECT_EQ(c.props.maximum_packet_size, 1000u);
  EXPECT_EQ(c.props.server_keep_alive, 10);
  EXPECT_EQ(c.props.reason_string, "ok");
}

TEST(mqtt_parse, malformed_packets_are_errors) {
  const std::vector<byte_buffer> bad_connacks = {
      bytes({0x20, 1, 0}),                   // no reason code
      bytes({0x20, 3, 0x02, 0, 0}),          // reserved acknowledge flag
      bytes({0x20, 4, 0, 0, 5, 0x21}),       // property block longer than the packet
      bytes({0x20, 5, 0, 0, 2, 0x21, 0}),    // Receive Maximum cut short
      bytes({0x20, 5, 0, 0, 2, 0x7f, 0}),    // unknown property
  };
  for (const auto& b : bad_connacks) {
    connack_view c;
    EXPECT_EQ(parse_connack(as_packet(b), c), wire_error::malformed_packet);
  }
  publish_view m;
  EXPECT_EQ(parse_publish(as_packet(bytes({0x36, 6, 0, 1, 't', 0, 1, 0})), m), wire_error::malformed_packet)
      << "QoS 3";
  EXPECT_EQ(parse_publish(as_packet(bytes({0x32, 6, 0, 1, 't', 0, 0, 0})), m), wire_error::malformed_packet)
      << "QoS 1 with packet id 0";
  EXPECT_EQ(parse_publish(as_packet(bytes({0x30, 3, 0, 5, 't'})), m), wire_error::malformed_packet)
      << "topic longer than the packet";
  EXPECT_EQ(parse_publish(as_packet(bytes({0x30, 3, 0, 1, 't'})), m), wire_error::malformed_packet)
      << "no property length";
  ack_view a;
  EXPECT_EQ(parse_ack(as_packet(bytes({0x40, 1, 0})), a), wire_error::malformed_packet);
  EXPECT_EQ(parse_ack(as_packet(bytes({0x60, 2, 0, 1})), a), wire_error::malformed_packet) << "PUBREL flags 0";
  suback_view s;
  EXPECT_EQ(parse_suback(as_packet(bytes({0x90, 3, 0, 1, 0})), s), wire_error::malformed_packet) << "no reasons";
  disconnect_view d;
  EXPECT_EQ(parse_disconnect(as_packet(bytes({0xe0, 3, 0x8b, 5, 0x1f})), d), wire_error::malformed_packet);
}

TEST(mqtt_parse, publish_with_topic_alias_and_payload) {
  const auto whole = bytes({0x35, 12, 0, 1, 't', 0, 9, 3, 0x23, 0, 4, 'a', 'b', 'c'});
  publish_view m;
  ASSERT_EQ(parse_publish(as_packet(whole), m), wire_error::none);
  EXPECT_EQ(m.topic, "t");
  EXPECT_EQ(m.qos, 2u);
  EXPECT_TRUE(m.retain);
  EXPECT_EQ(m.packet_id, 9);
  EXPECT_EQ(m.topic_alias, 4);
  EXPECT_EQ(m.payload, "abc");
}

TEST(mqtt_parse, acks_in_short_and_long_form) {
  ack_view a;
  ASSERT_EQ(parse_ack(as_packet(bytes({0x40, 2, 0, 3})), a), wire_error::none);
  EXPECT_EQ(a.packet_id, 3);
  EXPECT_EQ(a.reason, 0);
  const auto long_form = bytes({0x40, 8, 0, 3, 0x97, 4, 0x1f, 0, 1, 'q'});  // views point into it
  ASSERT_EQ(parse_ack(as_packet(long_form), a), wire_error::none);
  EXPECT_EQ(a.reason, 0x97);
  EXPECT_EQ(a.reason_string, "q");
  EXPECT_EQ(reason_text(a.reason), "Quota exceeded");
  EXPECT_EQ(reason_text(0xfe), "reason 0xfe");
}

}  // namespace
