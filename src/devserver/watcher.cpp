#include "iotmp_gateway/devserver/watcher.hpp"

#include <utility>

#include "iotmp_gateway/pson/json.hpp"

namespace iotgw::devserver {

namespace {

constexpr int log_warning = 4;

std::string answer_text(const request_result& r) {
  // A RUN answered without PAYLOAD (a resource with nothing to read yet) reads as null.
  return r.payload ? pson::to_json(*r.payload) : "null";
}

}  // namespace

watcher::watcher(device_registry& registry, std::vector<watch_spec> watches, line_sink out,
                 log_sink log)
    : registry_(registry),
      watches_(std::move(watches)),
      out_(std::move(out)),
      log_(std::move(log)) {
  listener_ = registry_.add_listener([this](const device_event& ev) { on_event(ev); });
}

watcher::~watcher() {
  registry_.remove_listener(listener_);
  for (auto& [id, handles] : streams_) {
    for (auto& h : handles) h.stop();
  }
}

void watcher::on_event(const device_event& ev) {
  const std::string who = ev.id.text();
  switch (ev.type) {
    case device_event::kind::connected:
      out_(who + " connected from " + ev.peer);
      streams_.erase(ev.id);
      for (const auto& w : watches_) start_watch(ev.id, w);
      break;
    case device_event::kind::disconnected:
      // Its streams ended with the connection.
      streams_.erase(ev.id);
      out_(who + " disconnected: " + ev.reason);
      break;
    case device_event::kind::published:
      if (ev.stream != nullptr && ev.value != nullptr) {
        out_("topic " + ev.stream->topic + ": " + pson::to_json(*ev.value));
      }
      break;
    case device_event::kind::stream_opened:
    case device_event::kind::stream_closed:
      break;
  }
}

void watcher::start_watch(const device_id& id, const watch_spec& w) {
  const std::string prefix = id.text() + " " + w.resource + ": ";
  std::weak_ptr<bool> alive = alive_;
  auto on_run = [this, alive, id, w, prefix](const request_result& r) {
    if (alive.expired()) return;
    if (r.ok()) {
      out_(prefix + answer_text(r));
    } else {
      std::string text = id.text() + ": RUN " + w.resource + " failed: ";
      text += to_string(r.status);
      if (r.payload) text += " " + pson::to_json(*r.payload);
      log(log_warning, text);
      // Gone with its connection: the next connect starts over.
      if (r.status == request_status::disconnected) return;
    }
    stream_callbacks cbs;
    cbs.on_sample = [this, prefix](const pson::value& v) { out_(prefix + pson::to_json(v)); };
    cbs.on_started = [this, id, w](const request_result& started) {
      if (started.ok()) return;
      std::string text = id.text() + ": stream of " + w.resource + " refused";
      if (started.payload) text += ": " + pson::to_json(*started.payload);
      log(log_warning, text);
    };
    auto h = registry_.start_stream(id, w.resource, w.interval, std::move(cbs));
    if (h) streams_[id].push_back(std::move(h));
  };
  const auto st = registry_.run(id, w.resource, std::nullopt, std::move(on_run));
  if (st != request_status::ok) {
    log(log_warning, id.text() + ": cannot RUN " + w.resource + ": " + std::string(to_string(st)));
  }
}

void watcher::log(int priority, std::string_view text) const {
  if (log_) log_(priority, text);
}

}  // namespace iotgw::devserver
