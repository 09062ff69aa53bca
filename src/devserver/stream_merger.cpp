#include "iotmp_gateway/devserver/stream_merger.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace iotgw::devserver {

// --- interval_schedule -------------------------------------------------------------

void interval_schedule::add(key k, duration period) {
  if (period.count() <= 0) throw std::invalid_argument("a stream period must be positive");
  consumers_[k].period = period;
  recompute();
}

bool interval_schedule::remove(key k) {
  if (consumers_.erase(k) == 0) return false;
  recompute();
  return true;
}

std::optional<interval_schedule::duration> interval_schedule::period(key k) const {
  const auto it = consumers_.find(k);
  if (it == consumers_.end()) return std::nullopt;
  return it->second.period;
}

std::vector<interval_schedule::key> interval_schedule::keys() const {
  std::vector<key> out;
  out.reserve(consumers_.size());
  for (const auto& [k, c] : consumers_) out.push_back(k);
  return out;
}

void interval_schedule::recompute() {
  if (consumers_.empty()) {
    interval_.reset();
    return;
  }
  duration::rep g = 0;
  for (const auto& [k, c] : consumers_) g = std::gcd(g, c.period.count());
  interval_ = duration(g);
}

std::vector<interval_schedule::key> interval_schedule::on_sample(steady_time now) {
  std::vector<key> due;
  if (!interval_) return due;
  // In the clock's own unit: half of an odd number of milliseconds must not
  // round down to a whole one less.
  using fine = steady_time::duration;
  const auto shortest = device_interval_ ? std::min(*interval_, *device_interval_) : *interval_;
  const fine tolerance = std::chrono::duration_cast<fine>(shortest) / 2;
  for (auto& [k, c] : consumers_) {
    if (!c.last || now - *c.last >= std::chrono::duration_cast<fine>(c.period) - tolerance) {
      c.last = now;
      due.push_back(k);
    }
  }
  return due;
}

// --- stream_merger -------------------------------------------------------------------

stream_merger::stream_merger(device_registry& registry, clock_fn now)
    : registry_(registry), now_(std::move(now)) {
  listener_ = registry_.add_listener([this](const device_event& ev) { on_event(ev); });
}

stream_merger::~stream_merger() {
  registry_.remove_listener(listener_);
  // stop() guarantees that none of their callbacks (which point here) runs later.
  for (auto& [key, g] : groups_) {
    g.interval_stream.handle.stop();
    g.event_stream.handle.stop();
  }
}

stream_merger::consumer_id stream_merger::add(const device_id& device, std::string_view resource,
                                              std::optional<std::chrono::milliseconds> period,
                                              consumer_callbacks cb) {
  if (period && period->count() <= 0) {
    throw std::invalid_argument("a stream period must be positive");
  }
  const consumer_id id = next_id_++;
  group_key key{device, std::string(resource)};
  group& g = groups_[key];
  if (period) {
    g.schedule.add(id, *period);
  } else {
    g.events.insert(id);
  }
  consumers_.emplace(id,
                     consumer{key, period, std::make_shared<consumer_callbacks>(std::move(cb))});
  sync(key);
  return id;
}

void stream_merger::remove(consumer_id id) {
  ending_.erase(id);
  const auto it = consumers_.find(id);
  if (it == consumers_.end()) return;
  const group_key key = it->second.group;
  forget(id);
  sync(key);
}

std::optional<stream_merger::stream_state> stream_merger::state(const device_id& device,
                                                                std::string_view resource) const {
  const auto it = groups_.find(group_key{device, std::string(resource)});
  if (it == groups_.end()) return std::nullopt;
  const group& g = it->second;
  stream_state s;
  if (g.interval_stream.handle.active()) s.interval = g.interval_stream.asked;
  s.event_stream = g.event_stream.handle.active();
  s.interval_consumers = g.schedule.size();
  s.event_consumers = g.events.size();
  s.device_connected = registry_.connected(device);
  s.wanted_interval = g.schedule.interval();
  return s;
}

std::shared_ptr<stream_merger::consumer_callbacks> stream_merger::forget(consumer_id id) {
  const auto it = consumers_.find(id);
  if (it == consumers_.end()) return nullptr;
  auto callbacks = std::move(it->second.callbacks);
  if (const auto g = groups_.find(it->second.group); g != groups_.end()) {
    if (it->second.period) {
      g->second.schedule.remove(id);
    } else {
      g->second.events.erase(id);
    }
  }
  consumers_.erase(it);
  return callbacks;
}

void stream_merger::on_event(const device_event& ev) {
  // Streams end with their connection (see on_ended below): each connection
  // gets its own. Nothing to do on disconnected.
  if (ev.type != device_event::kind::connected) return;
  std::vector<group_key> keys;
  for (auto it = groups_.lower_bound(group_key{ev.id, std::string()});
       it != groups_.end() && it->first.first == ev.id; ++it) {
    keys.push_back(it->first);
  }
  for (const auto& key : keys) sync(key);
}

void stream_merger::sync(const group_key& key) {
  const auto it = groups_.find(key);
  if (it == groups_.end()) return;
  group& g = it->second;
  const bool connected = registry_.connected(key.first);
  sync_interval(key, g, connected);
  sync_events(key, g, connected);
  if (g.schedule.empty() && g.events.empty()) groups_.erase(it);
}

void stream_merger::sync_interval(const group_key& key, group& g, bool connected) {
  device_side& side = g.interval_stream;
  const auto wanted = g.schedule.interval();
  if (!wanted) {
    side.handle.stop();
    side = {};
    g.schedule.set_device_interval(std::nullopt);
    return;
  }
  if (side.handle.active()) {
    if (side.asked == wanted) return;
    // One START in flight per stream: server_session takes the first answer
    // for every START sent before it (they share the stream id), so a
    // refused second one would go unnoticed. The answer re-STARTs (on_started);
    // changes meanwhile coalesce into one.
    if (side.awaiting_answer) return;
    if (side.handle.restart(*wanted)) {
      side.asked = wanted;
      // Until the device answers, samples may still come at the old interval.
      side.floor = side.floor ? std::min(*side.floor, *wanted) : *wanted;
      side.awaiting_answer = true;
      g.schedule.set_device_interval(side.floor);
      return;
    }
    // The frame could not be built: start over on a new stream id.
    side.handle.stop();
  }
  side = {};
  g.schedule.set_device_interval(std::nullopt);
  // Offline: the stream opens when the device connects.
  if (!connected) return;
  const std::uint64_t generation = next_generation_++;
  auto h =
      registry_.start_stream(key.first, key.second, *wanted, callbacks_for(key, true, generation));
  // No stream id free (or a resource name too long for a frame): asked again
  // on the next change or connect; the consumers keep waiting.
  if (!h) return;
  side.handle = std::move(h);
  side.generation = generation;
  side.asked = wanted;
  side.floor = wanted;  // a new stream id: no sample at another interval
  side.awaiting_answer = true;
}

void stream_merger::sync_events(const group_key& key, group& g, bool connected) {
  device_side& side = g.event_stream;
  if (g.events.empty()) {
    side.handle.stop();
    side = {};
    return;
  }
  if (side.handle.active()) return;
  side = {};
  if (!connected) return;
  const std::uint64_t generation = next_generation_++;
  auto h = registry_.start_stream(key.first, key.second, std::nullopt,
                                  callbacks_for(key, false, generation));
  if (!h) return;
  side.handle = std::move(h);
  side.generation = generation;
}

stream_callbacks stream_merger::callbacks_for(const group_key& key, bool interval,
                                              std::uint64_t generation) {
  stream_callbacks cbs;
  cbs.on_sample = [this, key, interval, generation](const pson::value& v) {
    on_sample(key, interval, generation, v);
  };
  cbs.on_started = [this, key, interval, generation](const request_result& r) {
    // A refused re-START ends the stream too (PROTOCOL §11.2): its consumers
    // asked for something this device does not do.
    if (!r.ok()) {
      end_consumers(key, interval, generation, r.status);
      return;
    }
    group* g = current(key, interval, generation);
    if (g == nullptr || !interval) return;
    // From here on the device streams at what it was asked for.
    device_side& side = g->interval_stream;
    side.awaiting_answer = false;
    side.floor = side.asked;
    g->schedule.set_device_interval(side.floor);
    // Consumers came or went while the START was out.
    if (g->schedule.interval() != side.asked) sync(key);
  };
  cbs.on_ended = [this, key, interval, generation](request_status why) {
    if (why == request_status::disconnected) {
      // The consumers wait for the next connection (on_event).
      if (group* g = current(key, interval, generation)) reset(*g, interval);
      return;
    }
    // The device stopped it: opening it again would only be stopped again.
    end_consumers(key, interval, generation, why);
  };
  return cbs;
}

void stream_merger::reset(group& g, bool interval) {
  side_of(g, interval) = {};
  if (interval) g.schedule.set_device_interval(std::nullopt);
}

stream_merger::group* stream_merger::current(const group_key& key, bool interval,
                                             std::uint64_t generation) {
  const auto it = groups_.find(key);
  if (it == groups_.end()) return nullptr;
  return side_of(it->second, interval).generation == generation ? &it->second : nullptr;
}

void stream_merger::on_sample(const group_key& key, bool interval, std::uint64_t generation,
                              const pson::value& v) {
  group* g = current(key, interval, generation);
  if (g == nullptr) return;
  std::vector<consumer_id> targets;
  if (interval) {
    targets = g->schedule.on_sample(now_());
  } else {
    targets.assign(g->events.begin(), g->events.end());
  }
  // g may be gone after any callback: only ids from here on.
  for (const consumer_id id : targets) {
    const auto it = consumers_.find(id);
    if (it == consumers_.end()) continue;  // removed by an earlier callback
    const auto callbacks = it->second.callbacks;
    if (callbacks->on_sample) callbacks->on_sample(v);
  }
}

void stream_merger::end_consumers(const group_key& key, bool interval, std::uint64_t generation,
                                  request_status why) {
  group* g = current(key, interval, generation);
  if (g == nullptr) return;
  reset(*g, interval);  // the registry has ended the stream already
  const std::vector<consumer_id> ids =
      interval ? g->schedule.keys() : std::vector<consumer_id>(g->events.begin(), g->events.end());
  std::vector<std::pair<consumer_id, std::shared_ptr<consumer_callbacks>>> ended;
  for (const consumer_id id : ids) {
    if (auto callbacks = forget(id)) {
      ended.emplace_back(id, std::move(callbacks));
      ending_.insert(id);
    }
  }
  // Before the callbacks: they see a merger without these consumers.
  sync(key);
  for (const auto& [id, callbacks] : ended) {
    // An earlier callback may have removed this one.
    if (ending_.erase(id) == 0) continue;
    if (callbacks->on_ended) callbacks->on_ended(why);
  }
}

}  // namespace iotgw::devserver
