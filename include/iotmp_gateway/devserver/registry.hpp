// The devserver's devices: who is connected, what each one is asked and
// streams, what it sent to the server. This is the C++ API that tests and the
// HTTP layer use; it does not know how devices are connected. A transport (the
// IOTMP listener of server.hpp) attaches each authenticated connection as a
// device_link and forwards the session's events to the `transport side`
// members below.
//
// Everything runs on the loop thread. Callbacks are never called from within
// the call that registered them (run(), describe(), start_stream() report a
// request that could not go out by their return value instead); they may call
// back into the registry and the topic table, but must not destroy either.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iotmp_gateway/devserver/topic_table.hpp"
#include "iotmp_gateway/iotmp/message.hpp"
#include "iotmp_gateway/iotmp/server_session.hpp"
#include "iotmp_gateway/net/status.hpp"
#include "iotmp_gateway/pson/value.hpp"

namespace iotgw::devserver {

using steady_time = std::chrono::steady_clock::time_point;
using wall_time = std::chrono::system_clock::time_point;

struct device_id {
  std::string user;
  std::string device;

  std::string text() const { return user + "/" + device; }
  friend auto operator<=>(const device_id&, const device_id&) = default;
};

// Frames and bytes on one connection, counted at the socket. Frames are told
// apart by their header only, so a frame is counted once it is complete.
struct traffic_counters {
  static constexpr std::size_t type_slots = 11;  // 0 (reserved) .. STREAM_DATA

  std::uint64_t frames_in = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_out = 0;      // includes raw bytes
  std::uint64_t raw_bytes_out = 0;  // injected with send_raw(), not counted as frames
  std::array<std::uint64_t, type_slots> frames_in_by_type{};  // unknown types: only in frames_in
  std::array<std::uint64_t, type_slots> frames_out_by_type{};

  std::uint64_t in(iotmp::message_type t) const noexcept;
  std::uint64_t out(iotmp::message_type t) const noexcept;
  traffic_counters& operator+=(const traffic_counters& other) noexcept;
};

// How a request ended.
enum class request_status : std::uint8_t {
  ok,            // the device answered OK
  refused,       // the device answered ERROR
  offline,       // the device is not connected: nothing was sent
  timeout,       // no answer within the request timeout
  disconnected,  // the connection ended before the answer
  too_large,     // the frame would exceed the size limit (or no stream id was free)
  stopped,       // a stream: the device stopped it
};
std::string_view to_string(request_status s) noexcept;

struct request_result {
  request_status status = request_status::ok;
  std::optional<pson::value> parameters;
  std::optional<pson::value> payload;

  bool ok() const noexcept { return status == request_status::ok; }
};
using request_callback = std::function<void(const request_result&)>;

struct stream_callbacks {
  // STREAM_DATA from the device.
  std::function<void(const pson::value& sample)> on_sample;
  // The device's answer to each START_STREAM (restarts included): ok or
  // refused. A refused stream is over (the handle turns inactive).
  std::function<void(const request_result&)> on_started;
  // The stream ended without stop(): disconnected, or stopped by the device.
  std::function<void(request_status why)> on_ended;
};

class device_registry;

// A server-opened stream on a device resource (PROTOCOL §11.1). A cheap,
// copyable reference: dropping it does not stop the stream. Streams belong to
// one connection and end with it.
class stream_handle {
 public:
  stream_handle() = default;

  // False for an empty handle and after the stream ended.
  bool active() const noexcept;
  explicit operator bool() const noexcept { return active(); }
  // Why start_stream() returned no stream (offline or too_large); ok otherwise.
  request_status start_error() const noexcept { return start_error_; }
  std::uint16_t sid() const noexcept { return sid_; }
  const device_id& device() const noexcept { return device_; }

  // START_STREAM again on the same stream id with a new interval (nullopt: an
  // event stream); the answer goes to on_started. False when not active or the
  // frame could not be built.
  bool restart(std::optional<std::chrono::milliseconds> interval);
  // STOP_STREAM; no callback of this stream runs afterwards. Idempotent.
  void stop();

 private:
  friend class device_registry;
  struct state;
  stream_handle(std::weak_ptr<state> s, device_id id, std::uint16_t sid)
      : state_(std::move(s)), device_(std::move(id)), sid_(sid) {}
  explicit stream_handle(request_status error) : start_error_(error) {}

  std::weak_ptr<state> state_;
  device_id device_;
  std::uint16_t sid_ = 0;
  request_status start_error_ = request_status::ok;
};

// A device's MQTT stream as the registry lists it.
using device_stream = iotmp::server_session::device_stream;

struct device_info {
  device_id id;
  bool connected = false;
  std::string peer;               // of the current or last connection
  wall_time connected_since{};    // last authentication
  std::uint64_t connections = 0;  // authentications so far
  bool silent = false;
  traffic_counters traffic;  // the current (or last) connection, from its first byte
  traffic_counters total;    // every connection of this device
  std::vector<device_stream> device_streams;  // the MQTT streams it has open
  std::size_t server_streams = 0;             // streams opened with start_stream()
  std::size_t pending_requests = 0;
};

// One value a device wrote with WRITE_BUCKET.
struct bucket_record {
  wall_time at;
  device_id from;
  std::optional<pson::value> value;
};

// Any device -> server RUN, as it came.
struct server_run_record {
  wall_time at;
  device_id from;
  iotmp::server_session::server_run run;
};

struct device_event {
  enum class kind : std::uint8_t {
    connected,      // authenticated (after its OK was queued)
    disconnected,   // its connection ended or was replaced
    stream_opened,  // it opened an MQTT stream (the OK is queued)
    stream_closed,  // it closed one
    published,      // STREAM_DATA on one of its publish-scope streams
  };
  kind type = kind::connected;
  device_id id;
  std::string peer;
  std::string reason;                     // disconnected: why, for people
  const device_stream* stream = nullptr;  // stream events, valid during the call
  const pson::value* value = nullptr;     // published: what, valid during the call
};

// What the registry needs from the connection of an authenticated device.
class device_link {
 public:
  virtual ~device_link() = default;
  // Unique among the server's connections; also the topic table origin.
  virtual std::uint64_t link_id() const noexcept = 0;
  virtual iotmp::server_session& session() noexcept = 0;
  // Writes what the session queued and re-arms the request deadline timer.
  // Must not call back into the registry: a failed write ends the connection
  // later, from the loop.
  virtual void flush() = 0;
  // Ends the connection. Graceful sends DISCONNECT first. The registry has
  // already forgotten the link when this is called.
  virtual void drop(bool graceful, std::string_view reason) = 0;
  // Bytes as they are, past the codec (garbage and oversize frame tests).
  virtual net::status send_raw(byte_view bytes) = 0;
  virtual const std::string& peer() const noexcept = 0;
  virtual const traffic_counters& traffic() const noexcept = 0;
};

class device_registry {
 public:
  using event_callback = std::function<void(const device_event&)>;
  using listener_id = std::uint64_t;
  // Decides a device-opened MQTT stream after the built-in checks passed.
  using stream_policy = std::function<bool(const device_id&, const device_stream&)>;
  // Answers a device -> server RUN instead of the built-in answer; nullopt
  // falls back to it. The built-in one records the RUN and answers OK.
  using server_run_handler = std::function<std::optional<iotmp::server_session::answer>(
      const device_id&, const iotmp::server_session::server_run&)>;

  explicit device_registry(topic_table& topics) : topics_(topics) {}
  ~device_registry();
  device_registry(const device_registry&) = delete;
  device_registry& operator=(const device_registry&) = delete;

  topic_table& topics() noexcept { return topics_; }

  // --- devices --------------------------------------------------------------
  // Every device seen since start, connected or not, in id order.
  std::vector<device_info> devices() const;
  std::optional<device_info> find(const device_id& id) const;
  bool connected(const device_id& id) const;

  // --- requests to devices ------------------------------------------------------
  // RUN on a device resource, with an optional input PAYLOAD. Returns ok when
  // the request went out; cb then runs exactly once, later. Any other status
  // (offline, too_large) means nothing was sent and cb is never called.
  request_status run(const device_id& id, std::string_view resource,
                     const std::optional<pson::value>& input, request_callback cb);
  // DESCRIBE of the whole API (nullopt) or of one resource; as run().
  request_status describe(const device_id& id, std::optional<std::string_view> resource,
                          request_callback cb);
  // START_STREAM with {"interval": ms} or, without interval, an event stream.
  // An empty handle (see start_error()) when nothing was sent.
  stream_handle start_stream(const device_id& id, std::string_view resource,
                             std::optional<std::chrono::milliseconds> interval,
                             stream_callbacks callbacks);

  // STREAM_DATA with value as it is on one of the device's subscribe-scope
  // streams, bypassing the topic table (which sends {"topic", "payload"}).
  bool deliver(const device_id& id, std::uint16_t sid, const pson::value& value);

  // --- what devices sent to the server --------------------------------------
  // Each bucket keeps its latest bucket_limit records, the RUN log its latest
  // run_log_limit: a devserver left running must not grow without bound.
  static constexpr std::size_t bucket_limit = 100'000;
  static constexpr std::size_t run_log_limit = 10'000;
  const std::map<std::string, std::deque<bucket_record>>& buckets() const noexcept {
    return buckets_;
  }
  const std::deque<server_run_record>& server_runs() const noexcept { return server_runs_; }
  // SET_DEVICE_PROPERTY stores, READ_DEVICE_PROPERTY answers with it.
  const pson::value* property(const device_id& id, std::string_view name) const;
  void set_server_run_handler(server_run_handler h) { server_run_handler_ = std::move(h); }
  void set_stream_policy(stream_policy p) { stream_policy_ = std::move(p); }

  // --- test hooks ---------------------------------------------------------------
  // Stops (or resumes) echoing KEEP_ALIVE on the current connection only, so a
  // device's dead-peer detection fires and its reconnection works normally.
  bool set_silent(const device_id& id, bool silent);
  // Closes the device's connection (abortive, or after a DISCONNECT).
  bool kick(const device_id& id, bool graceful = false);
  // Writes bytes as they are; errc::closed when the device is not connected.
  net::status send_raw(const device_id& id, byte_view bytes);

  // --- events -------------------------------------------------------------------
  listener_id add_listener(event_callback cb);
  void remove_listener(listener_id id);

  // --- transport side (server.cpp) ------------------------------------------------
  // A connection authenticated as id; an older connection of the same device
  // is dropped first (its requests end as disconnected).
  void attach(device_link& link, const device_id& id);
  // The connection ended (no-op for a link that is not attached).
  void detach(device_link& link, std::string_view reason);
  void on_answer(device_link& link, std::uint16_t sid, const iotmp::server_session::answer& a);
  void on_requests_expired(device_link& link, const std::vector<std::uint16_t>& sids);
  void on_stream_started(device_link& link, std::uint16_t sid, bool accepted,
                         const iotmp::server_session::answer& a);
  void on_stream_data(device_link& link, std::uint16_t sid, const pson::value& v);
  void on_stream_stopped(device_link& link, std::uint16_t sid);
  bool accept_device_stream(device_link& link, const device_stream& s);
  void on_device_stream_opened(device_link& link, const device_stream& s);
  void on_device_stream_data(device_link& link, const device_stream& s, const pson::value& v);
  void on_device_stream_closed(device_link& link, const device_stream& s);
  iotmp::server_session::answer on_server_run(device_link& link,
                                              const iotmp::server_session::server_run& r);

 private:
  friend class stream_handle;

  struct entry {
    device_id id;
    device_link* link = nullptr;
    std::string peer;
    wall_time connected_since{};
    std::uint64_t connections = 0;
    traffic_counters past;  // of connections that ended
    traffic_counters last;  // of the connection that ended last
    std::map<std::uint16_t, request_callback> requests;
    std::map<std::uint16_t, std::shared_ptr<stream_handle::state>> streams;
    std::map<std::uint16_t, device_stream> device_streams;
    std::map<std::uint16_t, topic_table::subscription_id> subscriptions;  // by device stream sid
    std::map<std::string, pson::value, std::less<>> properties;
  };

  // What a connection leaves behind: taken out of the entry at once, reported
  // afterwards, so that callbacks see a consistent registry.
  struct ended_connection {
    device_id id;
    std::string peer;
    std::string reason;
    std::map<std::uint16_t, request_callback> requests;
    std::map<std::uint16_t, std::shared_ptr<stream_handle::state>> streams;
  };

  entry* connected_entry(const device_id& id);
  entry* entry_of(device_link& link);
  device_info info_of(const entry& e) const;
  ended_connection take_connection(entry& e, std::string_view reason);
  void notify_ended(ended_connection&& ended);
  void emit(const device_event& ev);
  bool restart(stream_handle::state& s, std::optional<std::chrono::milliseconds> interval);
  void stop(stream_handle::state& s);

  topic_table& topics_;
  std::map<device_id, entry> devices_;
  std::map<device_link*, entry*> links_;
  std::map<std::string, std::deque<bucket_record>> buckets_;
  std::deque<server_run_record> server_runs_;
  std::map<listener_id, std::shared_ptr<event_callback>> listeners_;
  listener_id next_listener_ = 1;
  server_run_handler server_run_handler_;
  stream_policy stream_policy_;
};

}  // namespace iotgw::devserver
