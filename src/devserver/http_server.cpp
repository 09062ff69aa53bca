#include "iotmp_gateway/devserver/http_server.hpp"

#include <libwebsockets.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>
#include <variant>
#include <vector>

#include "iotmp_gateway/devserver/http_page.hpp"
#include "iotmp_gateway/devserver/http_routes.hpp"
#include "iotmp_gateway/devserver/http_ws_queue.hpp"
#include "iotmp_gateway/net/endpoint.hpp"
#include "iotmp_gateway/pson/json.hpp"

namespace iotgw::devserver {

namespace {

constexpr int log_error = 3;
constexpr int log_warning = 4;
constexpr int log_info = 6;
constexpr int log_debug = 7;

// Application close codes (4000-4999 are ours by RFC 6455 §7.4.2): the device
// refused or stopped the stream of a single-resource socket.
constexpr int close_refused = 4404;

// lws logs through one process-wide function without a user pointer; the
// newest server takes it (a process has one, tests have one at a time).
const std::function<void(int, std::string_view)>* lws_log_sink = nullptr;

void emit_lws_log(int level, const char* line) {
  if (lws_log_sink == nullptr || !*lws_log_sink) return;
  std::string_view text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  (*lws_log_sink)(level == LLL_ERR ? log_error : log_warning, "http: lws: " + std::string(text));
}

std::string header(lws* wsi, lws_token_indexes token) {
  const int n = lws_hdr_total_length(wsi, token);
  if (n <= 0) return {};
  std::string s(static_cast<std::size_t>(n) + 1, '\0');
  const int copied = lws_hdr_copy(wsi, s.data(), n + 1, token);
  s.resize(copied > 0 ? static_cast<std::size_t>(copied) : 0);
  return s;
}

// The query string, split by lws into decoded "name=value" fragments.
http_query query_of(lws* wsi) {
  http_query q;
  std::vector<char> buf(4096);
  for (int i = 0;; ++i) {
    const int n = lws_hdr_copy_fragment(wsi, buf.data(), static_cast<int>(buf.size()),
                                        WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0) break;
    const std::string_view frag(buf.data(), static_cast<std::size_t>(n));
    const auto eq = frag.find('=');
    if (eq == std::string_view::npos) {
      q.emplace_back(std::string(frag), std::string());
    } else {
      q.emplace_back(std::string(frag.substr(0, eq)), std::string(frag.substr(eq + 1)));
    }
  }
  return q;
}

const char* method_name(int method) {
  switch (method) {
    case LWSHUMETH_GET:
      return "GET";
    case LWSHUMETH_POST:
      return "POST";
    case LWSHUMETH_OPTIONS:
      return "OPTIONS";
    case LWSHUMETH_PUT:
      return "PUT";
    case LWSHUMETH_PATCH:
      return "PATCH";
    case LWSHUMETH_DELETE:
      return "DELETE";
    default:
      return "(other method)";
  }
}

std::string peer_of(lws* wsi) {
  char name[64] = "";
  lws_get_peer_simple(wsi, name, sizeof name);
  return name;
}

// Binds (and releases) address:port as lws will, with SO_REUSEADDR: 0 or an
// errno. lws 4.1 cannot fail to create a context on a foreign loop cleanly:
// it leaves libuv handles on our loop that keep it running for ever. So a
// port in use, or an address not of this host, is found here first. (A port
// taken between this check and lws' bind is the one case left.)
int try_bind(const std::string& address, std::uint16_t port) {
  sockaddr_storage addr{};
  if (!net::make_socket_address(address, port, addr)) return EINVAL;
  const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const socklen_t len = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

std::string json_text(const std::optional<pson::value>& v) {
  return v ? pson::to_json(*v) : std::string("null");
}

// nlohmann's message starts with "[json.exception.parse_error.101] ": noise for a person.
std::string readable_json_error(const pson::json_error& e) {
  std::string m = e.message;
  if (m.starts_with("[json.exception.")) {
    if (const auto close = m.find("] "); close != std::string::npos) m.erase(0, close + 2);
  }
  return "malformed JSON body at byte " + std::to_string(e.offset) + ": " + m;
}

}  // namespace

struct http_lws_glue {
  static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len);
};

// One HTTP request and its answer. A keep-alive connection carries several, one
// after the other; a device answer that arrives for a request whose connection
// is gone finds its weak_ptr expired.
struct http_server::exchange {
  lws* wsi = nullptr;
  int method = -1;  // LWSHUMETH_*
  std::string path;
  http_route route;
  http_query query;
  std::string body;
  bool body_too_large = false;
  // The answer, once decided.
  bool ready = false;
  int status = 0;
  std::string content_type;
  std::string payload;
  bool headers_sent = false;
  std::size_t sent = 0;
};

struct http_server::socket {
  socket(lws* w, std::size_t frames, std::size_t bytes) : wsi(w), queue(frames, bytes) {}

  lws* wsi;
  http_route route;
  // Merger consumers by resource (one for a single-resource socket).
  std::map<std::string, stream_merger::consumer_id, std::less<>> consumers;
  topic_table::subscription_id subscription = 0;
  http_ws_queue queue;
  std::string incoming;  // a text message arriving in fragments
  std::optional<std::pair<int, std::string>> close_with;
};

http_server::http_server(uv::loop& loop, device_registry& registry, stream_merger& merger,
                         http_options options)
    : loop_(loop), registry_(registry), merger_(merger), options_(std::move(options)) {}

http_server::~http_server() {
  if (context_ != nullptr) {
    close();
    // lws releases its libuv handles asynchronously, from their close
    // callbacks; the second lws_context_destroy() frees the context and must
    // come after them (lws 4.1 with a foreign loop).
    for (int round = 0; round < 1000 && lws_handles() > 0; ++round) {
      uv_run(loop_.raw(), UV_RUN_NOWAIT);
    }
    lws_context_destroy(context_);  // sets context_ to null (info.pcontext)
    context_ = nullptr;
  }
  if (lws_log_sink == &options_.log) {
    lws_set_log_level(LLL_ERR | LLL_WARN, nullptr);
    lws_log_sink = nullptr;
  }
}

std::size_t http_server::lws_handles() const {
  struct walk {
    const lws_context* context;
    std::size_t n = 0;
  } w{context_};
  // lws' per-loop handles (idle, timers) point at the context; each connection
  // has a uv_poll_t, and nothing else in the devserver polls file descriptors.
  uv_walk(
      loop_.raw(),
      [](uv_handle_t* h, void* arg) {
        auto* w = static_cast<walk*>(arg);
        if (h->data == w->context || h->type == UV_POLL) ++w->n;
      },
      &w);
  return w.n;
}

net::status http_server::start() {
  static const lws_protocols protocols[] = {
      {"iotmp-devserver", &http_lws_glue::callback, 0, 0, 0, nullptr, 0},
      {nullptr, nullptr, 0, 0, 0, nullptr, 0},
  };
  const std::string where = "http on " + options_.address + ":" + std::to_string(options_.port);
  if (context_ != nullptr) return {net::errc::invalid_argument, 0, where + ": already started"};

  if (const int err = try_bind(options_.address, options_.port); err != 0) {
    return {net::errc::io, 0, where + ": cannot listen: " + std::strerror(err)};
  }
  lws_log_sink = &options_.log;
  lws_set_log_level(LLL_ERR | LLL_WARN, &emit_lws_log);

  void* loops[] = {loop_.raw()};
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.port = options_.port;
  // An IP literal (the command line checks it): lws binds exactly that address.
  info.iface = options_.address == "0.0.0.0" ? nullptr : options_.address.c_str();
  info.protocols = protocols;
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
  if (options_.address.find(':') == std::string::npos) {
    info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  }
  info.foreign_loops = loops;
  info.pcontext = &context_;
  info.user = this;
  info.server_string = "iotmp-devserver";
  lws_context* context = lws_create_context(&info);
  if (context == nullptr) {
    return {net::errc::io, 0, where + ": libwebsockets cannot listen there"};
  }
  context_ = context;
  port_ = static_cast<std::uint16_t>(
      lws_get_vhost_listen_port(lws_get_vhost_by_name(context_, "default")));
  log(log_info,
      "HTTP API and web page on http://" +
          (options_.address.find(':') == std::string::npos ? options_.address
                                                           : "[" + options_.address + "]") +
          ":" + std::to_string(port_) + "/");
  return {};
}

void http_server::close() {
  if (closing_ || context_ == nullptr) return;
  closing_ = true;
  // Phase one: every connection closes (their CLOSED callbacks remove the
  // merger consumers and topic subscriptions) and lws starts closing its handles.
  lws_context_destroy(context_);
}

std::size_t http_server::queued_frames() const noexcept {
  std::size_t n = 0;
  for (const auto& [wsi, s] : sockets_) n += s->queue.size();
  return n;
}

void http_server::log(int priority, std::string_view text) const {
  if (options_.log) options_.log(priority, text);
}

int http_lws_glue::callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                            std::size_t len) {
  lws_context* context = lws_get_context(wsi);
  auto* self = context != nullptr ? static_cast<http_server*>(lws_context_user(context)) : nullptr;
  if (self == nullptr) {
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
  // No exception may cross into C: the connection is closed instead.
  try {
    return self->dispatch(wsi, static_cast<int>(reason), in, len);
  } catch (const std::exception& e) {
    self->log(log_error, std::string("http: ") + e.what());
  } catch (...) {
    self->log(log_error, "http: unknown exception");
  }
  try {
    self->forget(wsi);
  } catch (...) {  // nothing more to do: the connection closes either way
  }
  return -1;
}

int http_server::dispatch(lws* wsi, int reason, void* in, std::size_t len) {
  switch (reason) {
    case LWS_CALLBACK_HTTP:
      return on_http(wsi, in != nullptr ? static_cast<const char*>(in) : "");
    case LWS_CALLBACK_HTTP_BODY:
      return on_http_body(wsi, static_cast<const char*>(in), len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
      return on_http_body_complete(wsi);
    case LWS_CALLBACK_HTTP_WRITEABLE:
      return on_http_writeable(wsi);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
      // A page on another site must not read device values through a
      // browser on this machine: WebSockets have no same-origin policy.
      if (!same_origin(wsi)) {
        log(log_warning,
            "http: WebSocket from another origin refused: " + header(wsi, WSI_TOKEN_ORIGIN));
        return 1;
      }
      return 0;
    case LWS_CALLBACK_ESTABLISHED:
      return on_ws_established(wsi);
    case LWS_CALLBACK_RECEIVE:
      return on_ws_receive(wsi, static_cast<const char*>(in), len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
      return on_ws_writeable(wsi);
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_WSI_DESTROY:
      forget(wsi);
      return lws_callback_http_dummy(wsi, static_cast<lws_callback_reasons>(reason), nullptr, in,
                                     len);
    default:
      return lws_callback_http_dummy(wsi, static_cast<lws_callback_reasons>(reason), nullptr, in,
                                     len);
  }
}

void http_server::forget(lws* wsi) {
  exchanges_.erase(wsi);
  const auto it = sockets_.find(wsi);
  if (it == sockets_.end()) return;
  const std::shared_ptr<socket> s = it->second;
  sockets_.erase(it);
  for (const auto& [resource, id] : s->consumers) merger_.remove(id);
  s->consumers.clear();
  if (s->subscription != 0) registry_.topics().unsubscribe(s->subscription);
  s->subscription = 0;
  if (s->queue.dropped() > 0) {
    log(log_info, "http: a WebSocket closed after " + std::to_string(s->queue.dropped()) +
                      " samples were dropped (the client read too slowly)");
  }
}

bool http_server::same_origin(lws* wsi) const {
  // Clients that are not browsers (curl, tests) send no Origin.
  const std::string origin = header(wsi, WSI_TOKEN_ORIGIN);
  if (origin.empty()) return true;
  const auto scheme = origin.find("://");
  const std::string host = header(wsi, WSI_TOKEN_HOST);
  return scheme != std::string::npos && !host.empty() && origin.substr(scheme + 3) == host;
}

// ---- HTTP -------------------------------------------------------------------

int http_server::on_http(lws* wsi, std::string_view path) {
  auto ex = std::make_shared<exchange>();
  ex->wsi = wsi;
  char* uri = nullptr;
  int uri_len = 0;
  ex->method = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
  ex->path = std::string(path);
  ex->route = parse_http_route(path);
  ex->query = query_of(wsi);
  exchanges_[wsi] = ex;
  log(log_debug, "http: " + peer_of(wsi) + " " + method_name(ex->method) + " " + ex->path);

  if (ex->method == LWSHUMETH_POST) {
    if (!same_origin(wsi)) {
      respond(ex, 403, http_error_body("POST from another origin refused"));
      return 0;
    }
    // Without a body lws announces no body completion: answer now.
    const std::string length = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    const bool chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
    if (!chunked && (length.empty() || length == "0")) handle(ex);
    return 0;
  }
  handle(ex);
  return 0;
}

int http_server::on_http_body(lws* wsi, const char* data, std::size_t len) {
  const auto it = exchanges_.find(wsi);
  if (it == exchanges_.end()) return 0;
  exchange& ex = *it->second;
  if (ex.body_too_large) return 0;
  if (ex.body.size() + len > options_.max_body) {
    // Read to the end and refuse it then: an answer in the middle of the
    // upload would leave the rest of the body where the next request should be.
    ex.body_too_large = true;
    ex.body.clear();
    return 0;
  }
  ex.body.append(data, len);
  return 0;
}

int http_server::on_http_body_complete(lws* wsi) {
  const auto it = exchanges_.find(wsi);
  if (it == exchanges_.end()) return 0;
  const std::shared_ptr<exchange> ex = it->second;
  if (ex->ready) return 0;
  if (ex->body_too_large) {
    respond(
        ex, 413,
        http_error_body("the body is larger than " + std::to_string(options_.max_body) + " bytes"));
    return 0;
  }
  handle(ex);
  return 0;
}

void http_server::handle(const std::shared_ptr<exchange>& ex) {
  using kind = http_route::kind;
  const bool get = ex->method == LWSHUMETH_GET;
  const bool post = ex->method == LWSHUMETH_POST;
  const http_route& r = ex->route;
  if (r.type == kind::not_found) {
    respond(ex, 404, http_error_body("no such endpoint: " + ex->path));
    return;
  }
  const bool takes_post = r.type == kind::resource || r.type == kind::topic;
  if (!get && !(post && takes_post)) {
    respond(
        ex, 405,
        http_error_body(std::string(takes_post ? "GET or POST" : "only GET") + " on " + ex->path));
    return;
  }
  switch (r.type) {
    case kind::page:
      respond(ex, 200, std::string(http_page()), "text/html; charset=utf-8");
      return;
    case kind::all_devices:
    case kind::user_devices: {
      pson::array list;
      for (const auto& d : registry_.devices()) {
        if (r.type == kind::user_devices && d.id.user != r.device.user) continue;
        list.push_back(device_json(d));
      }
      respond(ex, 200, pson::to_json(pson::value(std::move(list))));
      return;
    }
    case kind::device: {
      const auto d = registry_.find(r.device);
      if (!d) {
        respond(ex, 404, http_error_body("no device " + r.device.text() + " has connected"));
        return;
      }
      respond(ex, 200, pson::to_json(device_json(*d)));
      return;
    }
    case kind::api:
    case kind::api_resource:
    case kind::resources:
    case kind::resource:
      handle_device_request(ex);
      return;
    case kind::topics: {
      pson::array list;
      for (const auto& [topic, e] : registry_.topics().matching("#")) {
        list.push_back(topic_json(topic, e));
      }
      respond(ex, 200, pson::to_json(pson::value(std::move(list))));
      return;
    }
    case kind::topic:
      handle_topic(ex);
      return;
    case kind::not_found:
      break;
  }
}

void http_server::handle_device_request(const std::shared_ptr<exchange>& ex) {
  using kind = http_route::kind;
  const http_route& r = ex->route;
  std::optional<pson::value> input;
  if (ex->method == LWSHUMETH_POST && !ex->body.empty()) {
    pson::value v;
    if (const auto err = pson::parse_json(ex->body, v)) {
      respond(ex, 400, http_error_body(readable_json_error(*err)));
      return;
    }
    input = std::move(v);
  }
  const bool is_run = r.type == kind::resource;
  const std::string what =
      is_run ? "RUN " + r.name : (r.type == kind::api_resource ? "DESCRIBE " + r.name : "DESCRIBE");
  std::weak_ptr<exchange> weak = ex;
  auto answer = [this, weak, device = r.device, what](const request_result& result) {
    const auto ex = weak.lock();
    if (!ex) return;  // the client went away; the answer has nowhere to go
    if (result.ok()) {
      respond(ex, 200, json_text(result.payload));
    } else {
      respond(ex, http_status_of(result.status), http_request_error_body(device, what, result));
    }
  };
  request_status st;
  if (is_run) {
    st = registry_.run(r.device, r.name, input, answer);
  } else {
    std::optional<std::string_view> one;
    if (r.type == kind::api_resource) one = r.name;
    st = registry_.describe(r.device, one, answer);
  }
  if (st != request_status::ok) {
    respond(ex, http_status_of(st),
            http_request_error_body(r.device, what, request_result{st, {}, {}}));
    return;
  }
  // The registry bounds the wait (its request timeout answers 504); lws'
  // own timeouts must not cut the request first.
  lws_set_timeout(ex->wsi, NO_PENDING_TIMEOUT, 0);
}

void http_server::handle_topic(const std::shared_ptr<exchange>& ex) {
  topic_table& topics = registry_.topics();
  const std::string& topic = ex->route.name;
  if (ex->method == LWSHUMETH_POST) {
    pson::value v;
    if (ex->body.empty()) {
      respond(ex, 400, http_error_body("POST a JSON value to publish on " + topic));
      return;
    }
    if (const auto err = pson::parse_json(ex->body, v)) {
      respond(ex, 400, http_error_body(readable_json_error(*err)));
      return;
    }
    const auto delivered = topics.publish(topic, v);
    if (!delivered) {
      respond(ex, 400, http_error_body("'" + topic + "' is not a topic name one can publish on"));
      return;
    }
    respond(ex, 200,
            pson::to_json(pson::value(pson::object{{"topic", pson::value(topic)},
                                                   {"subscribers", pson::value(*delivered)}})));
    return;
  }
  if (const auto* e = topics.latest(topic)) {
    respond(ex, 200, pson::to_json(e->value));
    return;
  }
  // A filter lists what it matches, as the WebSocket on it starts with.
  if (topic.find_first_of("+#") != std::string::npos) {
    pson::array list;
    for (const auto& [name, e] : topics.matching(topic)) list.push_back(topic_json(name, e));
    respond(ex, 200, pson::to_json(pson::value(std::move(list))));
    return;
  }
  respond(ex, 404, http_error_body("nothing was published on " + topic + " yet"));
}

void http_server::respond(const std::shared_ptr<exchange>& ex, int status, std::string body,
                          std::string_view content_type) {
  if (ex->ready) return;
  ex->ready = true;
  ex->status = status;
  ex->payload = std::move(body);
  ex->content_type = std::string(content_type);
  lws_callback_on_writable(ex->wsi);
}

int http_server::on_http_writeable(lws* wsi) {
  const auto it = exchanges_.find(wsi);
  if (it == exchanges_.end() || !it->second->ready) return 0;
  const std::shared_ptr<exchange> ex = it->second;
  if (!ex->headers_sent) {
    unsigned char buf[LWS_PRE + 1024];
    unsigned char* start = buf + LWS_PRE;
    unsigned char* p = start;
    unsigned char* end = buf + sizeof buf - 1;
    const auto add = [&](const char* name, std::string_view value) {
      return lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(name),
                                         reinterpret_cast<const unsigned char*>(value.data()),
                                         static_cast<int>(value.size()), &p, end) == 0;
    };
    if (lws_add_http_common_headers(wsi, static_cast<unsigned>(ex->status),
                                    ex->content_type.c_str(), ex->payload.size(), &p, end) != 0 ||
        !add("cache-control:", "no-store") || !add("x-content-type-options:", "nosniff") ||
        lws_finalize_write_http_header(wsi, start, &p, end) != 0) {
      return -1;
    }
    ex->headers_sent = true;
    lws_callback_on_writable(wsi);
    return 0;
  }
  // One write per writeable callback, in pieces lws can take at once.
  constexpr std::size_t piece = 16 * 1024;
  const std::size_t n = std::min(piece, ex->payload.size() - ex->sent);
  const bool last = ex->sent + n == ex->payload.size();
  std::vector<unsigned char> buf(LWS_PRE + n);
  std::memcpy(buf.data() + LWS_PRE, ex->payload.data() + ex->sent, n);
  if (lws_write(wsi, buf.data() + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) <
      static_cast<int>(n)) {
    return -1;
  }
  ex->sent += n;
  if (!last) {
    lws_callback_on_writable(wsi);
    return 0;
  }
  ++stats_.requests;
  exchanges_.erase(wsi);
  // Keep-alive: the connection waits for its next request, or closes.
  return lws_http_transaction_completed(wsi) != 0 ? -1 : 0;
}

// ---- WebSocket ----------------------------------------------------------------

int http_server::on_ws_established(lws* wsi) {
  using kind = http_route::kind;
  auto s = std::make_shared<socket>(wsi, options_.ws_queue_frames, options_.ws_queue_bytes);
  sockets_[wsi] = s;
  ++stats_.websockets;
  const std::string path = header(wsi, WSI_TOKEN_GET_URI);
  s->route = parse_http_route(path);
  const http_query query = query_of(wsi);
  log(log_debug, "http: " + peer_of(wsi) + " WebSocket " + path);

  switch (s->route.type) {
    case kind::resource: {
      auto interval = stream_interval(query);
      if (auto* error = std::get_if<std::string>(&interval)) {
        close_socket(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, *error);
        return 0;
      }
      subscribe(s, s->route.name, std::get<0>(interval));
      return 0;
    }
    case kind::resources:
      return 0;  // streams come with the client's frames
    case kind::topic: {
      std::weak_ptr<socket> weak = s;
      topic_table& topics = registry_.topics();
      s->subscription = topics.subscribe(s->route.name, [this, weak](const std::string& topic,
                                                                     const pson::value& v) {
        if (auto s = weak.lock()) {
          send(
              s,
              pson::to_json(pson::value(pson::object{{"topic", pson::value(topic)}, {"value", v}})),
              true);
        }
      });
      if (s->subscription == 0) {
        close_socket(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                     "'" + s->route.name + "' is not an MQTT topic filter");
        return 0;
      }
      // What is there already comes first, as retained messages do in MQTT.
      for (const auto& [topic, e] : topics.matching(s->route.name)) {
        send(s,
             pson::to_json(
                 pson::value(pson::object{{"topic", pson::value(topic)}, {"value", e.value}})),
             true);
      }
      return 0;
    }
    default:
      close_socket(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "no WebSocket at " + path);
      return 0;
  }
}

void http_server::subscribe(const std::shared_ptr<socket>& s, const std::string& resource,
                            std::optional<std::chrono::milliseconds> interval) {
  unsubscribe(*s, resource);
  const bool single = s->route.type == http_route::kind::resource;
  std::weak_ptr<socket> weak = s;
  stream_merger::consumer_callbacks cb;
  cb.on_sample = [this, weak, resource, single](const pson::value& v) {
    const auto s = weak.lock();
    if (!s) return;
    if (single) {
      send(s, pson::to_json(v), true);
    } else {
      send(s,
           pson::to_json(
               pson::value(pson::object{{"resource", pson::value(resource)}, {"value", v}})),
           true);
    }
  };
  cb.on_ended = [this, weak, resource, single](request_status why) {
    const auto s = weak.lock();
    if (!s) return;
    s->consumers.erase(resource);  // the merger has forgotten it already
    const std::string reason = why == request_status::stopped
                                   ? "the device stopped the stream of " + resource
                                   : "the device refused to stream " + resource;
    if (single) {
      close_socket(s, close_refused, reason);
    } else {
      send(s,
           pson::to_json(pson::value(pson::object{
               {"resource", pson::value(resource)},
               {"error", pson::value(reason)},
               {"status", pson::value(why == request_status::stopped ? "stopped" : "refused")}})),
           false);
    }
  };
  s->consumers[resource] = merger_.add(s->route.device, resource, interval, std::move(cb));
}

void http_server::unsubscribe(socket& s, const std::string& resource) {
  const auto it = s.consumers.find(resource);
  if (it == s.consumers.end()) return;
  merger_.remove(it->second);
  s.consumers.erase(it);
}

void http_server::send(const std::shared_ptr<socket>& s, std::string text, bool sample) {
  if (s->close_with) return;
  const auto before = s->queue.dropped();
  if (sample) {
    s->queue.push_sample(std::move(text));
  } else {
    s->queue.push_control(std::move(text));
  }
  stats_.samples_dropped += s->queue.dropped() - before;
  lws_callback_on_writable(s->wsi);
}

void http_server::close_socket(const std::shared_ptr<socket>& s, int code, std::string reason) {
  if (s->close_with) return;
  log(log_debug, "http: closing a WebSocket (" + std::to_string(code) + "): " + reason);
  // No more samples; what is queued still goes out before the close frame.
  for (const auto& [resource, id] : s->consumers) merger_.remove(id);
  s->consumers.clear();
  if (s->subscription != 0) registry_.topics().unsubscribe(s->subscription);
  s->subscription = 0;
  // A close frame's reason has room for 123 bytes (RFC 6455 §5.5).
  if (reason.size() > 123) reason.resize(123);
  s->close_with.emplace(code, std::move(reason));
  lws_callback_on_writable(s->wsi);
}

int http_server::on_ws_receive(lws* wsi, const char* data, std::size_t len) {
  const auto it = sockets_.find(wsi);
  if (it == sockets_.end()) return 0;
  const std::shared_ptr<socket> s = it->second;
  if (lws_is_first_fragment(wsi)) s->incoming.clear();
  if (lws_frame_is_binary(wsi)) {
    close_socket(s, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "text frames only (JSON)");
    return 0;
  }
  if (s->incoming.size() + len > options_.max_ws_message) {
    close_socket(s, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                 "a message over " + std::to_string(options_.max_ws_message) + " bytes");
    return 0;
  }
  s->incoming.append(data, len);
  if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
    const std::string text = std::move(s->incoming);
    s->incoming.clear();
    on_ws_message(s, text);
  }
  return 0;
}

void http_server::on_ws_message(const std::shared_ptr<socket>& s, std::string_view text) {
  if (s->close_with) return;
  if (s->route.type != http_route::kind::resources) {
    send(s, http_error_body("this WebSocket takes no messages"), false);
    return;
  }
  auto parsed = parse_ws_subscription(text);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    send(s, http_error_body(*error), false);
    return;
  }
  const auto& request = std::get<ws_subscription_request>(parsed);
  if (request.enabled) {
    subscribe(s, request.resource, request.interval);
  } else {
    unsubscribe(*s, request.resource);
  }
}

int http_server::on_ws_writeable(lws* wsi) {
  const auto it = sockets_.find(wsi);
  if (it == sockets_.end()) return 0;
  const std::shared_ptr<socket> s = it->second;
  auto f = s->queue.pop();
  if (!f) {
    if (!s->close_with) return 0;
    lws_close_reason(wsi, static_cast<lws_close_status>(s->close_with->first),
                     reinterpret_cast<unsigned char*>(s->close_with->second.data()),
                     s->close_with->second.size());
    // Not `return -1`: lws 4.1 takes a failed writeable callback (and a
    // timeout) for a dead socket and closes it without the close frame, so
    // the client would never learn why. A synchronous close of a socket in
    // good health queues the close frame (the wsi lives on until it is sent
    // and answered).
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    return 0;
  }
  std::string& text = f->text;
  // A client of a JSON-object stream learns that it missed samples.
  if (f->dropped_before > 0 && s->route.type != http_route::kind::resource && text.size() > 2 &&
      text.front() == '{' && text.back() == '}') {
    text.insert(text.size() - 1, ",\"dropped\":" + std::to_string(s->queue.dropped()));
  }
  std::vector<unsigned char> buf(LWS_PRE + text.size());
  std::memcpy(buf.data() + LWS_PRE, text.data(), text.size());
  if (lws_write(wsi, buf.data() + LWS_PRE, text.size(), LWS_WRITE_TEXT) <
      static_cast<int>(text.size())) {
    return -1;
  }
  ++stats_.samples_sent;
  if (!s->queue.empty() || s->close_with) lws_callback_on_writable(wsi);
  return 0;
}

}  // namespace iotgw::devserver
