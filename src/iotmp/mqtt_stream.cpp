#include "iotmp_gateway/iotmp/mqtt_stream.hpp"

#include "iotmp_gateway/iotmp/message.hpp"

namespace iotgw::iotmp {

namespace {

stream_request event_request(std::string_view topic, mqtt_scope scope, unsigned qos,
                             bool retained) {
  pson::object params{
      {"event", "device_topic_publish"},
      {"scope", scope == mqtt_scope::publish ? "publish" : "subscribe"},
      {"topic", pson::value(topic)},
  };
  if (qos != 0) params.insert_or_assign("qos", pson::value(qos));
  if (retained && scope == mqtt_scope::publish) params.insert_or_assign("retained", true);
  return {pson::value(static_cast<unsigned>(server_resource::subscribe_event)),
          pson::value(std::move(params)), scope};
}

}  // namespace

std::vector<stream_request> mqtt_stream_requests(mqtt_stream_scheme scheme, std::string_view topic,
                                                 mqtt_scope scope, unsigned qos, bool retained) {
  if (scheme == mqtt_stream_scheme::event) {
    if (scope == mqtt_scope::both) {
      return {event_request(topic, mqtt_scope::publish, qos, retained),
              event_request(topic, mqtt_scope::subscribe, qos, retained)};
    }
    return {event_request(topic, scope, qos, retained)};
  }
  pson::array scopes;
  if (scope != mqtt_scope::subscribe) scopes.emplace_back("publish");
  if (scope != mqtt_scope::publish) scopes.emplace_back("subscribe");
  return {{pson::value(topic),
           pson::value(pson::object{{"scope", pson::value(std::move(scopes))}, {"type", "mqtt"}}),
           scope}};
}

}  // namespace iotgw::iotmp
