#include "iotmp_gateway/iotmp/device_session.hpp"

#include <algorithm>

#include "iotmp_gateway/pson/codec.hpp"
#include "iotmp_gateway/pson/json.hpp"

namespace iotgw::iotmp {

namespace {

pson::value error_payload(std::string_view text) {
  return pson::value(pson::object{{"error", pson::value(text)}});
}

// START_STREAM PARAMETERS: {"interval": ms} or a bare number (IOTMP-Embedded's form).
std::chrono::milliseconds stream_interval(const field_view& params) {
  std::uint64_t ms = 0;
  if (auto n = params.as_unsigned()) {
    ms = *n;
  } else if (params.present()) {
    const auto v = params.to_value();
    if (const auto* interval = v.find("interval")) {
      if (!interval->get_unsigned(ms)) ms = 0;
    }
  }
  // An interval beyond a day is taken as a day: the timer arithmetic stays sane.
  return std::chrono::milliseconds(std::min<std::uint64_t>(ms, 86'400'000));
}

}  // namespace

std::string_view to_string(session_state s) noexcept {
  switch (s) {
    case session_state::disconnected: return "disconnected";
    case session_state::authenticating: return "connecting";
    case session_state::ready: return "connected";
  }
  return "unknown";
}

void reply::ok(std::optional<pson::value> payload) const {
  if (expects_answer()) session_->send_answer(epoch_, *stream_id_, true, payload);
}

void reply::error(std::string_view message) const {
  if (expects_answer()) session_->send_answer(epoch_, *stream_id_, false, error_payload(message));
}

device_session::device_session(session_config config, resource_registry& resources,
                               session_observer& observer, std::uint64_t seed)
    : config_(std::move(config)),
      resources_(resources),
      observer_(observer),
      rng_(static_cast<std::mt19937::result_type>(seed)) {}

// ---------------------------------------------------------------- transport

void device_session::on_connected(time_point now) {
  on_closed();
  ++epoch_;
  state_ = session_state::authenticating;
  last_receive_ = now;
  auth_deadline_ = now + config_.auth_timeout;
  connect_sid_ = fresh_stream_id();
  send(message{message_type::connect, connect_sid_, std::nullopt,
               pson::value(pson::array{config_.username, config_.device, config_.credential}),
               std::nullopt});
}

void device_session::on_data(byte_view data, time_point now) {
  if (state_ == session_state::disconnected) return;
  stats_.bytes_in += data.size();
  last_receive_ = now;
  decoder_.feed(data);
  message_view m;
  while (state_ != session_state::disconnected) {
    switch (decoder_.next(m)) {
      case frame_decoder::status::frame: handle(m, now); break;
      case frame_decoder::status::need_more: return;
      case frame_decoder::status::error:
        fail("malformed frame from server: " + std::string(iotgw::to_string(decoder_.error())));
        return;
    }
  }
}

void device_session::on_closed() {
  // By index: the observer may add or remove streams.
  for (std::size_t i = 0; i < device_streams_.size(); ++i) {
    auto& s = device_streams_[i];
    const bool was_open = s.open;
    s.sid.reset();
    s.open = false;
    if (was_open) observer_.on_device_stream_closed(static_cast<device_stream_id>(i + 1));
  }
  device_stream_sids_.clear();
  server_streams_.clear();
  event_streams_.clear();
  pending_calls_.clear();
  connect_sid_.reset();
  decoder_.reset();
  output_.clear();
  state_ = session_state::disconnected;
}

void device_session::on_timer(time_point now) {
  if (state_ == session_state::authenticating && now >= auth_deadline_) {
    fail("no answer to CONNECT within " + std::to_string(config_.auth_timeout.count()) + " s");
    return;
  }
  if (state_ != session_state::ready) return;
  if (now - last_receive_ >= 2 * config_.keepalive) {
    fail("nothing received from the server for " +
         std::to_string(2 * config_.keepalive.count()) + " s");
    return;
  }
  if (now >= next_keepalive_) {
    send(message{message_type::keep_alive, {}, {}, {}, {}});
    next_keepalive_ = now + config_.keepalive;
  }
  for (auto& [sid, s] : server_streams_) {
    if (s.interval.count() == 0 || now < s.next_due) continue;
    send_sample(sid, s.path);
    s.next_due += s.interval;
    if (s.next_due <= now) s.next_due = now + s.interval;  // fell behind: skip, do not burst
  }
}

std::optional<time_point> device_session::next_deadline() const {
  switch (state_) {
    case session_state::disconnected: return std::nullopt;
    case session_state::authenticating: return auth_deadline_;
    case session_state::ready: break;
  }
  time_point t = std::min(next_keepalive_, last_receive_ + 2 * config_.keepalive);
  for (const auto& [sid, s] : server_streams_) {
    if (s.interval.count() > 0) t = std::min(t, s.next_due);
  }
  return t;
}

// ---------------------------------------------------------------- dispatch

void device_session::handle(const message_view& m, time_point now) {
  ++stats_.frames_in;
  if (!is_known(m.known_type())) return;  // a newer server's type: skipped by its size
  const auto type = m.known_type();
  if (state_ == session_state::authenticating) {
    if (type == message_type::ok) {
      become_ready();
      next_keepalive_ = now + config_.keepalive;
    } else if (type == message_type::error) {
      std::string reason = "authentication failed";
      if (m.payload.present()) reason += ": " + pson::to_json(m.payload.to_value());
      state_ = session_state::disconnected;
      observer_.on_auth_failed(reason);
    } else if (type == message_type::disconnect) {
      fail("server sent DISCONNECT before authentication");
    }
    return;  // nothing else is meaningful before the server accepted us
  }
  switch (type) {
    case message_type::ok: handle_answer(m, true); break;
    case message_type::error: handle_answer(m, false); break;
    case message_type::run: handle_run(m); break;
    case message_type::describe: handle_describe(m); break;
    case message_type::start_stream: handle_start_stream(m, now); break;
    case message_type::stop_stream: handle_stop_stream(m); break;
    case message_type::stream_data: handle_stream_data(m); break;
    case message_type::disconnect: fail("server sent DISCONNECT"); break;
    default: break;  // KEEP_ALIVE echo (already counted as traffic), stray CONNECT
  }
}

void device_session::become_ready() {
  state_ = session_state::ready;
  connect_sid_.reset();
  observer_.on_authenticated();
  if (state_ != session_state::ready) return;  // the observer may have closed us
  for (std::size_t i = 0; i < device_streams_.size(); ++i) {
    if (device_streams_[i].parameters) {
      open_device_stream(static_cast<device_stream_id>(i + 1), device_streams_[i]);
    }
  }
}

void device_session::fail(std::string_view reason) {
  state_ = session_state::disconnected;
  observer_.on_connection_failed(reason);
}

void device_session::handle_run(const message_view& m) {
  const reply r(this, epoch_, m.stream_id);
  const auto path = m.resource.as_string();
  if (!path) {
    r.error("RUN without a resource path");
    return;
  }
  auto found = resources_.find(*path);
  if (!found) {
    r.error("unknown resource");
    return;
  }
  const auto io = found->target->io();
  std::optional<pson::value> input;
  if (m.payload.present()) input = m.payload.to_value();
  if (input && !takes_input(io)) {
    r.error("resource takes no input");
    return;
  }
  if (!input && io == resource_io::input) {
    r.error("resource needs an input");
    return;
  }
  std::optional<pson::value> params;
  if (m.parameters.present()) params = m.parameters.to_value();
  const resource_call call{*path, found->placeholders, input ? &*input : nullptr,
                           params ? &*params : nullptr};
  found->target->run(call, r);
}

void device_session::handle_describe(const message_view& m) {
  if (!m.stream_id) return;
  const std::uint16_t sid = *m.stream_id;
  if (!m.resource.present()) {
    pson::object api;
    for (const auto& [pattern, io] : resources_.listing()) {
      api.insert_or_assign(pattern, pson::value(pson::object{{"fn", static_cast<unsigned>(io)}}));
    }
    send(message{message_type::ok, sid, {}, pson::value(std::move(api)), {}});
    return;
  }
  const auto path = m.resource.as_string();
  auto found = path ? resources_.find(*path) : std::nullopt;
  if (!found) {
    send_error(sid, "unknown resource");
    return;
  }
  const auto io = found->target->io();
  const resource_call call{*path, found->placeholders};
  pson::object schema;
  if (takes_input(io)) schema.insert_or_assign("in", found->target->example_input());
  if (gives_output(io)) {
    auto latest = found->target->sample(call);
    schema.insert_or_assign("out", latest ? std::move(*latest) : pson::value());
  }
  send(message{message_type::ok, sid, {}, pson::value(std::move(schema)), {}});
}

void device_session::handle_start_stream(const message_view& m, time_point now) {
  if (!m.stream_id) return;
  const std::uint16_t sid = *m.stream_id;
  const auto path = m.resource.as_string();
  if (!path) {
    send_error(sid, "START_STREAM without a resource path");
    return;
  }
  if (device_stream_sids_.contains(sid) || pending_calls_.contains(sid)) {
    send_error(sid, "stream id in use");
    return;
  }
  auto found = resources_.find(*path);
  if (!found) {
    send_error(sid, "unknown resource");
    return;
  }
  if (!gives_output(found->target->io())) {
    send_error(sid, "resource cannot be streamed: it has no value to read");
    return;
  }
  // The same stream id again replaces the stream (new interval), it does not add one.
  if (auto old = server_streams_.find(sid); old != server_streams_.end()) {
    forget_event_stream(sid, old->second.path);
  }
  server_stream& s = server_streams_[sid];
  s.path = std::string(*path);
  s.interval = stream_interval(m.parameters);
  s.next_due = now + s.interval;
  if (s.interval.count() == 0) event_streams_.emplace(s.path, sid);
  send(message{message_type::ok, sid, {}, {}, {}});
  send_sample(sid, s.path);  // the first value right away, if there is one
}

void device_session::forget_event_stream(std::uint16_t sid, const std::string& path) {
  auto range = event_streams_.equal_range(path);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == sid) {
      event_streams_.erase(it);
      return;
    }
  }
}

void device_session::handle_stop_stream(const message_view& m) {
  if (!m.stream_id) return;
  const std::uint16_t sid = *m.stream_id;
  if (auto it = server_streams_.find(sid); it != server_streams_.end()) {
    forget_event_stream(sid, it->second.path);
    server_streams_.erase(it);
  } else if (auto d = device_stream_sids_.find(sid); d != device_stream_sids_.end()) {
    const device_stream_id id = d->second;
    device_stream_sids_.erase(d);
    auto& s = *find_device_stream(id);
    const bool was_open = s.open;
    s.sid.reset();
    s.open = false;
    if (was_open) observer_.on_device_stream_closed(id);
  }
  // Stopping a stream that is not there is already done: answer OK either way.
  send(message{message_type::ok, sid, {}, {}, {}});
}

void device_session::handle_stream_data(const message_view& m) {
  if (!m.stream_id || !m.payload.present()) return;
  const std::uint16_t sid = *m.stream_id;
  if (auto it = server_streams_.find(sid); it != server_streams_.end()) {
    // Data from the server on its stream is input for the resource (§11.1).
    auto found = resources_.find(it->second.path);
    if (!found || !takes_input(found->target->io())) return;
    const auto input = m.payload.to_value();
    const resource_call call{it->second.path, found->placeholders, &input};
    found->target->run(call, reply{});
  } else if (auto d = device_stream_sids_.find(sid); d != device_stream_sids_.end()) {
    if (!find_device_stream(d->second)->open) return;
    observer_.on_device_stream_data(d->second, m.payload.to_value());
  }
  // Anything else: a stream we do not know; dropped without an answer.
}

void device_session::handle_answer(const message_view& m, bool ok) {
  if (!m.stream_id) return;
  const std::uint16_t sid = *m.stream_id;
  if (auto d = device_stream_sids_.find(sid); d != device_stream_sids_.end()) {
    const device_stream_id id = d->second;
    auto& s = *find_device_stream(id);
    if (s.open) return;  // already open: a late duplicate
    if (ok) {
      s.open = true;
      std::optional<pson::value> initial;
      if (m.payload.present()) initial = m.payload.to_value();
      observer_.on_device_stream_open(id, initial ? &*initial : nullptr);
    } else {
      device_stream_sids_.erase(d);
      s.sid.reset();
      observer_.on_device_stream_refused(id);
    }
    return;
  }
  if (pending_calls_.erase(sid) > 0) {
    std::optional<pson::value> payload;
    if (m.payload.present()) payload = m.payload.to_value();
    observer_.on_server_answer(sid, ok, payload ? &*payload : nullptr);
  }
}

// ---------------------------------------------------------------- resources

void device_session::resource_changed(std::string_view path) {
  if (state_ != session_state::ready || event_streams_.empty()) return;
  auto range = event_streams_.equal_range(std::string(path));
  for (auto it = range.first; it != range.second; ++it) send_sample(it->second, it->first);
}

bool device_session::is_streamed(std::string_view path) const {
  if (event_streams_.contains(std::string(path))) return true;
  return std::any_of(server_streams_.begin(), server_streams_.end(),
                     [&](const auto& entry) { return entry.second.path == path; });
}

bool device_session::send_sample(std::uint16_t sid, const std::string& path) {
  auto found = resources_.find(path);
  if (!found) return false;
  if (!writable_) {
    ++stats_.samples_skipped;
    return false;
  }
  const std::size_t before = output_.size();
  frame_writer w(output_, message_type::stream_data);
  w.varint(field::stream_id, sid);
  const resource_call call{path, found->placeholders};
  if (!found->target->append_sample(call, w.pson_field(field::payload))) {
    output_.resize(before);
    return false;
  }
  if (w.finish() != codec_error::none) {
    ++stats_.samples_skipped;  // a value too large for one frame
    return false;
  }
  note_output(before);
  return true;
}

// ---------------------------------------------------------------- device streams

device_stream_id device_session::add_device_stream(pson::value resource, pson::value parameters) {
  device_stream_id id = 0;
  if (!free_device_stream_ids_.empty()) {
    // The lowest free id: streams reopen in id order, which stays close to
    // the order they were added in.
    std::pop_heap(free_device_stream_ids_.begin(), free_device_stream_ids_.end(), std::greater<>{});
    id = free_device_stream_ids_.back();
    free_device_stream_ids_.pop_back();
  } else {
    device_streams_.emplace_back();
    id = static_cast<device_stream_id>(device_streams_.size());
  }
  auto& s = device_streams_[id - 1];
  s.resource = std::move(resource);
  const auto same = std::find_if(shared_parameters_.begin(), shared_parameters_.end(),
                                 [&](const auto& p) { return *p == parameters; });
  if (same != shared_parameters_.end()) {
    s.parameters = *same;
  } else {
    s.parameters = std::make_shared<const pson::value>(std::move(parameters));
    // Bounded: streams with ever-new parameters just get their own copy.
    if (shared_parameters_.size() < 16) shared_parameters_.push_back(s.parameters);
  }
  if (state_ == session_state::ready) open_device_stream(id, s);
  return id;
}

void device_session::remove_device_stream(device_stream_id id) {
  auto* s = find_device_stream(id);
  if (s == nullptr) return;
  if (s->sid) {
    if (state_ == session_state::ready) send(message{message_type::stop_stream, *s->sid, {}, {}, {}});
    device_stream_sids_.erase(*s->sid);
  }
  *s = device_stream{};
  free_device_stream_ids_.push_back(id);
  std::push_heap(free_device_stream_ids_.begin(), free_device_stream_ids_.end(), std::greater<>{});
}

device_session::device_stream* device_session::find_device_stream(device_stream_id id) noexcept {
  if (id == 0 || id > device_streams_.size() || !device_streams_[id - 1].parameters) return nullptr;
  return &device_streams_[id - 1];
}

const device_session::device_stream* device_session::find_device_stream(device_stream_id id) const noexcept {
  return const_cast<device_session*>(this)->find_device_stream(id);
}

bool device_session::device_stream_open(device_stream_id id) const {
  const auto* s = find_device_stream(id);
  return s != nullptr && s->open;
}

send_status device_session::send_stream_data(device_stream_id id, byte_view pson_payload) {
  const auto* s = find_device_stream(id);
  if (s == nullptr || !s->open || state_ != session_state::ready) return send_status::not_open;
  if (!writable_) return send_status::would_block;
  if (output_.size() >= config_.max_pending_output) {
    output_full_ = true;
    return send_status::would_block;
  }
  const std::size_t before = output_.size();
  if (encode_stream_data(*s->sid, pson_payload, output_) != codec_error::none) {
    return send_status::too_large;
  }
  note_output(before);
  return send_status::sent;
}

void device_session::open_device_stream(device_stream_id id, device_stream& s) {
  const std::uint16_t sid = fresh_stream_id();
  s.sid = sid;
  s.open = false;
  device_stream_sids_[sid] = id;
  send(message{message_type::start_stream, sid, *s.parameters, {}, s.resource});
}

// ---------------------------------------------------------------- server RUN

std::optional<std::uint16_t> device_session::call_server(server_resource code, std::string_view id,
                                                         const pson::value* payload, bool confirm) {
  if (state_ != session_state::ready) return std::nullopt;
  message m{message_type::run, {}, {}, {}, {}};
  if (confirm) {
    m.stream_id = fresh_stream_id();
    pending_calls_[*m.stream_id] = true;
  }
  const auto code_value = pson::value(static_cast<unsigned>(code));
  if (config_.run_layout == server_run_layout::linux_client) {
    m.resource = code_value;
    m.parameters = pson::value(id);
  } else {
    m.parameters = code_value;
    m.resource = pson::value(id);
  }
  if (payload) m.payload = *payload;
  send(m);
  return confirm ? m.stream_id : std::optional<std::uint16_t>(0);
}

// ---------------------------------------------------------------- output

void device_session::send_answer(std::uint64_t epoch, std::uint16_t sid, bool ok,
                                 const std::optional<pson::value>& payload) {
  if (epoch != epoch_ || state_ != session_state::ready) return;  // that connection is gone
  send(message{ok ? message_type::ok : message_type::error, sid, {}, payload, {}});
}

void device_session::send_error(std::uint16_t sid, std::string_view text) {
  send(message{message_type::error, sid, {}, error_payload(text), {}});
}

void device_session::send(const message& m) {
  const std::size_t before = output_.size();
  if (encode(m, output_) != codec_error::none) {
    // Only an answer carrying a huge value can exceed the frame limit: say so instead.
    if (m.stream_id && (m.type == message_type::ok || m.type == message_type::error)) {
      send_error(*m.stream_id, "value too large for one frame");
    }
    return;
  }
  note_output(before);
}

void device_session::note_output(std::size_t before) {
  ++stats_.frames_out;
  stats_.bytes_out += output_.size() - before;
  if (before == 0 && output_listener_) output_listener_();
}

std::uint16_t device_session::fresh_stream_id() {
  std::uniform_int_distribution<unsigned> pick(1, 0xffff);
  while (true) {
    const auto sid = static_cast<std::uint16_t>(pick(rng_));
    if (!stream_id_in_use(sid)) return sid;
  }
}

bool device_session::stream_id_in_use(std::uint16_t sid) const {
  return server_streams_.contains(sid) || device_stream_sids_.contains(sid) ||
         pending_calls_.contains(sid) || connect_sid_ == sid;
}

}  // namespace iotgw::iotmp
