#include "iotmp_gateway/devserver/topic_table.hpp"

namespace iotgw::devserver {

std::optional<std::size_t> topic_table::publish(std::string_view topic, const pson::value& value,
                                                origin_id origin) {
  if (!bridge::valid_topic_name(topic)) return std::nullopt;
  auto it = topics_.find(topic);
  if (it == topics_.end()) it = topics_.emplace(std::string(topic), entry{}).first;
  entry& e = it->second;
  e.value = value;
  e.updated = std::chrono::system_clock::now();
  ++e.messages;
  e.origin = origin;

  // Decided before any callback runs: one that subscribes or unsubscribes
  // changes who gets the next message, not this one.
  std::vector<std::shared_ptr<subscriber>> targets;
  for (const auto& [id, s] : subscriptions_) {
    if (origin != 0 && s.origin == origin) continue;
    if (s.filter.match(topic)) targets.push_back(s.cb);
  }
  // A copy: a callback may publish on the same topic and replace the entry's value.
  const std::string name(topic);
  const pson::value delivered = value;
  for (const auto& cb : targets) (*cb)(name, delivered);
  return targets.size();
}

topic_table::subscription_id topic_table::subscribe(std::string_view filter, subscriber cb,
                                                    origin_id origin) {
  auto parsed = bridge::topic_filter::parse(filter);
  if (!parsed || !cb) return 0;
  const subscription_id id = next_id_++;
  subscriptions_.emplace(
      id, subscription{std::move(*parsed), origin, std::make_shared<subscriber>(std::move(cb))});
  return id;
}

bool topic_table::unsubscribe(subscription_id id) {
  return subscriptions_.erase(id) > 0;
}

const topic_table::entry* topic_table::latest(std::string_view topic) const {
  const auto it = topics_.find(topic);
  return it == topics_.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::string, topic_table::entry>> topic_table::matching(
    std::string_view filter) const {
  std::vector<std::pair<std::string, entry>> out;
  const auto parsed = bridge::topic_filter::parse(filter);
  if (!parsed) return out;
  for (const auto& [topic, e] : topics_) {
    if (parsed->match(topic)) out.emplace_back(topic, e);
  }
  return out;
}

std::size_t topic_table::audience(std::string_view topic, origin_id origin) const {
  std::size_t n = 0;
  for (const auto& [id, s] : subscriptions_) {
    if (origin != 0 && s.origin == origin) continue;
    if (s.filter.match(topic)) ++n;
  }
  return n;
}

}  // namespace iotgw::devserver
