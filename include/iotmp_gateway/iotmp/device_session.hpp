// The device side of IOTMP (PROTOCOL.md §7-§11) as a pure state machine: bytes
// and time go in, bytes and events come out. No sockets, no clocks, no threads;
// the cloud link on libuv drives it, the tests drive it with a fake clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "iotmp_gateway/iotmp/frame_decoder.hpp"
#include "iotmp_gateway/iotmp/message.hpp"
#include "iotmp_gateway/iotmp/resource_registry.hpp"

namespace iotgw::iotmp {

using clock = std::chrono::steady_clock;
using time_point = clock::time_point;

// Where a device->server RUN puts the server resource code and the id (§9.2).
enum class server_run_layout : std::uint8_t {
  linux_client,     // RESOURCE = code (varint), PARAMETERS = id   (IOTMP-Linux)
  embedded_client,  // PARAMETERS = code (varint), RESOURCE = id   (IOTMP-Embedded)
};

struct session_config {
  std::string username;
  std::string device;
  std::string credential;
  std::chrono::seconds keepalive{60};
  // How long the server may take to answer CONNECT.
  std::chrono::seconds auth_timeout{15};
  // Stream data the driver has not taken yet (output()) stops here within one
  // loop turn: the writable flag only changes when the driver writes, so a
  // big batch of local messages would otherwise pile up in output() past the
  // stream's hard limit (the whole write is then refused and the connection
  // dropped with the data).
  std::size_t max_pending_output = 256 * 1024;
  server_run_layout run_layout = server_run_layout::linux_client;
};

enum class session_state : std::uint8_t { disconnected, authenticating, ready };
std::string_view to_string(session_state s) noexcept;

// Identifies a device-opened stream across reconnects (its wire id changes).
using device_stream_id = std::uint32_t;

// What the session tells its owner. Default implementations ignore the event.
class session_observer {
 public:
  virtual ~session_observer() = default;
  virtual void on_authenticated() {}
  virtual void on_auth_failed(std::string_view /*reason*/) {}
  // The connection must be closed (dead peer, malformed frames, DISCONNECT).
  virtual void on_connection_failed(std::string_view /*reason*/) {}
  virtual void on_device_stream_open(device_stream_id, const pson::value* /*initial*/) {}
  virtual void on_device_stream_refused(device_stream_id) {}
  // STREAM_DATA from the server on a device-opened stream (subscribe scope).
  virtual void on_device_stream_data(device_stream_id, const pson::value& /*data*/) {}
  // The server stopped the stream, or the connection ended.
  virtual void on_device_stream_closed(device_stream_id) {}
  // Answer to call_server() with confirmation.
  virtual void on_server_answer(std::uint16_t /*sid*/, bool /*ok*/, const pson::value* /*payload*/) {}
};

struct session_stats {
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t samples_skipped = 0;  // stream samples not sent while the socket was full
};

enum class send_status : std::uint8_t { sent, not_open, would_block, too_large };

class device_session {
 public:
  device_session(session_config config, resource_registry& resources, session_observer& observer,
                 std::uint64_t seed = std::random_device{}());

  // --- transport ---
  void on_connected(time_point now);  // sends CONNECT
  void on_data(byte_view data, time_point now);
  void on_closed();                   // forgets every stream of the connection
  // Keep-alives, dead-peer detection, interval samples. Call at next_deadline().
  void on_timer(time_point now);
  std::optional<time_point> next_deadline() const;
  // Frames to write, in order; the driver takes them and clears the buffer.
  byte_buffer& output() noexcept { return output_; }
  // Called when output() goes from empty to not empty, from whatever produced
  // it (a frame, a timer, the router), so the driver can write once per batch.
  void on_output(std::function<void()> listener) { output_listener_ = std::move(listener); }
  // The driver's write queue is over (false) or back under (true) its high-water mark.
  void set_writable(bool writable) noexcept { writable_ = writable; }
  bool writable() const noexcept { return writable_; }
  // True once if send_stream_data() said would_block because output() was
  // full (not the driver's queue): the driver resumes producers after taking it.
  bool take_output_full() noexcept { return std::exchange(output_full_, false); }

  session_state state() const noexcept { return state_; }
  const session_stats& stats() const noexcept { return stats_; }
  const session_config& config() const noexcept { return config_; }

  // --- device resources ---
  // A resource's value changed: event streams on that concrete path get a sample.
  void resource_changed(std::string_view path);
  // Server-opened streams now open on this concrete path.
  bool is_streamed(std::string_view path) const;
  std::size_t server_stream_count() const noexcept { return server_streams_.size(); }

  // --- device-opened streams (MQTT topics etc.) ---
  // Kept across reconnects and (re)opened after every authentication. Ids are
  // small and dense (1, 2, ...): the id of a removed stream is given out again,
  // so owners can index their own per-stream data by it.
  device_stream_id add_device_stream(pson::value resource, pson::value parameters);
  // Room for n streams in all, when their number is known (no doubling slack).
  void reserve_device_streams(std::size_t n) { device_streams_.reserve(n); }
  void remove_device_stream(device_stream_id id);  // STOP_STREAM if open
  bool device_stream_open(device_stream_id id) const;
  // STREAM_DATA with an already encoded PSON payload.
  send_status send_stream_data(device_stream_id id, byte_view pson_payload);

  // --- device -> server RUN (§9.2) ---
  // nullopt when not connected. With confirm the RUN carries a fresh stream id,
  // returned, and the answer comes to on_server_answer; without, 0 is returned.
  std::optional<std::uint16_t> call_server(server_resource code, std::string_view id,
                                           const pson::value* payload, bool confirm);

 private:
  friend class reply;

  struct server_stream {
    std::string path;
    std::chrono::milliseconds interval{0};  // 0: event stream
    time_point next_due;
  };
  struct device_stream {
    pson::value resource;
    // Shared between streams with equal parameters: a gateway's thousands of
    // MQTT streams have a handful of distinct ones ({"scope":[...],"type":"mqtt"}).
    std::shared_ptr<const pson::value> parameters;
    std::optional<std::uint16_t> sid;  // while requested or open on this connection
    bool open = false;
  };

  void handle(const message_view& m, time_point now);
  void handle_run(const message_view& m);
  void handle_describe(const message_view& m);
  void handle_start_stream(const message_view& m, time_point now);
  void handle_stop_stream(const message_view& m);
  void forget_event_stream(std::uint16_t sid, const std::string& path);
  void handle_stream_data(const message_view& m);
  void handle_answer(const message_view& m, bool ok);
  void become_ready();
  void fail(std::string_view reason);
  void send_answer(std::uint64_t epoch, std::uint16_t sid, bool ok,
                   const std::optional<pson::value>& payload);
  void send(const message& m);
  void note_output(std::size_t before);
  void send_error(std::uint16_t sid, std::string_view text);
  bool send_sample(std::uint16_t sid, const std::string& path);
  void open_device_stream(device_stream_id id, device_stream& s);
  std::uint16_t fresh_stream_id();
  device_stream* find_device_stream(device_stream_id id) noexcept;
  const device_stream* find_device_stream(device_stream_id id) const noexcept;
  bool stream_id_in_use(std::uint16_t sid) const;

  session_config config_;
  resource_registry& resources_;
  session_observer& observer_;
  std::mt19937 rng_;

  session_state state_ = session_state::disconnected;
  std::uint64_t epoch_ = 0;  // increments with every connection
  frame_decoder decoder_;
  byte_buffer output_;
  bool writable_ = true;
  bool output_full_ = false;
  std::function<void()> output_listener_;
  session_stats stats_;
  std::optional<std::uint16_t> connect_sid_;
  time_point last_receive_{};
  time_point next_keepalive_{};
  time_point auth_deadline_{};

  std::map<std::uint16_t, server_stream> server_streams_;  // by stream id
  std::unordered_multimap<std::string, std::uint16_t> event_streams_;  // path -> sid
  // By id - 1, dense: ids of removed streams are given out again. A free slot
  // has no parameters.
  std::vector<device_stream> device_streams_;
  std::vector<device_stream_id> free_device_stream_ids_;  // a min-heap
  std::vector<std::shared_ptr<const pson::value>> shared_parameters_;  // a few distinct ones
  std::unordered_map<std::uint16_t, device_stream_id> device_stream_sids_;
  std::unordered_map<std::uint16_t, bool> pending_calls_;  // call_server sids awaiting answers
};

}  // namespace iotgw::iotmp
