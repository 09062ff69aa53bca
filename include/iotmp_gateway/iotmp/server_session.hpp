// The server side of one IOTMP connection (PROTOCOL.md §7-§11) as a pure state
// machine, for iotmp-devserver: bytes from the device go in through receive(),
// frames for the device pile up in output(), what the server must decide or see
// goes to an observer. No sockets, no clocks (callers pass the time in), no threads.
//
// The observer is called synchronously inside receive(). It may call the request,
// stream, deliver and close methods of the same session (the frames they produce
// go after the ones already queued); it must not call receive() and must not
// destroy the session: the I/O layer checks current_state() after receive().
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "iotmp_gateway/iotmp/frame_decoder.hpp"
#include "iotmp_gateway/iotmp/message.hpp"
#include "iotmp_gateway/pson/value.hpp"

namespace iotgw::iotmp {

// The same alias as device_session.hpp (repeating an alias of the same type is fine).
using time_point = std::chrono::steady_clock::time_point;

class server_session {
 public:
  // CONNECT's PAYLOAD, in the order the reference clients send it (§7.1).
  struct credentials {
    std::string username;
    std::string device;
    std::string credential;
  };

  // OK or ERROR from the device, or the server's own answer to a device RUN.
  struct answer {
    bool ok = true;
    std::optional<pson::value> parameters;
    std::optional<pson::value> payload;
  };

  // The two ways a device asks for an MQTT stream (§11.3, SPEC §4 mqtt_streams).
  enum class mqtt_scheme : std::uint8_t {
    event,  // RESOURCE 8, {"event":"device_topic_publish","scope":"publish"|"subscribe",...}
    spec,   // RESOURCE = topic, {"type":"mqtt","scope":["publish"?, "subscribe"?]}
  };

  // A stream the device opened on an MQTT topic of the server.
  struct device_stream {
    std::uint16_t sid = 0;
    std::string topic;       // may be a filter with wildcards on a subscribe stream
    bool publish = false;    // device -> server STREAM_DATA
    bool subscribe = false;  // server -> device STREAM_DATA, through deliver()
    std::uint8_t qos = 0;    // 0 when the device did not say
    bool retained = false;
    mqtt_scheme scheme = mqtt_scheme::event;

    friend bool operator==(const device_stream&, const device_stream&) = default;
  };

  // Where a device put the server resource code of its RUN (§9.2). Thinger.io's
  // own clients disagree, so the server takes either.
  enum class run_layout : std::uint8_t {
    code_in_resource,    // IOTMP-Linux: RESOURCE = code, PARAMETERS = id
    code_in_parameters,  // IOTMP-Embedded/Arduino: PARAMETERS = code, RESOURCE = id
  };

  // A device -> server RUN on a numeric server resource (WRITE_BUCKET, ...).
  struct server_run {
    server_resource code = server_resource::write_bucket;
    // Bucket, endpoint, property or sync id. Ids that are not strings
    // (CALL_DEVICE's [device, resource]) come as compact JSON.
    std::string id;
    std::optional<pson::value> payload;
    // Present when the device waits for OK/ERROR; without it nothing is answered.
    std::optional<std::uint16_t> stream_id;
    run_layout layout = run_layout::code_in_resource;
  };

  // What the session asks and tells its owner. The defaults are the safe choice:
  // refuse the device, its streams and its server RUNs; ignore everything else.
  class observer {
   public:
    virtual ~observer() = default;
    // Decides a CONNECT.
    virtual bool authenticate(const credentials&) { return false; }
    // The OK for CONNECT is queued: the place to send the first DESCRIBE.
    virtual void on_authenticated() {}
    // The device's OK/ERROR for run() or describe().
    virtual void on_answer(std::uint16_t /*request*/, const answer&) {}
    // The device's OK (accepted) or ERROR for start_stream()/restart_stream();
    // a refused stream is forgotten.
    virtual void on_stream_started(std::uint16_t /*sid*/, bool /*accepted*/, const answer&) {}
    // STREAM_DATA on a server-opened stream.
    virtual void on_stream_data(std::uint16_t /*sid*/, const pson::value&) {}
    // The device stopped a server-opened stream itself (already answered OK).
    virtual void on_stream_stopped(std::uint16_t /*sid*/) {}
    // Decides a device-opened MQTT stream.
    virtual bool accept_device_stream(const device_stream&) { return false; }
    // STREAM_DATA on an accepted publish-scope device stream.
    virtual void on_device_stream_data(const device_stream&, const pson::value&) {}
    // The OK for an accepted device stream is queued: deliver() works from here
    // on (e.g. retained messages for a subscribe stream).
    virtual void on_device_stream_opened(const device_stream&) {}
    // The device stopped one of its streams (already answered OK).
    virtual void on_device_stream_closed(const device_stream&) {}
    // A device -> server RUN; what it returns is sent only when the RUN had a stream id.
    virtual answer on_server_run(const server_run&) { return {false, {}, {}}; }
  };

  struct options {
    // How long run()/describe() wait before expire_requests() gives them up.
    std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
    // Stream ids are handed out counting up from here, skipping ids in use and 0
    // (a missing stream id means 0 to the reference clients). A random start
    // looks more like the reference server; a fixed one keeps tests exact.
    std::uint16_t first_stream_id = 1;
    std::size_t max_body = max_body_size;
  };

  // Counters for the devserver's log; none of these closes the connection.
  struct stats {
    std::uint64_t frames_in = 0;
    std::uint64_t unknown_frames = 0;   // unknown types, skipped by their size
    std::uint64_t dropped_data = 0;     // STREAM_DATA on no stream, or on a subscribe-only one
    std::uint64_t ignored_answers = 0;  // OK/ERROR matching nothing (late, or unsolicited)
  };

  enum class state : std::uint8_t { awaiting_connect, authenticated, closed };
  enum class close_reason : std::uint8_t {
    none,
    protocol_error,   // malformed frame, or a frame the state does not allow
    auth_refused,     // CONNECT refused; its ERROR is still in output()
    peer_disconnect,  // DISCONNECT from the device
    local,            // close() or disconnect()
  };

  server_session(observer& obs, time_point now);
  server_session(observer& obs, const options& opts, time_point now);

  // Consumes bytes from the device, in chunks of any size; returns the state
  // afterwards. On closed the I/O layer writes what is left in output() and
  // closes the socket.
  state receive(byte_view data, time_point now);

  // Frames for the device, in order. The I/O layer writes and clears it (or uses
  // take_output()); closing keeps it, so that a final ERROR still goes out.
  byte_buffer& output() noexcept { return output_; }
  byte_buffer take_output() noexcept;

  state current_state() const noexcept { return state_; }
  close_reason reason() const noexcept { return reason_; }
  // Why it closed, for the log: the codec error's text for a malformed frame.
  const std::string& close_message() const noexcept { return close_message_; }
  // Who authenticated (never the credential); kept after close for the log.
  const std::string& username() const noexcept { return username_; }
  const std::string& device() const noexcept { return device_; }
  const stats& counters() const noexcept { return stats_; }

  // True when no whole frame arrived for longer than timeout, counting from
  // construction until the first frame: the server drops silent devices.
  bool expired(time_point now, std::chrono::milliseconds timeout) const noexcept;
  time_point last_receive() const noexcept { return last_receive_; }

  // For tests: stop echoing KEEP_ALIVE so the device's dead-peer detection fires.
  // Nothing else changes; frames the server sends still count as traffic.
  void set_silent(bool silent) noexcept { silent_ = silent; }
  bool silent() const noexcept { return silent_; }

  // Server -> device requests (§9.1, §10). Each gets a fresh stream id not in use
  // by anything on this connection; nullopt when not authenticated, when no id is
  // free or when the frame would be over the size limit.
  std::optional<std::uint16_t> run(std::string_view resource,
                                   const std::optional<pson::value>& input,
                                   const std::optional<pson::value>& params, time_point now);
  std::optional<std::uint16_t> describe(std::optional<std::string_view> resource, time_point now);
  // Forgets and returns (ascending) the requests whose deadline has passed; a
  // late answer to one of them is ignored.
  std::vector<std::uint16_t> expire_requests(time_point now);
  // The earliest deadline of an outstanding request, for the caller's timer.
  std::optional<time_point> next_request_deadline() const;
  std::size_t pending_requests() const noexcept { return requests_.size(); }

  // Server-opened streams on device resources (§11.1). PARAMETERS are
  // {"interval": ms} with an interval, none for an event stream.
  std::optional<std::uint16_t> start_stream(std::string_view resource,
                                            std::optional<std::uint32_t> interval_ms);
  // START_STREAM again on the same sid with a new interval (GCD merging, §11.2);
  // its OK/ERROR comes to on_stream_started again. False for an unknown sid.
  bool restart_stream(std::uint16_t sid, std::optional<std::uint32_t> interval_ms);
  // Sends STOP_STREAM and forgets the stream. The sid stays reserved until the
  // device's OK, so that answer cannot be taken for a newer request's.
  bool stop_stream(std::uint16_t sid);
  bool has_stream(std::uint16_t sid) const noexcept { return streams_.contains(sid); }

  // Device-opened MQTT streams (§11.3); only accepted ones are kept.
  const device_stream* find_device_stream(std::uint16_t sid) const noexcept;
  std::size_t device_stream_count() const noexcept { return device_streams_.size(); }
  // STREAM_DATA to the device on an accepted subscribe-scope stream.
  bool deliver(std::uint16_t sid, const pson::value& v);
  // Sends STOP_STREAM for a device-opened stream and forgets it (no callback).
  bool close_device_stream(std::uint16_t sid);

  // Queues DISCONNECT and closes.
  void disconnect();
  // Forgets every request and stream and ignores further input; output() stays.
  void close(close_reason why = close_reason::local, std::string message = {});

 private:
  struct server_stream {
    std::string resource;
    std::optional<std::uint32_t> interval_ms;
    // STARTs sent and not yet answered: a re-START may go out before the
    // previous START's answer, and each answer must still be reported.
    std::uint32_t unanswered_starts = 0;
  };

  void dispatch(const message_view& m);
  void handle_connect(const message_view& m);
  void handle_answer(const message_view& m);
  void handle_start_stream(const message_view& m);
  void handle_stop_stream(const message_view& m);
  void handle_stream_data(const message_view& m);
  void handle_run(const message_view& m);

  std::optional<std::uint16_t> allocate_sid();
  bool sid_in_use(std::uint16_t sid) const noexcept;
  bool send_start(std::uint16_t sid, const server_stream& s);
  void send_answer(bool ok, std::uint16_t sid, const answer* a = nullptr);
  void send_bare(message_type type, std::uint16_t sid);
  bool is_open() const noexcept { return state_ == state::authenticated; }

  observer& observer_;
  options options_;
  frame_decoder decoder_;
  byte_buffer output_;
  state state_ = state::awaiting_connect;
  close_reason reason_ = close_reason::none;
  std::string close_message_;
  std::string username_;
  std::string device_;
  time_point last_receive_;
  bool silent_ = false;
  std::uint16_t next_sid_;
  // The sid of a device START_STREAM while accept_device_stream() decides: an
  // observer opening its own stream meanwhile must not get the same id.
  std::optional<std::uint16_t> opening_sid_;
  stats stats_;

  std::map<std::uint16_t, time_point> requests_;  // sid -> deadline
  std::map<std::uint16_t, server_stream> streams_;
  std::map<std::uint16_t, device_stream> device_streams_;
  std::set<std::uint16_t> stopping_;  // STOP_STREAM sent, its answer not yet seen
};

std::string_view to_string(server_session::state s) noexcept;
std::string_view to_string(server_session::close_reason r) noexcept;

}  // namespace iotgw::iotmp
