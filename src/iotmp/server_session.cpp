#include "iotmp_gateway/iotmp/server_session.hpp"

#include <utility>

#include "iotmp_gateway/pson/json.hpp"

namespace iotgw::iotmp {

namespace {

// The MQTT "event" of the SUBSCRIBE_EVENT scheme names both directions; "scope"
// tells them apart (§11.3).
constexpr std::string_view topic_event = "device_topic_publish";

const std::string* string_member(const pson::value& obj, std::string_view key) {
  const pson::value* v = obj.find(key);
  return v != nullptr && v->is_string() ? &v->as_string() : nullptr;
}

// qos and retained are optional in both schemes; present ones must make sense.
bool parse_qos_retained(const pson::value& params, server_session::device_stream& out) {
  if (const pson::value* qos = params.find("qos")) {
    std::uint64_t n = 0;
    if (!qos->get_unsigned(n) || n > 2) return false;
    out.qos = static_cast<std::uint8_t>(n);
  }
  if (const pson::value* retained = params.find("retained")) {
    if (!retained->is_bool()) return false;
    out.retained = retained->as_bool();
  }
  return true;
}

// Strict on purpose: the devserver exists to test device code, and a shape the
// real server might reject should not pass here unnoticed.
bool parse_device_stream(const message_view& m, server_session::device_stream& out) {
  if (!m.parameters.present()) return false;
  const pson::value params = m.parameters.to_value();
  if (!params.is_object()) return false;

  if (const auto code = m.resource.as_unsigned()) {
    if (*code != static_cast<std::uint64_t>(server_resource::subscribe_event)) return false;
    const std::string* event = string_member(params, "event");
    const std::string* scope = string_member(params, "scope");
    const std::string* topic = string_member(params, "topic");
    // Property and server-event subscriptions use other events: not served here.
    if (event == nullptr || *event != topic_event || scope == nullptr || topic == nullptr ||
        topic->empty()) {
      return false;
    }
    if (*scope == "publish") {
      out.publish = true;
    } else if (*scope == "subscribe") {
      out.subscribe = true;
    } else {
      return false;
    }
    out.topic = *topic;
    out.scheme = server_session::mqtt_scheme::event;
    return parse_qos_retained(params, out);
  }

  if (const auto topic = m.resource.as_string()) {
    const std::string* type = string_member(params, "type");
    const pson::value* scope = params.find("scope");
    if (type == nullptr || *type != "mqtt" || topic->empty() || scope == nullptr ||
        !scope->is_array() || scope->as_array().empty()) {
      return false;
    }
    for (const auto& s : scope->as_array()) {
      if (!s.is_string()) return false;
      if (s.as_string() == "publish") {
        out.publish = true;
      } else if (s.as_string() == "subscribe") {
        out.subscribe = true;
      } else {
        return false;
      }
    }
    out.topic = std::string(*topic);
    out.scheme = server_session::mqtt_scheme::spec;
    return parse_qos_retained(params, out);
  }
  return false;
}

std::optional<pson::value> optional_value(const field_view& f) {
  if (!f.present()) return std::nullopt;
  return f.to_value();
}

}  // namespace

server_session::server_session(observer& obs, time_point now)
    : server_session(obs, options{}, now) {}

server_session::server_session(observer& obs, const options& opts, time_point now)
    : observer_(obs),
      options_(opts),
      decoder_(opts.max_body),
      last_receive_(now),
      next_sid_(opts.first_stream_id) {}

server_session::state server_session::receive(byte_view data, time_point now) {
  if (state_ == state::closed) return state_;
  decoder_.feed(data);
  message_view m;
  while (state_ != state::closed) {
    const auto s = decoder_.next(m);
    if (s == frame_decoder::status::need_more) break;
    if (s == frame_decoder::status::error) {
      close(close_reason::protocol_error, std::string(to_string(decoder_.error())));
      break;
    }
    ++stats_.frames_in;
    last_receive_ = now;
    dispatch(m);
  }
  return state_;
}

byte_buffer server_session::take_output() noexcept {
  byte_buffer out;
  out.swap(output_);
  return out;
}

bool server_session::expired(time_point now, std::chrono::milliseconds timeout) const noexcept {
  return now - last_receive_ > timeout;
}

void server_session::dispatch(const message_view& m) {
  const auto type = m.known_type();
  if (state_ == state::awaiting_connect) {
    if (type == message_type::connect) {
      handle_connect(m);
    } else {
      std::string text = "expected CONNECT first, got ";
      text += to_string(type);
      close(close_reason::protocol_error, std::move(text));
    }
    return;
  }
  switch (type) {
    case message_type::ok:
    case message_type::error:
      handle_answer(m);
      break;
    case message_type::connect:
      close(close_reason::protocol_error, "CONNECT on an authenticated connection");
      break;
    case message_type::disconnect:
      // The docs let a DISCONNECT ask for an acknowledgement with a stream id.
      if (m.stream_id) send_bare(message_type::ok, *m.stream_id);
      close(close_reason::peer_disconnect, "DISCONNECT from the device");
      break;
    case message_type::keep_alive:
      if (!silent_) frame_writer(output_, message_type::keep_alive).finish();
      break;
    case message_type::run:
      handle_run(m);
      break;
    case message_type::describe:
      // The server publishes no API listing to devices.
      if (m.stream_id) send_answer(false, *m.stream_id);
      break;
    case message_type::start_stream:
      handle_start_stream(m);
      break;
    case message_type::stop_stream:
      handle_stop_stream(m);
      break;
    case message_type::stream_data:
      handle_stream_data(m);
      break;
    case message_type::reserved:
    default:
      // A newer device must not break us; the decoder skipped the body.
      ++stats_.unknown_frames;
      break;
  }
}

void server_session::handle_connect(const message_view& m) {
  const std::uint16_t sid = m.stream_id.value_or(0);
  credentials c;
  bool well_formed = false;
  if (m.payload.present()) {
    const pson::value payload = m.payload.to_value();
    if (payload.is_array() && payload.as_array().size() == 3) {
      const auto& a = payload.as_array();
      if (a[0].is_string() && a[1].is_string() && a[2].is_string()) {
        c = {a[0].as_string(), a[1].as_string(), a[2].as_string()};
        well_formed = true;
      }
    }
  }
  if (!well_formed) {
    send_answer(false, sid);
    close(close_reason::protocol_error, "CONNECT without [username, device, credential]");
    return;
  }
  const bool accepted = observer_.authenticate(c);
  c.credential.clear();  // nothing of it outlives the decision
  if (state_ == state::closed) return;
  if (!accepted) {
    send_answer(false, sid);
    // Appended piece by piece: GCC 12 at -O3 warns falsely (-Wrestrict) on a + b + c.
    std::string text = "authentication refused for ";
    text += c.username;
    text += '/';
    text += c.device;
    close(close_reason::auth_refused, std::move(text));
    return;
  }
  username_ = std::move(c.username);
  device_ = std::move(c.device);
  state_ = state::authenticated;
  send_answer(true, sid);
  observer_.on_authenticated();
}

void server_session::handle_answer(const message_view& m) {
  const std::uint16_t sid = m.stream_id.value_or(0);
  const bool ok = m.known_type() == message_type::ok;
  auto make_answer = [&] {
    return answer{ok, optional_value(m.parameters), optional_value(m.payload)};
  };
  if (auto it = requests_.find(sid); it != requests_.end()) {
    requests_.erase(it);
    observer_.on_answer(sid, make_answer());
    return;
  }
  if (auto it = streams_.find(sid); it != streams_.end() && it->second.unanswered_starts > 0) {
    --it->second.unanswered_starts;
    if (!ok) streams_.erase(it);
    observer_.on_stream_started(sid, ok, make_answer());
    return;
  }
  if (stopping_.erase(sid) > 0) return;
  ++stats_.ignored_answers;
}

void server_session::handle_start_stream(const message_view& m) {
  const std::uint16_t sid = m.stream_id.value_or(0);
  if (requests_.contains(sid) || streams_.contains(sid) || stopping_.contains(sid)) {
    // One id space for both sides (§3.3): the device picked one of ours.
    send_answer(false, sid);
    return;
  }
  if (auto it = device_streams_.find(sid); it != device_streams_.end()) {
    // IOTMP-Linux keys streams by id, so the same id again replaces the stream.
    const device_stream old = std::move(it->second);
    device_streams_.erase(it);
    observer_.on_device_stream_closed(old);
    if (state_ == state::closed) return;
  }
  device_stream s;
  s.sid = sid;
  if (!parse_device_stream(m, s)) {
    send_answer(false, sid);
    return;
  }
  opening_sid_ = sid;
  const bool accepted = observer_.accept_device_stream(s);
  opening_sid_.reset();
  if (state_ == state::closed) return;
  if (!accepted) {
    send_answer(false, sid);
    return;
  }
  const auto& stored = device_streams_.insert_or_assign(sid, std::move(s)).first->second;
  send_answer(true, sid);
  observer_.on_device_stream_opened(stored);
}

void server_session::handle_stop_stream(const message_view& m) {
  const std::uint16_t sid = m.stream_id.value_or(0);
  if (auto it = device_streams_.find(sid); it != device_streams_.end()) {
    const device_stream old = std::move(it->second);
    device_streams_.erase(it);
    send_answer(true, sid);
    observer_.on_device_stream_closed(old);
    return;
  }
  if (streams_.erase(sid) > 0) {
    send_answer(true, sid);
    observer_.on_stream_stopped(sid);
    return;
  }
  send_answer(false, sid);
}

void server_session::handle_stream_data(const message_view& m) {
  const std::uint16_t sid = m.stream_id.value_or(0);
  if (streams_.contains(sid)) {
    observer_.on_stream_data(sid, m.payload.to_value());
    return;
  }
  if (auto it = device_streams_.find(sid); it != device_streams_.end() && it->second.publish) {
    observer_.on_device_stream_data(it->second, m.payload.to_value());
    return;
  }
  // Unknown streams (and data racing a STOP) are dropped silently, as the clients do.
  ++stats_.dropped_data;
}

void server_session::handle_run(const message_view& m) {
  server_run req;
  req.stream_id = m.stream_id;
  const field_view* id_field = nullptr;
  std::optional<std::uint64_t> code;
  if ((code = m.resource.as_unsigned())) {
    req.layout = run_layout::code_in_resource;
    id_field = &m.parameters;
  } else if ((code = m.parameters.as_unsigned())) {
    req.layout = run_layout::code_in_parameters;
    id_field = &m.resource;
  }
  // SUBSCRIBE_EVENT (8) belongs to START_STREAM, not RUN.
  if (!code || *code < static_cast<std::uint64_t>(server_resource::read_device_property) ||
      *code > static_cast<std::uint64_t>(server_resource::unlock_sync)) {
    if (m.stream_id) send_answer(false, *m.stream_id);
    return;
  }
  req.code = static_cast<server_resource>(*code);
  if (const auto s = id_field->as_string()) {
    req.id = std::string(*s);
  } else if (id_field->present()) {
    req.id = pson::to_json(id_field->to_value());
  }
  req.payload = optional_value(m.payload);
  const answer a = observer_.on_server_run(req);
  if (state_ == state::closed) return;
  if (m.stream_id) send_answer(a.ok, *m.stream_id, &a);
}

bool server_session::sid_in_use(std::uint16_t sid) const noexcept {
  return requests_.contains(sid) || streams_.contains(sid) || device_streams_.contains(sid) ||
         stopping_.contains(sid) || opening_sid_ == sid;
}

std::optional<std::uint16_t> server_session::allocate_sid() {
  // A counter rather than rand(): a just-freed id comes back only after 65535
  // others, so a late answer is very unlikely to meet a new request of the same id.
  for (std::uint32_t tries = 0; tries <= 0xffff; ++tries) {
    const std::uint16_t sid = next_sid_++;
    if (sid != 0 && !sid_in_use(sid)) return sid;
  }
  return std::nullopt;
}

void server_session::send_answer(bool ok, std::uint16_t sid, const answer* a) {
  frame_writer w(output_, ok ? message_type::ok : message_type::error);
  w.varint(field::stream_id, sid);
  if (a != nullptr && a->parameters) w.value(field::parameters, *a->parameters);
  if (a != nullptr && a->payload) w.value(field::payload, *a->payload);
  if (w.finish() != codec_error::none) {
    // Too large to send: the device must still learn that its request ended.
    send_bare(message_type::error, sid);
  }
}

void server_session::send_bare(message_type type, std::uint16_t sid) {
  frame_writer(output_, type).varint(field::stream_id, sid).finish();
}

bool server_session::send_start(std::uint16_t sid, const server_stream& s) {
  frame_writer w(output_, message_type::start_stream);
  w.varint(field::stream_id, sid);
  if (s.interval_ms) w.value(field::parameters, pson::object{{"interval", *s.interval_ms}});
  w.string(field::resource, s.resource);
  return w.finish() == codec_error::none;
}

std::optional<std::uint16_t> server_session::run(std::string_view resource,
                                                 const std::optional<pson::value>& input,
                                                 const std::optional<pson::value>& params,
                                                 time_point now) {
  if (!is_open()) return std::nullopt;
  const auto sid = allocate_sid();
  if (!sid) return std::nullopt;
  frame_writer w(output_, message_type::run);
  w.varint(field::stream_id, *sid);
  if (params) w.value(field::parameters, *params);
  if (input) w.value(field::payload, *input);
  w.string(field::resource, resource);
  if (w.finish() != codec_error::none) return std::nullopt;
  requests_.emplace(*sid, now + options_.request_timeout);
  return sid;
}

std::optional<std::uint16_t> server_session::describe(std::optional<std::string_view> resource,
                                                      time_point now) {
  if (!is_open()) return std::nullopt;
  const auto sid = allocate_sid();
  if (!sid) return std::nullopt;
  frame_writer w(output_, message_type::describe);
  w.varint(field::stream_id, *sid);
  if (resource) w.string(field::resource, *resource);
  if (w.finish() != codec_error::none) return std::nullopt;
  requests_.emplace(*sid, now + options_.request_timeout);
  return sid;
}

std::vector<std::uint16_t> server_session::expire_requests(time_point now) {
  std::vector<std::uint16_t> expired_ids;
  for (auto it = requests_.begin(); it != requests_.end();) {
    if (it->second <= now) {
      expired_ids.push_back(it->first);
      it = requests_.erase(it);
    } else {
      ++it;
    }
  }
  return expired_ids;
}

std::optional<time_point> server_session::next_request_deadline() const {
  std::optional<time_point> earliest;
  for (const auto& [sid, deadline] : requests_) {
    if (!earliest || deadline < *earliest) earliest = deadline;
  }
  return earliest;
}

std::optional<std::uint16_t> server_session::start_stream(
    std::string_view resource, std::optional<std::uint32_t> interval_ms) {
  if (!is_open()) return std::nullopt;
  const auto sid = allocate_sid();
  if (!sid) return std::nullopt;
  server_stream s{std::string(resource), interval_ms, 1};
  if (!send_start(*sid, s)) return std::nullopt;
  streams_.emplace(*sid, std::move(s));
  return sid;
}

bool server_session::restart_stream(std::uint16_t sid, std::optional<std::uint32_t> interval_ms) {
  auto it = streams_.find(sid);
  if (!is_open() || it == streams_.end()) return false;
  server_stream s = it->second;
  s.interval_ms = interval_ms;
  ++s.unanswered_starts;
  if (!send_start(sid, s)) return false;
  it->second = std::move(s);
  return true;
}

bool server_session::stop_stream(std::uint16_t sid) {
  if (!is_open() || streams_.erase(sid) == 0) return false;
  send_bare(message_type::stop_stream, sid);
  stopping_.insert(sid);
  return true;
}

const server_session::device_stream* server_session::find_device_stream(
    std::uint16_t sid) const noexcept {
  const auto it = device_streams_.find(sid);
  return it == device_streams_.end() ? nullptr : &it->second;
}

bool server_session::deliver(std::uint16_t sid, const pson::value& v) {
  const device_stream* s = find_device_stream(sid);
  if (!is_open() || s == nullptr || !s->subscribe) return false;
  frame_writer w(output_, message_type::stream_data);
  w.varint(field::stream_id, sid);
  w.value(field::payload, v);
  return w.finish() == codec_error::none;
}

bool server_session::close_device_stream(std::uint16_t sid) {
  if (!is_open() || device_streams_.erase(sid) == 0) return false;
  send_bare(message_type::stop_stream, sid);
  stopping_.insert(sid);
  return true;
}

void server_session::disconnect() {
  if (state_ == state::closed) return;
  frame_writer(output_, message_type::disconnect).finish();
  close(close_reason::local, "disconnected by the server");
}

void server_session::close(close_reason why, std::string message) {
  if (state_ == state::closed) return;  // the first reason is the one worth logging
  state_ = state::closed;
  reason_ = why;
  close_message_ = std::move(message);
  requests_.clear();
  streams_.clear();
  device_streams_.clear();
  stopping_.clear();
  opening_sid_.reset();
  // reset() keeps the buffer: a frame being dispatched may still point into it.
  decoder_.reset();
}

std::string_view to_string(server_session::state s) noexcept {
  switch (s) {
    case server_session::state::awaiting_connect:
      return "awaiting_connect";
    case server_session::state::authenticated:
      return "authenticated";
    case server_session::state::closed:
      return "closed";
  }
  return "unknown";
}

std::string_view to_string(server_session::close_reason r) noexcept {
  switch (r) {
    case server_session::close_reason::none:
      return "none";
    case server_session::close_reason::protocol_error:
      return "protocol error";
    case server_session::close_reason::auth_refused:
      return "authentication refused";
    case server_session::close_reason::peer_disconnect:
      return "disconnected by the device";
    case server_session::close_reason::local:
      return "closed by the server";
  }
  return "unknown";
}

}  // namespace iotgw::iotmp
