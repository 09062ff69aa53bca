// The client side of one MQTT 5 connection, without I/O: bytes from the broker
// go into on_data(), what to send collects in an output buffer the link writes
// in one go, time is passed in. Keeps the rules a client must follow:
// CONNECT/CONNACK, QoS 1 and 2 in both directions, the broker's Receive
// Maximum and Maximum Packet Size, SUBSCRIBE/UNSUBSCRIBE with many filters per
// packet, and keep-alive. Each CONNECT starts a clean session (as the link
// always did); publishes the broker had not acknowledged are sent again on the
// next connection, so nothing handed to publish() is lost to a reconnect.
//
// Messages from the broker are handed to on_message as views into the bytes
// just read: no allocation per message on the way in, and the QoS 1 PUBACKs of
// one read leave in one write.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "iotmp_gateway/mqtt/packet.hpp"

namespace iotgw::mqtt {

using clock = std::chrono::steady_clock;

struct session_options {
  std::string client_id;
  std::string username;
  std::string password;
  std::chrono::seconds keepalive{30};  // 0: no keep-alive
  std::optional<will_message> will;
  std::chrono::milliseconds connack_timeout{10'000};
  // The largest packet we take (announced in CONNECT: the broker drops bigger
  // messages for us instead of sending them).
  std::uint32_t max_incoming_packet = 4 * 1024 * 1024;
  // QoS 1/2 publishes waiting for the broker (in flight or over its Receive
  // Maximum) plus QoS 0 not yet written; more is refused as backpressure.
  std::size_t max_pending_publishes = 65536;
  // Filters per SUBSCRIBE packet: thousands of topics take a few round trips.
  std::size_t max_filters_per_subscribe = 512;
};

struct filter_request {
  std::string filter;
  unsigned qos = 0;
};

struct session_handlers {
  // CONNACK accepted.
  std::function<void(bool session_present)> on_open;
  std::function<void(std::string_view topic, std::string_view payload, bool retained)> on_message;
  std::function<void(std::string_view filter, std::string_view reason)> on_subscribe_failed;
  // Every SUBSCRIBE sent so far is answered.
  std::function<void()> on_subscribes_answered;
};

class session {
 public:
  // ok, or why not. Called exactly once: a publish refused at once (not open,
  // queue full, too large) is answered before publish() returns.
  using publish_done = std::function<void(bool ok, std::string_view error)>;
  enum class state : std::uint8_t { closed, connecting, open };

  session(session_options options, session_handlers handlers);
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // A transport is up: CONNECT goes into the output.
  void begin(clock::time_point now);
  // Bytes from the broker. "" or the reason the connection must be dropped.
  std::string on_data(byte_view data, clock::time_point now);
  // Keep-alive and the CONNACK deadline: "" or the reason to drop the connection.
  std::string on_timer(clock::time_point now);
  // The transport is gone. QoS 1/2 publishes not yet acknowledged wait for the
  // next session; QoS 0 ones not yet written fail.
  void on_closed();

  // Fails every publish still waiting (shutdown).
  void abandon(std::string_view reason);

  // Only while open (otherwise done(false) at once, like a full queue).
  void publish(std::string topic, std::string payload, unsigned qos, bool retain, publish_done done);
  // No Local on every filter: what the gateway publishes never comes back to it.
  void subscribe(std::span<const filter_request> filters);
  void unsubscribe(std::span<const std::string> filters);
  // A normal DISCONNECT (the broker then discards the will).
  void disconnect();

  // What to send, in order; the buffer is handed over.
  bool has_output() const noexcept { return !output_.empty(); }
  byte_buffer take_output(clock::time_point now);
  // The output taken last was written (or failed): QoS 0 publishes in it complete.
  void output_written(bool ok);

  state current_state() const noexcept { return state_; }
  std::size_t pending_publishes() const noexcept { return inflight_.size() + waiting_.size() + written_.size(); }
  std::size_t pending_subscribes() const noexcept { return subscribes_.size(); }
  // Publishes the broker accepted (QoS 1/2) or that were written (QoS 0).
  std::uint64_t published() const noexcept { return published_; }
  std::chrono::seconds keepalive() const noexcept { return keepalive_; }

 private:
  struct outgoing {
    std::string topic;
    std::string payload;
    publish_done done;
    std::uint16_t packet_id = 0;
    std::uint8_t qos = 0;
    bool retain = false;
    bool released = false;  // QoS 2: PUBREC came, PUBREL sent, waiting for PUBCOMP
    bool finished = false;  // answered; popped once it reaches the front
  };

  std::string handle(const packet& p);
  std::string handle_connack(const packet& p);
  std::string handle_publish(const packet& p);
  std::string handle_ack(const packet& p);
  std::string handle_suback(const packet& p);
  void send(outgoing& o, bool dup);
  void send_waiting();
  outgoing* find_inflight(std::uint16_t id);
  void pop_finished();
  std::uint16_t take_packet_id();
  void release_packet_id(std::uint16_t id) {
    if (ids_in_use_.test(id)) {
      ids_in_use_.reset(id);
      --ids_in_use_count_;
    }
  }

  session_options options_;
  session_handlers handlers_;
  state state_ = state::closed;
  packet_reader reader_;
  byte_buffer output_;

  // Broker limits from CONNACK.
  std::size_t receive_maximum_ = 65535;
  std::size_t broker_max_packet_ = max_remaining_length + 5;
  std::chrono::seconds keepalive_;

  std::deque<outgoing> inflight_;  // sent, in send order
  std::deque<outgoing> waiting_;   // over the broker's Receive Maximum, or sent before CONNACK
  std::size_t inflight_unfinished_ = 0;
  std::vector<publish_done> written_;  // QoS 0 in the output being written
  std::vector<publish_done> taken_;    // ... handed to the link with take_output()
  std::unordered_map<std::uint16_t, std::vector<std::string>> subscribes_;  // SUBSCRIBE id -> filters
  std::unordered_map<std::uint16_t, std::size_t> unsubscribes_;
  std::bitset<65536> ids_in_use_;
  std::size_t ids_in_use_count_ = 0;  // bitset::count() is 1024 words: not per publish
  std::bitset<65536> qos2_received_;  // incoming QoS 2 ids before their PUBREL
  std::uint16_t next_id_ = 1;
  std::uint64_t published_ = 0;

  clock::time_point begun_at_{};
  clock::time_point last_in_{};
  clock::time_point last_out_{};
  std::optional<clock::time_point> ping_sent_at_;
};

}  // namespace iotgw::mqtt
