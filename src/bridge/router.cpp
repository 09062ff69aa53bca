#include "iotmp_gateway/bridge/router.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <unordered_set>

#include "iotmp_gateway/bridge/topic_resource.hpp"
#include "iotmp_gateway/pson/codec.hpp"

namespace iotgw::bridge {

std::string_view to_string(link_state s) noexcept {
  switch (s) {
    case link_state::disconnected: return "disconnected";
    case link_state::connecting: return "connecting";
    case link_state::connected: return "connected";
  }
  return "disconnected";
}

// The built-in read-only resource "$gateway".
class gateway_resource : public iotmp::resource {
 public:
  explicit gateway_resource(const router& owner) : owner_(owner) {}
  iotmp::resource_io io() const override { return iotmp::resource_io::output; }
  void run(const iotmp::resource_call&, iotmp::reply r) override { r.ok(owner_.gateway_status()); }
  std::optional<pson::value> sample(const iotmp::resource_call&) override {
    return owner_.gateway_status();
  }

 private:
  const router& owner_;
};

// One configured stream. Kept small: a gateway may map thousands of topics.
// The configured entry is not copied, its texts live in the filters.
struct router::stream_binding {
  topic_filter local;
  // Only when the configuration named a cloud topic; else it is the local one.
  std::unique_ptr<const topic_filter> cloud_named;
  // Wildcard publish: local topic -> stream, made with the first such topic.
  std::unique_ptr<string_map<iotmp::device_stream_id>> per_topic;
  // The streams on the configured topic (at most two: `both` in the event
  // scheme); 0 for none.
  std::array<iotmp::device_stream_id, 2> fixed_ids{};
  iotmp::device_stream_id publish_id = 0;  // fixed (non-wildcard) publish stream
  iotmp::mqtt_scope scope;
  std::uint8_t qos;
  bool retained;
  payload_format format;
  bool publishes;   // scope publish or both
  bool subscribes;  // scope subscribe or both

  const topic_filter& cloud() const noexcept { return cloud_named ? *cloud_named : local; }

  // Every stream this binding opened.
  template <typename F>
  void for_each_id(F&& f) const {
    for (const auto id : fixed_ids) {
      if (id != 0) f(id);
    }
    if (per_topic) {
      for (const auto& entry : *per_topic) {
        if (entry.second != 0) f(entry.second);
      }
    }
  }

  // Whether this binding is what `sc` configures (reload keeps it then).
  // Compares every field of config::stream_config.
  bool configured_as(const config::stream_config& sc) const {
    return sc.local == local.text() &&
           (sc.cloud.empty() ? !cloud_named : cloud_named && sc.cloud == cloud_named->text()) &&
           sc.scope == scope && sc.qos == qos && sc.retained == retained && sc.format == format;
  }
};

std::string_view router::read_filter_of::operator()(const topic_resource* r) const {
  return r->read_filter()->text();
}
std::string_view router::local_filter_of::operator()(const stream_binding* b) const {
  return b->local.text();
}

router::router(iotmp::device_session& session, iotmp::resource_registry& registry,
               local_broker& broker, std::string version, clock_fn now)
    : session_(session),
      registry_(registry),
      broker_(broker),
      version_(std::move(version)),
      now_(std::move(now)),
      started_(now_()),
      gateway_(std::make_shared<gateway_resource>(*this)),
      own_spool_(std::make_unique<spool::spool>(
          spool::options{"", max_held_bytes, std::chrono::seconds(7 * 24 * 3600), std::chrono::milliseconds(1000), 1000,
                         max_held_bytes, 0})),
      spool_(own_spool_.get()) {
  registry_.add("$gateway", gateway_);
}

router::~router() {
  clear();
  registry_.remove("$gateway");
}

void router::clear() {
  for (const auto& r : resources_) registry_.remove(r->config().name);
  resources_.clear();
  exact_reads_.clear();
  wildcard_reads_.clear();
  for (const auto& b : streams_) {
    b->for_each_id([&](iotmp::device_stream_id id) { session_.remove_device_stream(id); });
  }
  streams_.clear();
  exact_publish_.clear();
  wildcard_publish_.clear();
  routes_.clear();
  // Spooled data stays: it belongs to cloud topics, not to these objects.
  topic_streams_ = 0;
}

void router::configure(const config::gateway_config& cfg) {
  clear();
  mqtt_streams_ = cfg.cloud.mqtt_streams;
  max_topic_streams_ = cfg.max_topic_streams;
  for (const auto& rc : cfg.resources) add_resource(rc);
  // Usually one stream per entry: the per-stream arrays get their size once.
  routes_.reserve(cfg.streams.size() + 1);
  session_.reserve_device_streams(cfg.streams.size());
  for (const auto& sc : cfg.streams) add_stream(sc);
  reindex();
  reopen_spooled();
}

void router::reconfigure(const config::gateway_config& next) {
  mqtt_streams_ = next.cloud.mqtt_streams;
  max_topic_streams_ = next.max_topic_streams;
  // Resources whose configuration did not change stay, with their cached values.
  std::vector<bool> resource_taken(next.resources.size(), false);
  std::vector<std::shared_ptr<topic_resource>> kept;
  for (auto& r : resources_) {
    bool keep = false;
    for (std::size_t i = 0; i < next.resources.size() && !keep; ++i) {
      if (!resource_taken[i] && next.resources[i] == r->config()) keep = resource_taken[i] = true;
    }
    if (keep) {
      kept.push_back(std::move(r));
    } else {
      registry_.remove(r->config().name);
    }
  }
  resources_ = std::move(kept);
  for (std::size_t i = 0; i < next.resources.size(); ++i) {
    if (!resource_taken[i]) add_resource(next.resources[i]);
  }
  // Streams that did not change keep their cloud streams; changed ones are reopened.
  std::vector<bool> stream_taken(next.streams.size(), false);
  std::vector<std::unique_ptr<stream_binding>> kept_streams;
  std::vector<std::unique_ptr<stream_binding>> gone;
  // Candidates by local topic, in configuration order: a reload of thousands
  // of streams must not compare every old one with every new one.
  string_map<std::vector<std::size_t>> by_local;
  for (std::size_t i = 0; i < next.streams.size(); ++i) by_local[next.streams[i].local].push_back(i);
  for (auto& b : streams_) {
    bool keep = false;
    if (const auto it = by_local.find(b->local.text()); it != by_local.end()) {
      for (const auto i : it->second) {
        if (!stream_taken[i] && b->configured_as(next.streams[i])) {
          keep = stream_taken[i] = true;
          break;
        }
      }
    }
    (keep ? kept_streams : gone).push_back(std::move(b));
  }
  streams_ = std::move(kept_streams);
  for (std::size_t i = 0; i < next.streams.size(); ++i) {
    if (!stream_taken[i]) add_stream(next.streams[i]);
  }
  // What waits for a removed stream moves to the last stream publishing the same local topics.
  string_map<stream_binding*> successors;
  for (auto& b : streams_) {
    if (b->publishes) successors[b->local.text()] = b.get();
  }
  for (auto& old : gone) retire(*old, successors);
  reindex();
  reopen_spooled();
}

bool router::configured_as(const config::gateway_config& cfg) const {
  if (cfg.resources.size() != resources_.size() || cfg.streams.size() != streams_.size()) return false;
  for (std::size_t i = 0; i < resources_.size(); ++i) {
    if (!(resources_[i]->config() == cfg.resources[i])) return false;
  }
  for (std::size_t i = 0; i < streams_.size(); ++i) {
    if (!streams_[i]->configured_as(cfg.streams[i])) return false;
  }
  return true;
}

void router::retire(stream_binding& old, const string_map<stream_binding*>& successors) {
  // Its successor reads the same local topics: what waits moves over, in order.
  const auto found = successors.find(old.local.text());
  stream_binding* successor = found != successors.end() ? found->second : nullptr;
  old.for_each_id([&](iotmp::device_stream_id id) {
    auto* route = route_of(id);
    if (route != nullptr && route->local_topic != nullptr && !route->refused) --topic_streams_;
    const auto q = route != nullptr ? queue_of(*route, false) : spool::spool::no_queue;
    if (q != spool::spool::no_queue && !spool_->empty(q) && !queue_shared(q, id)) {
      iotmp::device_stream_id target = 0;
      if (successor != nullptr) {
        // `route` is not used below: per_topic_stream() may grow routes_.
        if (!successor->local.has_wildcards()) {
          target = successor->publish_id;
        } else if (successor->local.match(*route->local_topic, &captures_)) {
          target = per_topic_stream(*successor, *route->local_topic, captures_);
        }
      }
      auto* target_route = route_of(target);
      const auto to = target_route != nullptr ? queue_of(*target_route, true) : spool::spool::no_queue;
      if (to == q) {
        // The same cloud topic: the entries stay where they are.
      } else if (to != spool::spool::no_queue) {
        // A different cloud topic is a different queue: the entries move, in order.
        spool_->move_all(q, to);
      } else {
        spool_->drop_all(q);
      }
    }
    // Again: opening the successor's stream may have grown routes_.
    if (auto* gone = route_of(id)) *gone = stream_route{};
    session_.remove_device_stream(id);
  });
}

void router::reindex() {
  exact_reads_.clear();
  wildcard_reads_.clear();
  for (const auto& r : resources_) {
    if (const auto& filter = r->read_filter()) {
      if (filter->has_wildcards()) {
        wildcard_reads_.push_back(r.get());
      } else {
        exact_reads_.insert(r.get());
      }
    }
  }
  exact_publish_.clear();
  wildcard_publish_.clear();
  for (const auto& b : streams_) {
    if (!b->publishes) continue;
    if (b->local.has_wildcards()) {
      wildcard_publish_.push_back(b.get());
    } else {
      exact_publish_.insert(b.get());
    }
  }
}

void router::add_resource(const config::resource_config& rc) {
  auto r = std::make_shared<topic_resource>(*this, rc);
  if (!registry_.add(rc.name, r)) return;  // the loader refuses such names already
  resources_.push_back(std::move(r));
}

void router::add_stream(const config::stream_config& sc) {
  auto local = topic_filter::parse(sc.local);
  if (!local) return;  // the loader refuses such topics already
  std::unique_ptr<const topic_filter> cloud_named;
  if (!sc.cloud.empty()) {
    auto cloud = topic_filter::parse(sc.cloud);
    if (!cloud) return;
    cloud_named = std::make_unique<const topic_filter>(std::move(*cloud));
  }
  auto b = std::make_unique<stream_binding>(stream_binding{
      std::move(*local), std::move(cloud_named), nullptr, {}, 0, sc.scope, static_cast<std::uint8_t>(sc.qos),
      sc.retained, sc.format, sc.scope != iotmp::mqtt_scope::subscribe, sc.scope != iotmp::mqtt_scope::publish});
  const auto scheme = mqtt_streams_;
  const bool wildcard = b->local.has_wildcards();
  if (!wildcard || !b->publishes) {
    // One stream (or two in the event scheme for `both`) on the configured topic.
    for (const auto& request :
         iotmp::mqtt_stream_requests(scheme, b->cloud().text(), sc.scope, sc.qos, sc.retained)) {
      const auto id = open_stream(*b, request, nullptr);
      if (request.scope != iotmp::mqtt_scope::subscribe) b->publish_id = id;
    }
  } else if (b->subscribes) {
    // Wildcard `both`: per-topic publish streams as topics appear, plus one
    // subscribe stream on the filter.
    for (const auto& request : iotmp::mqtt_stream_requests(scheme, b->cloud().text(),
                                                           iotmp::mqtt_scope::subscribe, sc.qos,
                                                           false)) {
      open_stream(*b, request, nullptr);
    }
  }
  streams_.push_back(std::move(b));
}

iotmp::device_stream_id router::open_stream(stream_binding& b, const iotmp::stream_request& request,
                                            const std::string* local_topic) {
  const auto id = session_.add_device_stream(request.resource, request.parameters);
  const bool publish = request.scope != iotmp::mqtt_scope::subscribe;
  if (routes_.size() <= id) routes_.resize(id + 1);
  // Keyed by the cloud topic: the same queue is found again after a restart.
  routes_[id] = stream_route{&b, local_topic, spool::spool::no_queue, publish,
                             request.scope != iotmp::mqtt_scope::publish, false};
  if (local_topic == nullptr) {
    auto slot = std::find(b.fixed_ids.begin(), b.fixed_ids.end(), 0u);
    if (slot != b.fixed_ids.end()) *slot = id;  // mqtt_stream_requests gives at most two
  }
  return id;
}

router::stream_route* router::route_of(iotmp::device_stream_id id) noexcept {
  if (id == 0 || id >= routes_.size() || routes_[id].binding == nullptr) return nullptr;
  return &routes_[id];
}

void router::reopen_spooled() {
  // Keys a fixed stream publishes to: their data goes when that stream opens.
  std::unordered_set<std::string_view> fixed;
  for (const auto& b : streams_) {
    if (b->publishes && !b->local.has_wildcards()) fixed.insert(b->cloud().text());
  }
  for (const auto& key : spool_->waiting_keys()) {
    if (fixed.contains(key)) continue;
    for (auto* b : wildcard_publish_) {
      if (!b->cloud().match(key, &captures_)) continue;
      const auto local = b->local.fill(captures_);
      // Opened now, or already open for that topic.
      if (local && per_topic_stream(*b, *local, captures_) != 0) break;
    }
  }
}

std::optional<std::string> router::cloud_topic_of(const stream_route& r) const {
  const auto& b = *r.binding;
  if (r.local_topic == nullptr) return b.cloud().text();
  // Not captures_: callers may be in the middle of a match.
  wildcard_values captures;
  if (!b.local.match(*r.local_topic, &captures)) return std::nullopt;
  return b.cloud().fill(captures);
}

spool::spool::queue_id router::queue_of(stream_route& r, bool create) {
  if (r.queue != spool::spool::no_queue || !r.publish) return r.queue;
  if (const auto key = cloud_topic_of(r)) r.queue = create ? spool_->queue(*key) : spool_->find(*key);
  return r.queue;
}

bool router::queue_shared(spool::spool::queue_id q, iotmp::device_stream_id except) {
  // By cloud topic, not by routes_[].queue: a route learns its queue only
  // when something waits for it. Once per refused or removed stream with
  // data waiting, so a pass over the bindings is fine.
  const std::string& key = spool_->key_of(q);
  const auto take = [&](iotmp::device_stream_id id) {
    auto* route = id != except ? route_of(id) : nullptr;
    if (route == nullptr) return false;
    route->queue = q;
    return true;
  };
  for (const auto& b : streams_) {
    if (!b->publishes) continue;
    if (!b->local.has_wildcards()) {
      if (b->cloud().text() == key && take(b->publish_id)) return true;
    } else if (b->per_topic && b->cloud().match(key, &captures_)) {
      const auto local = b->local.fill(captures_);
      if (!local) continue;
      const auto it = b->per_topic->find(*local);
      if (it != b->per_topic->end() && take(it->second)) return true;
    }
  }
  return false;
}

void router::absorb_spool_drops() const noexcept {
  const auto dropped = spool_->stats().dropped();
  counters_.dropped += dropped - spool_drops_seen_;
  spool_drops_seen_ = dropped;
}

std::vector<subscription> router::subscriptions() const {
  std::map<std::string, unsigned> wanted;
  // Reads take QoS 1: the latest state must not get lost on a busy broker.
  for (const auto& r : resources_) {
    if (const auto& f = r->read_filter()) wanted[f->text()] = std::max(wanted[f->text()], 1u);
  }
  for (const auto& b : streams_) {
    if (b->publishes) wanted[b->local.text()] = std::max<unsigned>(wanted[b->local.text()], b->qos);
  }
  // Brokers may deliver a message once per matching subscription (mosquitto 2
  // does), and each copy would be routed again: a filter covered by another one
  // is left out, its QoS going to the covering filter.
  std::vector<std::string> wildcards;
  for (const auto& [filter, qos] : wanted) {
    if (filter.find_first_of("+#") != std::string::npos) wildcards.push_back(filter);
  }
  std::vector<subscription> out;
  for (const auto& entry : wanted) {
    // Named, not a structured binding: clang 14 cannot capture those in a lambda.
    const std::string& filter = entry.first;
    const unsigned qos = entry.second;
    const bool covered = std::any_of(wildcards.begin(), wildcards.end(), [&](const auto& w) {
      // Equivalent filters ("#" and "+/#"): the first in order stays.
      return w != filter && filter_covers(w, filter) && (!filter_covers(filter, w) || w < filter);
    });
    if (covered) continue;
    unsigned q = qos;
    if (filter.find_first_of("+#") != std::string::npos) {
      for (const auto& [other, other_qos] : wanted) {
        if (other != filter && filter_covers(filter, other)) q = std::max(q, other_qos);
      }
    }
    out.push_back({filter, q});
  }
  return out;
}

const byte_buffer* router::converted(std::string_view payload, payload_format format) {
  const auto slot = static_cast<std::size_t>(format);
  if (scratch_state_[slot] == 0) {
    scratch_[slot].clear();
    scratch_state_[slot] = mqtt_to_pson(payload, format, scratch_[slot]) ? 1 : -1;
    if (scratch_state_[slot] < 0) {
      ++counters_.invalid;
      ++counters_.dropped;
    }
  }
  return scratch_state_[slot] > 0 ? &scratch_[slot] : nullptr;
}

void router::on_local_message(std::string_view topic, std::string_view payload, bool retained) {
  ++counters_.mqtt_in;
  scratch_state_.fill(0);
  auto update = [&](topic_resource& r, const wildcard_values& captures) {
    const byte_buffer* value = converted(payload, r.config().format);
    if (value == nullptr) return;
    const std::string path = r.update(topic, *value, captures);
    if (!path.empty()) session_.resource_changed(path);
  };
  exact_reads_.for_each(topic, [&](topic_resource* r) {
    update(*r, {});
    return true;
  });
  for (auto* r : wildcard_reads_) {
    if (r->read_filter()->match(topic, &captures_)) update(*r, captures_);
  }
  // Retained messages are state from before we subscribed: they fill the cache
  // but are not stream data (they were forwarded when they were published).
  if (retained) return;
  exact_publish_.for_each(topic, [&](stream_binding* b) {
    if (const byte_buffer* value = converted(payload, b->format)) route_to_stream(*b, topic, {}, *value);
    return true;
  });
  for (auto* b : wildcard_publish_) {
    if (!b->local.match(topic, &captures_)) continue;
    if (const byte_buffer* value = converted(payload, b->format)) {
      route_to_stream(*b, topic, captures_, *value);
    }
  }
}

void router::route_to_stream(stream_binding& b, std::string_view topic,
                             const wildcard_values& captures, const byte_buffer& payload) {
  const iotmp::device_stream_id id =
      b.local.has_wildcards() ? per_topic_stream(b, topic, captures) : b.publish_id;
  if (id == 0) {
    ++counters_.dropped;  // over the cap (or no cloud topic for it): counted, not sent
    return;
  }
  auto* route = route_of(id);
  if (route == nullptr || route->refused) {
    ++counters_.dropped;
    return;
  }
  send_or_hold(id, *route, payload);
}

iotmp::device_stream_id router::per_topic_stream(stream_binding& b, std::string_view topic,
                                                 const wildcard_values& captures) {
  if (!b.per_topic) b.per_topic = std::make_unique<string_map<iotmp::device_stream_id>>();
  if (auto it = b.per_topic->find(topic); it != b.per_topic->end()) return it->second;
  const auto cloud_topic = b.cloud().fill(captures);
  if (!cloud_topic || topic_streams_ >= max_topic_streams_) return 0;
  const auto request = iotmp::mqtt_stream_requests(mqtt_streams_, *cloud_topic,
                                                   iotmp::mqtt_scope::publish, b.qos,
                                                   b.retained)
                           .front();
  // The map's key is the route's local topic: in place before the stream.
  auto entry = b.per_topic->emplace(std::string(topic), 0).first;
  entry->second = open_stream(b, request, &entry->first);
  ++topic_streams_;
  return entry->second;
}

void router::send_or_hold(iotmp::device_stream_id id, stream_route& route, const byte_buffer& payload) {
  // Order per stream: nothing overtakes what already waits.
  if (route.queue == spool::spool::no_queue || spool_->empty(route.queue)) {
    switch (session_.send_stream_data(id, payload)) {
      case iotmp::send_status::sent: return;
      case iotmp::send_status::too_large: ++counters_.dropped; return;
      case iotmp::send_status::not_open:
      case iotmp::send_status::would_block: break;
    }
  }
  // Stream not open, or the socket over its high-water mark: to the spool
  // rather than growing memory. A refusal (too large) is counted by the spool.
  const auto q = queue_of(route, true);
  if (q == spool::spool::no_queue) {
    ++counters_.dropped;  // no cloud topic to keep it under (the stream has one)
    return;
  }
  if (spool_->append(q, payload)) ++counters_.spooled;
}

void router::flush(iotmp::device_stream_id id) {
  auto* route = route_of(id);
  if (route == nullptr) return;
  // Data of an earlier run may wait under its cloud topic.
  const auto q = queue_of(*route, false);
  if (q == spool::spool::no_queue) return;
  while (const byte_buffer* payload = spool_->front(q)) {
    const auto status = session_.send_stream_data(id, *payload);
    if (status == iotmp::send_status::not_open || status == iotmp::send_status::would_block) break;
    if (status == iotmp::send_status::too_large) ++counters_.dropped;
    // In the session's output now, which the cloud link writes to the socket
    // before the spool's cursor goes to disk (uv_driver orders the two).
    spool_->pop(q);
  }
}

void router::on_writable() {
  std::vector<std::pair<std::uint64_t, iotmp::device_stream_id>> waiting;
  for (std::size_t id = 1; id < routes_.size(); ++id) {
    const auto& route = routes_[id];
    if (route.binding == nullptr || route.queue == spool::spool::no_queue || spool_->empty(route.queue)) continue;
    const auto sid = static_cast<iotmp::device_stream_id>(id);
    if (!session_.device_stream_open(sid)) continue;
    waiting.emplace_back(spool_->front_sequence(route.queue), sid);
  }
  // Oldest data first across streams, so a long queue does not starve the others.
  std::sort(waiting.begin(), waiting.end());
  for (const auto& [sequence, id] : waiting) {
    if (!session_.writable()) return;
    flush(id);
  }
}

void router::on_device_stream_open(iotmp::device_stream_id id, const pson::value*) {
  auto* route = route_of(id);
  if (route == nullptr) return;
  route->refused = false;
  flush(id);
}

void router::on_device_stream_refused(iotmp::device_stream_id id) {
  auto* route = route_of(id);
  if (route == nullptr) return;
  if (!route->refused && route->local_topic != nullptr) --topic_streams_;
  route->refused = true;
  // Nothing can carry what waits for it.
  const auto q = queue_of(*route, false);
  if (q != spool::spool::no_queue && !spool_->empty(q) && !queue_shared(q, id)) spool_->drop_all(q);
}

void router::on_device_stream_data(iotmp::device_stream_id id, const pson::value& data) {
  const auto* route = route_of(id);
  if (route == nullptr || !route->subscribe) return;
  deliver_locally(*route->binding, data);
}

void router::deliver_locally(stream_binding& b, const pson::value& data) {
  // {"topic": t, "payload": p} names the concrete cloud topic; {"payload": p} is
  // unwrapped; anything else is the payload itself (SPEC §4).
  std::optional<std::string> local_topic;
  const pson::value* payload = &data;
  const pson::value* topic = data.find("topic");
  const pson::value* inner = data.find("payload");
  if (data.is_object() && data.as_object().size() == 2 && topic && inner && topic->is_string()) {
    if (b.cloud().match(topic->as_string(), &captures_)) local_topic = b.local.fill(captures_);
    payload = inner;
  } else {
    if (data.is_object() && data.as_object().size() == 1 && inner) payload = inner;
    if (!b.local.has_wildcards()) local_topic = b.local.text();
  }
  if (!local_topic) {
    ++counters_.dropped;  // outside the filter, or no concrete topic to publish on
    return;
  }
  if (broker_.state() != link_state::connected) {
    ++counters_.dropped;
    return;
  }
  broker_.publish(*local_topic, cloud_value_to_mqtt(*payload), b.qos, false,
                  [this](bool ok, std::string_view) {
                    if (ok) {
                      ++counters_.mqtt_out;
                    } else {
                      ++counters_.dropped;
                    }
                  });
}

pson::value router::gateway_status() const {
  const auto& s = session_.stats();
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(now_() - started_);
  pson::object counters{
      {"mqtt_in", counters_.mqtt_in},
      {"mqtt_out", counters_.mqtt_out},
      {"cloud_in", s.frames_in},
      {"cloud_out", s.frames_out},
      {"dropped", stats().dropped + s.samples_skipped},
      {"invalid", counters_.invalid},
      {"spooled", counters_.spooled},
      // What the spool holds and dropped (full, older than max_age, refused stream).
      {"spool_entries", spool_->entries()},
      {"spool_bytes", spool_->payload_bytes()},
      {"spool_dropped", spool_->stats().dropped()},
      {"spool_on_disk", spool_->on_disk()},
      {"reconnects", counters_.reconnects},
      {"topic_streams", static_cast<std::uint64_t>(topic_streams_)},
  };
  return pson::value(pson::object{
      {"version", version_},
      {"uptime_s", static_cast<std::uint64_t>(uptime.count())},
      {"cloud", to_string(session_.state())},
      {"mqtt", to_string(broker_.state())},
      {"counters", pson::value(std::move(counters))},
  });
}

}  // namespace iotgw::bridge
