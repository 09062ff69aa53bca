// The router: local MQTT topics <-> cloud device resources and streams (SPEC §4).
// Owns the topic maps, the latest-value cache and the MQTT-typed server streams;
// stream data that cannot go now (stream not open, socket over its high-water
// mark) waits in the spool (SPEC §7), one queue per cloud topic. Runs on the
// loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "iotmp_gateway/bridge/counters.hpp"
#include "iotmp_gateway/bridge/local_broker.hpp"
#include "iotmp_gateway/bridge/payload.hpp"
#include "iotmp_gateway/bridge/topic.hpp"
#include "iotmp_gateway/config/config.hpp"
#include "iotmp_gateway/iotmp/device_session.hpp"
#include "iotmp_gateway/spool/spool.hpp"
#include "iotmp_gateway/string_index.hpp"

namespace iotgw::bridge {

class topic_resource;
class gateway_resource;

struct subscription {
  std::string filter;
  unsigned qos;
  bool operator==(const subscription&) const = default;
};

// Heterogeneous lookup: find a std::string key with a string_view, no allocation.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};
template <typename T>
using string_map = std::unordered_map<std::string, T, string_hash, std::equal_to<>>;

class router : public iotmp::session_observer {
 public:
  using clock_fn = std::function<iotmp::time_point()>;

  router(iotmp::device_session& session, iotmp::resource_registry& registry, local_broker& broker,
         std::string version, clock_fn now = [] { return iotmp::clock::now(); });
  ~router() override;
  router(const router&) = delete;
  router& operator=(const router&) = delete;

  // Where held-back stream data goes; before configure(). Without one the router
  // holds up to max_held_bytes in memory. s must outlive the router.
  void use_spool(spool::spool& s) noexcept { spool_ = &s; }

  // Builds the maps, resources and streams of a configuration.
  void configure(const config::gateway_config& cfg);
  // SIGHUP: applies only the difference. Unchanged resources keep their cached
  // values, unchanged streams stay open; a changed stream is reopened and the
  // data held for it moves to the new one.
  void reconfigure(const config::gateway_config& next);

  // Whether `cfg`'s resource and stream lists are what the router runs, in order
  // (the rest of the configuration is not the router's).
  bool configured_as(const config::gateway_config& cfg) const;
  std::size_t resource_count() const noexcept { return resources_.size(); }
  std::size_t stream_count() const noexcept { return streams_.size(); }

  // The filters the MQTT link must hold (deduplicated, highest QoS wins).
  std::vector<subscription> subscriptions() const;

  // A message from the local broker (loop thread).
  void on_local_message(std::string_view topic, std::string_view payload, bool retained);
  // The cloud socket has room again: send what was held back.
  void on_writable();

  // Device-opened stream events from the session.
  void on_device_stream_open(iotmp::device_stream_id id, const pson::value* initial) override;
  void on_device_stream_refused(iotmp::device_stream_id id) override;
  void on_device_stream_data(iotmp::device_stream_id id, const pson::value& data) override;

  // `dropped` includes what the spool dropped (full, too old, refused).
  counters& stats() noexcept {
    absorb_spool_drops();
    return counters_;
  }
  const counters& stats() const noexcept {
    absorb_spool_drops();
    return counters_;
  }
  // The value of the built-in $gateway resource.
  pson::value gateway_status() const;

  std::size_t topic_stream_count() const noexcept { return topic_streams_; }
  std::size_t held_back_bytes() const noexcept { return spool_->payload_bytes(); }
  spool::spool& held_back() noexcept { return *spool_; }

  // What stream data may wait in memory without a spool on disk.
  static constexpr std::size_t max_held_bytes = 4 * 1024 * 1024;

 private:
  friend class topic_resource;

  struct stream_binding;
  // What a device stream carries; routes_ holds one per stream id.
  struct stream_route {
    stream_binding* binding = nullptr;  // nullptr: no stream has this id
    // Per-topic streams of a wildcard publish stream: the key of the
    // binding's per_topic map (a node key, it does not move).
    const std::string* local_topic = nullptr;
    // Publish routes: the spool queue of the cloud topic, looked up the first
    // time something waits (an empty queue per topic would be per-topic memory).
    spool::spool::queue_id queue = spool::spool::no_queue;
    bool publish = false;    // carries local -> cloud data
    bool subscribe = false;  // carries cloud -> local data
    bool refused = false;
  };

  void clear();
  void add_resource(const config::resource_config& rc);
  void add_stream(const config::stream_config& sc);
  void retire(stream_binding& old, const string_map<stream_binding*>& successors);
  void reindex();
  // The stream of one concrete topic of a wildcard publish stream, opened on
  // first use; 0 over the cap or when the cloud topic cannot be built.
  iotmp::device_stream_id per_topic_stream(stream_binding& b, std::string_view topic,
                                           const wildcard_values& captures);
  iotmp::device_stream_id open_stream(stream_binding& b, const iotmp::stream_request& request,
                                      const std::string* local_topic);
  stream_route* route_of(iotmp::device_stream_id id) noexcept;
  // Streams for spooled data of an earlier run: per-topic streams of wildcard
  // publish streams are otherwise opened only when the local topic appears.
  void reopen_spooled();
  // The cloud topic of a publish route, its spool key.
  std::optional<std::string> cloud_topic_of(const stream_route& r) const;
  // The route's queue: found (or made, with create) by its cloud topic the
  // first time, no_queue when there is none.
  spool::spool::queue_id queue_of(stream_route& r, bool create);
  // Whether another stream than `except` publishes to q's cloud topic (it then
  // takes q's entries); that stream's route learns q.
  bool queue_shared(spool::spool::queue_id q, iotmp::device_stream_id except);
  void absorb_spool_drops() const noexcept;
  void route_to_stream(stream_binding& b, std::string_view topic, const wildcard_values& captures,
                       const byte_buffer& payload);
  void send_or_hold(iotmp::device_stream_id id, stream_route& route, const byte_buffer& payload);
  void flush(iotmp::device_stream_id id);
  void deliver_locally(stream_binding& b, const pson::value& data);
  const byte_buffer* converted(std::string_view payload, payload_format format);

  iotmp::device_session& session_;
  iotmp::resource_registry& registry_;
  local_broker& broker_;
  std::string version_;
  clock_fn now_;
  iotmp::time_point started_;
  // Mutable: the const readers fold in the spool's drops first.
  mutable counters counters_;

  // The two settings the router needs after configure(): not a copy of the
  // whole configuration (its resource and stream lists are per-topic memory).
  iotmp::mqtt_stream_scheme mqtt_streams_ = iotmp::mqtt_stream_scheme::spec;
  std::size_t max_topic_streams_ = 0;
  // Index keys: the filter texts the resources and bindings hold.
  struct read_filter_of {
    std::string_view operator()(const topic_resource* r) const;
  };
  struct local_filter_of {
    std::string_view operator()(const stream_binding* b) const;
  };

  std::vector<std::shared_ptr<topic_resource>> resources_;
  std::shared_ptr<gateway_resource> gateway_;
  string_index<topic_resource*, read_filter_of> exact_reads_;  // configuration order per topic
  std::vector<topic_resource*> wildcard_reads_;

  std::vector<std::unique_ptr<stream_binding>> streams_;
  string_index<stream_binding*, local_filter_of> exact_publish_;
  std::vector<stream_binding*> wildcard_publish_;
  // By device stream id, dense (the session gives out small ids and reuses
  // them): a vector slot, not a hash node, per stream.
  std::vector<stream_route> routes_;
  std::size_t topic_streams_ = 0;

  std::unique_ptr<spool::spool> own_spool_;
  spool::spool* spool_;
  mutable std::uint64_t spool_drops_seen_ = 0;

  // Per-message scratch: each payload is converted at most once per format.
  std::array<byte_buffer, 5> scratch_;
  std::array<std::int8_t, 5> scratch_state_{};  // 0 unknown, 1 converted, -1 refused
  wildcard_values captures_;
};

}  // namespace iotgw::bridge
