#include "iotmp_gateway/bridge/topic_resource.hpp"

#include "iotmp_gateway/pson/codec.hpp"

namespace iotgw::bridge {

namespace {

wildcard_values values_of(const iotmp::captures& placeholders) {
  wildcard_values values;
  values.reserve(placeholders.size());
  for (const auto& [name, v] : placeholders) values.push_back(v);
  return values;
}

}  // namespace

topic_resource::topic_resource(router& owner, config::resource_config cfg)
    : owner_(owner), cfg_(std::move(cfg)), placeholders_(!placeholder_signature(cfg_.name).empty()) {
  // The loader validated both topics; an invalid one simply stays unset.
  if (!cfg_.read.empty()) read_ = topic_filter::parse(cfg_.read);
  if (!cfg_.write.empty()) write_ = topic_filter::parse(cfg_.write);
}

iotmp::resource_io topic_resource::io() const {
  if (read_ && write_) return iotmp::resource_io::input_output;
  return write_ ? iotmp::resource_io::input : iotmp::resource_io::output;
}

std::string topic_resource::update(std::string_view topic, const byte_buffer& value,
                                   const wildcard_values& captures) {
  auto it = cache_.find(topic);
  if (it == cache_.end()) it = cache_.emplace(std::string(topic), byte_buffer{}).first;
  it->second = value;  // reuses the buffer's capacity
  if (!placeholders_) return cfg_.name;
  return fill_placeholders(cfg_.name, captures).value_or(std::string());
}

const byte_buffer* topic_resource::latest(const iotmp::resource_call& call) const {
  if (!read_) return nullptr;
  if (!placeholders_) {
    const auto it = cache_.find(cfg_.read);
    return it == cache_.end() ? nullptr : &it->second;
  }
  const auto topic = read_->fill(values_of(call.placeholders));
  if (!topic) return nullptr;
  const auto it = cache_.find(*topic);
  return it == cache_.end() ? nullptr : &it->second;
}

std::optional<pson::value> topic_resource::sample(const iotmp::resource_call& call) {
  const byte_buffer* bytes = latest(call);
  if (bytes == nullptr) return std::nullopt;
  pson::value v;
  if (!pson::decode_all(*bytes, v)) return std::nullopt;
  return v;
}

bool topic_resource::append_sample(const iotmp::resource_call& call, byte_buffer& out) {
  const byte_buffer* bytes = latest(call);
  if (bytes == nullptr) return false;
  out.insert(out.end(), bytes->begin(), bytes->end());
  return true;
}

pson::value topic_resource::example_input() const {
  if (last_input_) return *last_input_;
  switch (cfg_.format) {
    case payload_format::number: return pson::value(0);
    case payload_format::string: return pson::value("");
    default: return pson::value(pson::object{});
  }
}

void topic_resource::run(const iotmp::resource_call& call, iotmp::reply r) {
  if (call.input == nullptr) {
    r.ok(sample(call));
    return;
  }
  // The session refuses input to read-only resources before calling us.
  std::string error;
  auto payload = value_to_mqtt(*call.input, cfg_.format, &error);
  if (!payload) {
    r.error(error);
    return;
  }
  const auto topic = write_->fill(values_of(call.placeholders));
  if (!topic) {
    r.error("no topic for " + std::string(call.path));
    return;
  }
  if (owner_.broker_.state() != link_state::connected) {
    r.error("local MQTT broker is not connected");
    return;
  }
  last_input_ = *call.input;
  // The answer waits for the broker (PUBACK at QoS >= 1); the OK of a read+write
  // resource carries its latest read value at that moment.
  std::string path(call.path);
  iotmp::captures placeholders = call.placeholders;
  owner_.broker_.publish(
      *topic, std::move(*payload), cfg_.qos, cfg_.retain,
      [self = shared_from_this(), r, path = std::move(path),
       placeholders = std::move(placeholders)](bool ok, std::string_view err) {
        if (!ok) {
          r.error(err);
          return;
        }
        ++self->owner_.counters_.mqtt_out;
        if (!self->read_) {
          r.ok();
          return;
        }
        const iotmp::resource_call again{path, placeholders};
        r.ok(self->sample(again));
      });
}

}  // namespace iotgw::bridge
