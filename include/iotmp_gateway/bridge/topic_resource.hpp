// A device resource backed by MQTT topics: reads the latest value of its read
// topic, publishes input to its write topic (SPEC §4 RUN rules).
#pragma once

#include <optional>
#include <string>

#include "iotmp_gateway/bridge/router.hpp"
#include "iotmp_gateway/bridge/topic.hpp"
#include "iotmp_gateway/config/config.hpp"
#include "iotmp_gateway/iotmp/resource_registry.hpp"

namespace iotgw::bridge {

class topic_resource : public iotmp::resource,
                       public std::enable_shared_from_this<topic_resource> {
 public:
  topic_resource(router& owner, config::resource_config cfg);

  iotmp::resource_io io() const override;
  void run(const iotmp::resource_call& call, iotmp::reply r) override;
  std::optional<pson::value> sample(const iotmp::resource_call& call) override;
  bool append_sample(const iotmp::resource_call& call, byte_buffer& out) override;
  pson::value example_input() const override;

  const config::resource_config& config() const noexcept { return cfg_; }
  const std::optional<topic_filter>& read_filter() const noexcept { return read_; }
  bool has_placeholders() const noexcept { return placeholders_; }

  // A converted message on a topic matching the read filter; returns the concrete
  // resource path it updates ("" when the captures fit no path).
  std::string update(std::string_view topic, const byte_buffer& value,
                     const wildcard_values& captures);

 private:
  const byte_buffer* latest(const iotmp::resource_call& call) const;

  router& owner_;
  config::resource_config cfg_;
  std::optional<topic_filter> read_;
  std::optional<topic_filter> write_;
  bool placeholders_;
  string_map<byte_buffer> cache_;  // concrete read topic -> latest value as PSON
  std::optional<pson::value> last_input_;
};

}  // namespace iotgw::bridge
