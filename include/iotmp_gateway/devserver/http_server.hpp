// The HTTP and WebSocket face of iotmp-devserver (SPEC §8): the seed's server
// API over the device registry, device streams through the GCD stream merger,
// the in-process topic table, and a web page at "/". Served by libwebsockets
// (Debian 12: 4.1.6) on the devserver's own libuv loop, through lws' libuv
// event-loop plugin with our loop as its "foreign" loop: one thread, one
// loop, and the registry is only ever touched from it.
//
// Endpoints (README "HTTP API" has examples):
//   GET  /                                          the web page
//   GET  /v3/devices                                every device seen, connected or not
//   GET  /v3/users/{u}/devices                      the user's devices
//   GET  /v3/users/{u}/devices/{d}                  one device
//   GET  /v3/users/{u}/devices/{d}/api              DESCRIBE (also .../resources)
//   GET  /v3/users/{u}/devices/{d}/api/{r}          DESCRIBE of one resource
//   GET  /v3/users/{u}/devices/{d}/resources/{r}    RUN
//   POST /v3/users/{u}/devices/{d}/resources/{r}    RUN with the JSON body as input
//   GET  /v3/topics                                 the topic table
//   GET  /v3/topics/{topic}                         a topic's latest value
//   POST /v3/topics/{topic}                         publish to devices' subscribe streams
//   WS   .../resources/{r}[?interval=SECONDS]       a stream: one text frame per value
//   WS   .../resources                              multiplexed streams (see below)
//   WS   /v3/topics/{filter}                        {"topic", "value"} per message
// A device request answers 200 with the device's output as JSON (null when it
// sent none), 404 when the device refused it, 503 when the device is not
// connected, 504 when it did not answer in time; errors carry a JSON body
// {"error": ..., "status": ...}.
//
// The multiplexed socket takes {"resource": r, "interval": seconds,
// "enabled": true|false} text frames and sends {"resource": r, "value": v};
// {"resource": r, "error": ..., "status": ...} when the device refused or
// stopped that stream, {"error": ...} for a frame it cannot take; a frame sent
// after samples had to be dropped carries "dropped" (the count so far).
//
// Construct, use and destroy on the loop thread. Shutdown is two-phase, as
// lws needs with a foreign loop: close() closes every connection and starts
// closing lws' libuv handles; the loop must then run (main's loop.run() does,
// until nothing is left); the destructor frees the lws context. A destructor
// that finds close() not called, or the handles not closed yet, runs the loop
// itself (UV_RUN_NOWAIT) until they are: so destroy it outside loop
// callbacks, and before the loop is closed. Destroy it before the merger,
// and the merger before the registry.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "iotmp_gateway/devserver/registry.hpp"
#include "iotmp_gateway/devserver/stream_merger.hpp"
#include "iotmp_gateway/net/status.hpp"
#include "iotmp_gateway/net/uv_loop.hpp"

struct lws;
struct lws_context;

namespace iotgw::devserver {

struct http_options {
  std::string address = "127.0.0.1";  // an IP literal
  std::uint16_t port = 8080;          // 0 picks a free one (see http_server::port())
  // A POST body larger than this is refused (413): it has to fit in one IOTMP frame.
  std::size_t max_body = 256 * 1024;
  // A text frame from a client larger than this closes its WebSocket (1009).
  std::size_t max_ws_message = 64 * 1024;
  // Per WebSocket: queued frames beyond either bound drop the oldest samples.
  std::size_t ws_queue_frames = 256;
  std::size_t ws_queue_bytes = 1024 * 1024;
  // Log lines: (syslog priority, text); lws' own errors and warnings too.
  std::function<void(int priority, std::string_view text)> log;
};

struct http_stats {
  std::uint64_t requests = 0;         // HTTP requests answered
  std::uint64_t websockets = 0;       // WebSockets accepted since start
  std::uint64_t samples_sent = 0;     // WebSocket frames written
  std::uint64_t samples_dropped = 0;  // dropped by backpressure, all sockets
};

class http_server {
 public:
  // Does not listen yet: start() does.
  http_server(uv::loop& loop, device_registry& registry, stream_merger& merger,
              http_options options);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // "http on 127.0.0.1:8080: cannot listen: Address already in use" on failure.
  net::status start();
  // Closes every connection and starts releasing lws' loop handles. Idempotent.
  void close();

  std::uint16_t port() const noexcept { return port_; }
  const std::string& address() const noexcept { return options_.address; }
  const http_stats& stats() const noexcept { return stats_; }
  // WebSockets open now.
  std::size_t open_websockets() const noexcept { return sockets_.size(); }
  // Frames queued on the open WebSockets, all together (for backpressure tests).
  std::size_t queued_frames() const noexcept;

 private:
  struct exchange;
  struct socket;

  // libwebsockets' protocol callback, with its exact C signature (in the .cpp).
  friend struct http_lws_glue;
  int dispatch(lws* wsi, int reason, void* in, std::size_t len);

  // HTTP
  int on_http(lws* wsi, std::string_view path);
  int on_http_body(lws* wsi, const char* data, std::size_t len);
  int on_http_body_complete(lws* wsi);
  int on_http_writeable(lws* wsi);
  void handle(const std::shared_ptr<exchange>& ex);
  void handle_device_request(const std::shared_ptr<exchange>& ex);
  void handle_topic(const std::shared_ptr<exchange>& ex);
  void respond(const std::shared_ptr<exchange>& ex, int status, std::string body,
               std::string_view content_type = "application/json");
  bool same_origin(lws* wsi) const;

  // WebSocket
  int on_ws_established(lws* wsi);
  int on_ws_receive(lws* wsi, const char* data, std::size_t len);
  int on_ws_writeable(lws* wsi);
  void on_ws_message(const std::shared_ptr<socket>& s, std::string_view text);
  void subscribe(const std::shared_ptr<socket>& s, const std::string& resource,
                 std::optional<std::chrono::milliseconds> interval);
  void unsubscribe(socket& s, const std::string& resource);
  void send(const std::shared_ptr<socket>& s, std::string text, bool sample);
  void close_socket(const std::shared_ptr<socket>& s, int code, std::string reason);
  void forget(lws* wsi);

  void log(int priority, std::string_view text) const;
  // lws handles still open on our loop (see the destructor).
  std::size_t lws_handles() const;

  uv::loop& loop_;
  device_registry& registry_;
  stream_merger& merger_;
  http_options options_;
  lws_context* context_ = nullptr;
  bool closing_ = false;
  std::uint16_t port_ = 0;
  http_stats stats_;
  std::map<lws*, std::shared_ptr<exchange>> exchanges_;
  std::map<lws*, std::shared_ptr<socket>> sockets_;
};

}  // namespace iotgw::devserver
