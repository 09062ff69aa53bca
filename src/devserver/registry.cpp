#include "iotmp_gateway/devserver/registry.hpp"

#include <limits>
#include <utility>

#include "iotmp_gateway/bridge/topic.hpp"

namespace iotgw::devserver {

struct stream_handle::state {
  device_registry* owner = nullptr;
  device_id id;
  std::uint16_t sid = 0;
  std::string resource;
  stream_callbacks callbacks;
  bool active = true;
};

namespace {

using iotmp::server_resource;
using iotmp::server_session;

std::optional<std::uint32_t> to_interval_ms(std::optional<std::chrono::milliseconds> interval) {
  if (!interval) return std::nullopt;
  const auto ms = interval->count();
  if (ms <= 0) return 1;  // 0 would read as "no interval" to some devices
  if (ms > std::numeric_limits<std::uint32_t>::max())
    return std::numeric_limits<std::uint32_t>::max();
  return static_cast<std::uint32_t>(ms);
}

request_result result_of(bool ok, const server_session::answer& a) {
  return {ok ? request_status::ok : request_status::refused, a.parameters, a.payload};
}

server_session::answer error_answer(std::string_view text) {
  return {false, std::nullopt, pson::value(pson::object{{"error", std::string(text)}})};
}

}  // namespace

// --- traffic_counters ---------------------------------------------------------

std::uint64_t traffic_counters::in(iotmp::message_type t) const noexcept {
  const auto i = static_cast<std::size_t>(t);
  return i < type_slots ? frames_in_by_type[i] : 0;
}

std::uint64_t traffic_counters::out(iotmp::message_type t) const noexcept {
  const auto i = static_cast<std::size_t>(t);
  return i < type_slots ? frames_out_by_type[i] : 0;
}

traffic_counters& traffic_counters::operator+=(const traffic_counters& o) noexcept {
  frames_in += o.frames_in;
  bytes_in += o.bytes_in;
  frames_out += o.frames_out;
  bytes_out += o.bytes_out;
  raw_bytes_out += o.raw_bytes_out;
  for (std::size_t i = 0; i < type_slots; ++i) {
    frames_in_by_type[i] += o.frames_in_by_type[i];
    frames_out_by_type[i] += o.frames_out_by_type[i];
  }
  return *this;
}

std::string_view to_string(request_status s) noexcept {
  switch (s) {
    case request_status::ok:
      return "ok";
    case request_status::refused:
      return "refused";
    case request_status::offline:
      return "offline";
    case request_status::timeout:
      return "timeout";
    case request_status::disconnected:
      return "disconnected";
    case request_status::too_large:
      return "too large";
    case request_status::stopped:
      return "stopped by the device";
  }
  return "unknown";
}

// --- stream_handle ----------------------------------------------------------------

bool stream_handle::active() const noexcept {
  const auto s = state_.lock();
  return s && s->active;
}

bool stream_handle::restart(std::optional<std::chrono::milliseconds> interval) {
  const auto s = state_.lock();
  return s && s->active && s->owner->restart(*s, interval);
}

void stream_handle::stop() {
  if (const auto s = state_.lock(); s && s->active) s->owner->stop(*s);
}

// --- device_registry -----------------------------------------------------------

device_registry::~device_registry() {
  // The topic table may outlive us: its callbacks point here.
  for (auto& [id, e] : devices_) {
    for (const auto& [sid, sub] : e.subscriptions) topics_.unsubscribe(sub);
    for (auto& [sid, s] : e.streams) s->active = false;
  }
}

std::vector<device_info> device_registry::devices() const {
  std::vector<device_info> out;
  out.reserve(devices_.size());
  for (const auto& [id, e] : devices_) out.push_back(info_of(e));
  return out;
}

std::optional<device_info> device_registry::find(const device_id& id) const {
  const auto it = devices_.find(id);
  if (it == devices_.end()) return std::nullopt;
  return info_of(it->second);
}

bool device_registry::connected(const device_id& id) const {
  const auto it = devices_.find(id);
  return it != devices_.end() && it->second.link != nullptr;
}

device_info device_registry::info_of(const entry& e) const {
  device_info i;
  i.id = e.id;
  i.connected = e.link != nullptr;
  i.peer = e.peer;
  i.connected_since = e.connected_since;
  i.connections = e.connections;
  i.total = e.past;
  i.pending_requests = e.requests.size();
  i.server_streams = e.streams.size();
  for (const auto& [sid, s] : e.device_streams) i.device_streams.push_back(s);
  if (e.link != nullptr) {
    auto& session = e.link->session();
    i.silent = session.silent();
    i.traffic = e.link->traffic();
    i.total += i.traffic;
  } else {
    i.traffic = e.last;
  }
  return i;
}

device_registry::entry* device_registry::connected_entry(const device_id& id) {
  const auto it = devices_.find(id);
  return it == devices_.end() || it->second.link == nullptr ? nullptr : &it->second;
}

device_registry::entry* device_registry::entry_of(device_link& link) {
  const auto it = links_.find(&link);
  return it == links_.end() ? nullptr : it->second;
}

request_status device_registry::run(const device_id& id, std::string_view resource,
                                    const std::optional<pson::value>& input, request_callback cb) {
  entry* e = connected_entry(id);
  if (e == nullptr) return request_status::offline;
  const auto sid =
      e->link->session().run(resource, input, std::nullopt, std::chrono::steady_clock::now());
  if (!sid) return request_status::too_large;
  e->requests.insert_or_assign(*sid, std::move(cb));
  e->link->flush();
  return request_status::ok;
}

request_status device_registry::describe(const device_id& id,
                                         std::optional<std::string_view> resource,
                                         request_callback cb) {
  entry* e = connected_entry(id);
  if (e == nullptr) return request_status::offline;
  const auto sid = e->link->session().describe(resource, std::chrono::steady_clock::now());
  if (!sid) return request_status::too_large;
  e->requests.insert_or_assign(*sid, std::move(cb));
  e->link->flush();
  return request_status::ok;
}

stream_handle device_registry::start_stream(const device_id& id, std::string_view resource,
                                            std::optional<std::chrono::milliseconds> interval,
                                            stream_callbacks callbacks) {
  entry* e = connected_entry(id);
  if (e == nullptr) return stream_handle(request_status::offline);
  const auto sid = e->link->session().start_stream(resource, to_interval_ms(interval));
  if (!sid) return stream_handle(request_status::too_large);
  auto s = std::make_shared<stream_handle::state>();
  s->owner = this;
  s->id = id;
  s->sid = *sid;
  s->resource = std::string(resource);
  s->callbacks = std::move(callbacks);
  e->streams.insert_or_assign(*sid, s);
  e->link->flush();
  return stream_handle(s, id, *sid);
}

bool device_registry::restart(stream_handle::state& s,
                              std::optional<std::chrono::milliseconds> interval) {
  entry* e = connected_entry(s.id);
  if (e == nullptr) return false;
  if (!e->link->session().restart_stream(s.sid, to_interval_ms(interval))) return false;
  e->link->flush();
  return true;
}

void device_registry::stop(stream_handle::state& s) {
  s.active = false;
  entry* e = connected_entry(s.id);
  if (e == nullptr) return;
  const auto keep = e->streams.find(s.sid);
  if (keep == e->streams.end() || keep->second.get() != &s) return;
  e->streams.erase(keep);  // s stays alive: the handle that called us holds it
  if (e->link->session().stop_stream(s.sid)) e->link->flush();
}

bool device_registry::deliver(const device_id& id, std::uint16_t sid, const pson::value& value) {
  entry* e = connected_entry(id);
  if (e == nullptr || !e->link->session().deliver(sid, value)) return false;
  e->link->flush();
  return true;
}

const pson::value* device_registry::property(const device_id& id, std::string_view name) const {
  const auto it = devices_.find(id);
  if (it == devices_.end()) return nullptr;
  const auto p = it->second.properties.find(name);
  return p == it->second.properties.end() ? nullptr : &p->second;
}

bool device_registry::set_silent(const device_id& id, bool silent) {
  entry* e = connected_entry(id);
  if (e == nullptr) return false;
  e->link->session().set_silent(silent);
  return true;
}

bool device_registry::kick(const device_id& id, bool graceful) {
  entry* e = connected_entry(id);
  if (e == nullptr) return false;
  device_link* link = e->link;
  // Forget first, so that drop() finds nothing to detach, then tell people.
  auto ended = take_connection(*e, graceful ? "disconnected by the server" : "kicked");
  link->drop(graceful, ended.reason);
  notify_ended(std::move(ended));
  return true;
}

net::status device_registry::send_raw(const device_id& id, byte_view bytes) {
  entry* e = connected_entry(id);
  if (e == nullptr) return {net::errc::closed, 0, id.text() + " is not connected"};
  return e->link->send_raw(bytes);
}

device_registry::listener_id device_registry::add_listener(event_callback cb) {
  const listener_id id = next_listener_++;
  listeners_.emplace(id, std::make_shared<event_callback>(std::move(cb)));
  return id;
}

void device_registry::remove_listener(listener_id id) {
  listeners_.erase(id);
}

void device_registry::emit(const device_event& ev) {
  // A snapshot: listeners may add or remove listeners.
  std::vector<std::shared_ptr<event_callback>> targets;
  targets.reserve(listeners_.size());
  for (const auto& [id, cb] : listeners_) targets.push_back(cb);
  for (const auto& cb : targets) (*cb)(ev);
}

// --- transport side -----------------------------------------------------------

device_registry::ended_connection device_registry::take_connection(entry& e,
                                                                   std::string_view reason) {
  ended_connection out;
  out.id = e.id;
  out.peer = e.peer;
  out.reason = std::string(reason);
  out.requests = std::exchange(e.requests, {});
  out.streams = std::exchange(e.streams, {});
  for (const auto& [sid, sub] : e.subscriptions) topics_.unsubscribe(sub);
  e.subscriptions.clear();
  e.device_streams.clear();
  if (e.link != nullptr) {
    e.last = e.link->traffic();
    e.past += e.last;
    links_.erase(e.link);
    e.link = nullptr;
  }
  return out;
}

void device_registry::notify_ended(ended_connection&& ended) {
  for (auto& [sid, s] : ended.streams) s->active = false;
  for (auto& [sid, cb] : ended.requests) {
    if (cb) cb({request_status::disconnected, std::nullopt, std::nullopt});
  }
  for (auto& [sid, s] : ended.streams) {
    if (s->callbacks.on_ended) s->callbacks.on_ended(request_status::disconnected);
  }
  device_event ev;
  ev.type = device_event::kind::disconnected;
  ev.id = ended.id;
  ev.peer = ended.peer;
  ev.reason = ended.reason;
  emit(ev);
}

void device_registry::attach(device_link& link, const device_id& id) {
  auto it = devices_.find(id);
  if (it == devices_.end()) it = devices_.emplace(id, entry{}).first;
  entry& e = it->second;
  e.id = id;
  std::optional<ended_connection> replaced;
  if (e.link != nullptr && e.link != &link) {
    device_link* old = e.link;
    replaced = take_connection(e, "replaced by a new connection from " + link.peer());
    old->drop(false, replaced->reason);
  }
  e.link = &link;
  e.peer = link.peer();
  e.connected_since = std::chrono::system_clock::now();
  ++e.connections;
  links_[&link] = &e;
  if (replaced) notify_ended(std::move(*replaced));
  if (e.link != &link) return;  // a callback above dropped the new connection already
  device_event ev;
  ev.type = device_event::kind::connected;
  ev.id = id;
  ev.peer = e.peer;
  emit(ev);
}

void device_registry::detach(device_link& link, std::string_view reason) {
  entry* e = entry_of(link);
  if (e == nullptr) return;
  notify_ended(take_connection(*e, reason));
}

void device_registry::on_answer(device_link& link, std::uint16_t sid,
                                const server_session::answer& a) {
  entry* e = entry_of(link);
  if (e == nullptr) return;
  auto it = e->requests.find(sid);
  if (it == e->requests.end()) return;
  auto cb = std::move(it->second);
  e->requests.erase(it);
  if (cb) cb(result_of(a.ok, a));
}

void device_registry::on_requests_expired(device_link& link,
                                          const std::vector<std::uint16_t>& sids) {
  entry* e = entry_of(link);
  if (e == nullptr) return;
  std::vector<request_callback> expired;
  for (const auto sid : sids) {
    auto it = e->requests.find(sid);
    if (it == e->requests.end()) continue;
    expired.push_back(std::move(it->second));
    e->requests.erase(it);
  }
  for (auto& cb : expired) {
    if (cb) cb({request_status::timeout, std::nullopt, std::nullopt});
  }
}

void device_registry::on_stream_started(device_link& link, std::uint16_t sid, bool accepted,
                                        const server_session::answer& a) {
  entry* e = entry_of(link);
  if (e == nullptr) return;
  auto it = e->streams.find(sid);
  if (it == e->streams.end()) return;
  const auto s = it->second;
  if (!accepted) {
    e->streams.erase(it);
    s->active = false;
  }
  if (s->callbacks.on_started) s->callbacks.on_started(result_of(accepted, a));
}

void device_registry::on_stream_data(device_link& link, std::uint16_t sid, const pson::value& v) {
  entry* e = entry_of(link);
  if (e == nullptr) return;
  const auto it = e->streams.find(sid);
  if (it == e->streams.end()) return;
  const auto s = it->second;
  if (s->callbacks.on_sample) s->callbacks.on_sample(v);
}

void device_registry::on_stream_stopped(device_link& link, std::uint16_t sid) {
  entry* e = entry_of(link);
  if (e == nullptr) return;
  const auto it = e->streams.find(sid);
  if (it == e->streams.end()) return;
  const auto s = it->second;
  e->streams.erase(it);
  s->active = false;
  if (s->callbacks.on_ended) s->callbacks.on_ended(request_status::stopped);
}

bool device_registry::accept_device_stream(device_link& link, const device_stream& s) {
  entry* e = entry_of(link);
  if (e == nullptr) return false;
  // What the cloud's broker would refuse: publishing on a filter, subscribing
  // to something that is not one.
  if (s.publish && !bridge::valid_topic_name(s.topic)) return false;
  if (s.subscribe && !bridge::topic_filter::parse(s.topic)) return false;
  return !stream_policy_ || stream_policy_(e->id, s);
}

void device_registry::on_device_stream_opened(device_link& link, const device_stream& s) {
  entry* e = entry_of(link);
  if (e == nullptr) return;
  e->device_streams.insert_or_assign(s.sid, s);
  if (s.subscribe) {
    const device_id id = e->id;
    const std::uint64_t link_id = link.link_id();
    const std::uint16_t sid = s.sid;
    const auto sub = topics_.subscribe(
        s.topic,
        [this, id, link_id, sid](const std::string& topic, const pson::value& v) {
          entry* target = connected_entry(id);
          if (target == nullptr || target->link->link_id() != link_id) return;
          // The concrete topic goes along: the stream may be on a filter (SPEC §4).
          const pson::value wrapped(pson::object{{"topic", topic}, {"payload", v}});
          if (target->link->session().deliver(sid, wrapped)) target->link->flush();
        },
        link_id);
    if (sub != 0) e->subscriptions.insert_or_assign(sid, sub);
  }
  device_event ev;
  ev.type = device_event::kind::stream_opened;
  ev.id = e->id;
  ev.peer = e->peer;
  ev.stream = &s;
  emit(ev);
}

void device_registry::on_device_stream_data(device_link& link, const device_stream& s,
                                            const pson::value& v) {
  entry* e = entry_of(link);
  if (e == nullptr) return;
  topics_.publish(s.topic, v, link.link_id());
  if (listeners_.empty()) return;
  device_event ev;
  ev.type = device_event::kind::published;
  ev.id = e->id;
  ev.peer = e->peer;
  ev.stream = &s;
  ev.value = &v;
  emit(ev);
}

void device_registry::on_device_stream_closed(device_link& link, const device_stream& s) {
  entry* e = entry_of(link);
  if (e == nullptr) return;
  e->device_streams.erase(s.sid);
  if (auto it = e->subscriptions.find(s.sid); it != e->subscriptions.end()) {
    topics_.unsubscribe(it->second);
    e->subscriptions.erase(it);
  }
  device_event ev;
  ev.type = device_event::kind::stream_closed;
  ev.id = e->id;
  ev.peer = e->peer;
  ev.stream = &s;
  emit(ev);
}

server_session::answer device_registry::on_server_run(device_link& link,
                                                      const server_session::server_run& r) {
  entry* e = entry_of(link);
  if (e == nullptr) return error_answer("not authenticated");
  const auto now = std::chrono::system_clock::now();
  server_runs_.push_back({now, e->id, r});
  if (server_runs_.size() > run_log_limit) server_runs_.pop_front();
  if (server_run_handler_) {
    if (auto a = server_run_handler_(e->id, r)) return *a;
  }
  switch (r.code) {
    case server_resource::write_bucket: {
      auto& records = buckets_[r.id];
      records.push_back({now, e->id, r.payload});
      if (records.size() > bucket_limit) records.pop_front();
      return {};
    }
    case server_resource::set_device_property:
      e->properties.insert_or_assign(r.id, r.payload.value_or(pson::value{}));
      return {};
    case server_resource::read_device_property: {
      const auto p = e->properties.find(r.id);
      if (p == e->properties.end()) return error_answer("no such property");
      return {true, std::nullopt, p->second};
    }
    default:
      // Endpoints, device calls and sync locks: recorded, nothing to do here.
      return {};
  }
}

}  // namespace iotgw::devserver
