// MQTT 5.0 packets as a client sends and receives them (OASIS mqtt-v5.0,
// section 3), without I/O: encoders append to a buffer, the reader splits a
// byte stream into packets and the parsers give views into it. Nothing here
// allocates from a length it has not checked against the bytes at hand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iotmp_gateway/varint.hpp"

namespace iotgw::mqtt {

enum class packet_type : std::uint8_t {
  connect = 1, connack, publish, puback, pubrec, pubrel, pubcomp,
  subscribe, suback, unsubscribe, unsuback, pingreq, pingresp, disconnect, auth,
};

// Fixed header: type, flags, Remaining Length (1..4 bytes of 7 bits).
inline constexpr std::size_t max_remaining_length = 268'435'455;

// ---- encoding -------------------------------------------------------------

struct will_message {
  std::string topic;
  std::string payload;
  unsigned qos = 1;
  bool retain = true;
};

struct connect_fields {
  std::string_view client_id;
  std::string_view username;  // empty: none
  std::string_view password;  // empty: none
  std::uint16_t keepalive_s = 30;
  bool clean_start = true;
  // Tells the broker what we accept; it discards bigger messages for us (MQTT 5 §3.1.2.11.4).
  std::uint32_t max_packet_size = 0;  // 0: not sent (no limit)
  const will_message* will = nullptr;
};
void append_connect(byte_buffer& out, const connect_fields& c);

struct publish_fields {
  std::string_view topic;
  std::string_view payload;
  unsigned qos = 0;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;  // QoS 1 and 2 only
};
void append_publish(byte_buffer& out, const publish_fields& p);
// The whole packet's size, for the broker's Maximum Packet Size.
std::size_t publish_size(const publish_fields& p) noexcept;

// PUBACK, PUBREC, PUBREL, PUBCOMP: packet id and reason (0 is sent in the short form).
void append_ack(byte_buffer& out, packet_type type, std::uint16_t packet_id, std::uint8_t reason = 0);

struct subscribe_filter {
  std::string_view filter;
  unsigned qos = 0;
  bool no_local = false;
};
void append_subscribe(byte_buffer& out, std::uint16_t packet_id, std::span<const subscribe_filter> filters);
void append_unsubscribe(byte_buffer& out, std::uint16_t packet_id, std::span<const std::string_view> filters);
// Bytes a filter adds to a SUBSCRIBE / UNSUBSCRIBE payload.
constexpr std::size_t subscribe_entry_size(std::string_view filter) noexcept { return 2 + filter.size() + 1; }
constexpr std::size_t unsubscribe_entry_size(std::string_view filter) noexcept { return 2 + filter.size(); }

void append_pingreq(byte_buffer& out);
void append_disconnect(byte_buffer& out, std::uint8_t reason = 0);

// ---- decoding -------------------------------------------------------------

enum class wire_error : std::uint8_t {
  none = 0,
  malformed_length,     // Remaining Length longer than 4 bytes
  packet_too_large,     // over the limit given to the reader
  malformed_packet,     // fields do not fit the packet, bad flags, bad property
  unknown_packet_type,  // 0, or a type a server never sends to a client
};
std::string_view to_string(wire_error e) noexcept;

struct packet {
  packet_type type{};
  std::uint8_t flags = 0;
  byte_view body;  // after the fixed header
};

// Splits a byte stream into packets. Packets that arrive whole in one feed()
// are handed out as views into the caller's bytes (no copy); only a packet
// split across reads is gathered in an internal buffer.
class packet_reader {
 public:
  explicit packet_reader(std::size_t max_packet_size = max_remaining_length + 5)
      : max_packet_size_(max_packet_size) {}

  // New bytes; they must stay valid until next() returned false.
  void feed(byte_view data) noexcept;
  // True with the next packet (valid until the next call); false when the fed
  // bytes are used up (a partial packet is kept) or on error (see error()).
  // After an error the stream cannot be resynchronised: drop the connection.
  bool next(packet& p);
  wire_error error() const noexcept { return error_; }
  void reset() noexcept;

 private:
  // Length of the packet at the front of `bytes`, 0 if the header is not complete yet.
  std::size_t packet_size(byte_view bytes);

  std::size_t max_packet_size_;
  byte_view input_;
  std::size_t pos_ = 0;
  byte_buffer partial_;
  bool partial_handed_out_ = false;
  wire_error error_ = wire_error::none;
};

// The properties a client acts on; the others are checked for form and skipped.
struct properties {
  std::optional<std::uint16_t> receive_maximum;
  std::optional<std::uint32_t> maximum_packet_size;
  std::optional<std::uint16_t> server_keep_alive;
  std::optional<std::uint16_t> topic_alias;
  std::optional<std::uint16_t> topic_alias_maximum;
  std::optional<std::uint8_t> maximum_qos;
  std::optional<std::uint8_t> retain_available;
  std::string_view reason_string;
  std::string_view assigned_client_id;
};

struct connack_view {
  bool session_present = false;
  std::uint8_t reason = 0;
  properties props;
};
struct publish_view {
  std::string_view topic;
  std::string_view payload;
  unsigned qos = 0;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;
  std::optional<std::uint16_t> topic_alias;
};
struct ack_view {  // PUBACK, PUBREC, PUBREL, PUBCOMP
  std::uint16_t packet_id = 0;
  std::uint8_t reason = 0;
  std::string_view reason_string;
};
struct suback_view {  // SUBACK, UNSUBACK: one reason code per filter, in order
  std::uint16_t packet_id = 0;
  byte_view reasons;
  std::string_view reason_string;
};
struct disconnect_view {
  std::uint8_t reason = 0;
  std::string_view reason_string;
};

wire_error parse_connack(const packet& p, connack_view& out) noexcept;
wire_error parse_publish(const packet& p, publish_view& out) noexcept;
wire_error parse_ack(const packet& p, ack_view& out) noexcept;
wire_error parse_suback(const packet& p, suback_view& out) noexcept;
wire_error parse_disconnect(const packet& p, disconnect_view& out) noexcept;

// "Not authorized", "Quota exceeded", ... (MQTT 5 §2.4); "reason 0xNN" otherwise.
std::string reason_text(std::uint8_t reason);

}  // namespace iotgw::mqtt
