// What `iotmp-devserver --watch` prints: for people trying the gateway, every
// device that connects gets each watched resource RUN once and then streamed;
// connects, disconnects, samples and what devices publish on their MQTT streams
// come out as one line each.
//
//   alice/gw01 connected from 127.0.0.1:40312
//   alice/gw01 temperature: {"value":21.5}
//   topic alice/alerts/door: "open"
//   alice/gw01 disconnected: connection closed by peer
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "iotmp_gateway/devserver/command_line.hpp"
#include "iotmp_gateway/devserver/registry.hpp"
#include "iotmp_gateway/devserver/topic_table.hpp"

namespace iotgw::devserver {

class watcher {
 public:
  using line_sink = std::function<void(std::string_view line)>;
  using log_sink = std::function<void(int priority, std::string_view text)>;

  // Starts watching at once; stops (streams stopped, listeners removed) when destroyed.
  watcher(device_registry& registry, std::vector<watch_spec> watches, line_sink out,
          log_sink log = {});
  ~watcher();
  watcher(const watcher&) = delete;
  watcher& operator=(const watcher&) = delete;

 private:
  void on_event(const device_event& ev);
  void start_watch(const device_id& id, const watch_spec& w);
  void log(int priority, std::string_view text) const;

  device_registry& registry_;
  std::vector<watch_spec> watches_;
  line_sink out_;
  log_sink log_;
  device_registry::listener_id listener_ = 0;
  std::map<device_id, std::vector<stream_handle>> streams_;
  // Guards the callbacks of requests still in flight when we are destroyed.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace iotgw::devserver
