// The iotmp-gateway daemon: one libuv loop owning the cloud link (IOTMP), the
// local MQTT link (mqtt::link, an MQTT 5 client on the same loop) and the router
// between them.
#pragma once

#include <memory>
#include <string>

#include "iotmp_gateway/bridge/router.hpp"
#include "iotmp_gateway/cloud/cloud_link.hpp"
#include "iotmp_gateway/config/config.hpp"
#include "iotmp_gateway/daemon/logger.hpp"
#include "iotmp_gateway/daemon/notifier.hpp"
#include "iotmp_gateway/iotmp/resource_registry.hpp"
#include "iotmp_gateway/mqtt/link.hpp"
#include "iotmp_gateway/net/uv_loop.hpp"
#include "iotmp_gateway/net/uv_signal.hpp"
#include "iotmp_gateway/spool/spool.hpp"
#include "iotmp_gateway/spool/uv_driver.hpp"

namespace iotgw::daemon {

class gateway {
 public:
  // Throws std::runtime_error (or net::tls_config_error) for what the
  // configuration names but cannot be used (a broken CA file).
  gateway(uv::loop& loop, config::gateway_config config, logger& log, std::string version);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  // Starts both links and the signal handlers; READY=1.
  void start();
  // Graceful stop (SIGTERM/SIGINT): STOPPING=1, offline status, both sessions
  // closed, then the loop stops. Waits (on the loop, at most 2 s) for the
  // broker to acknowledge "offline".
  void stop();
  bool stopped() const noexcept { return stopped_; }

  // SIGHUP: parse and validate the file again; keep running on the old
  // configuration on any error.
  void reload();

  bridge::router& router() noexcept { return *router_; }
  cloud::cloud_link& cloud() noexcept { return *cloud_; }
  mqtt::link& mqtt() noexcept { return *mqtt_; }
  spool::spool& spool() noexcept { return *spool_; }

  // "cloud: connected, mqtt: connected, 3 streams"
  std::string status_line() const;

 private:
  // Makes the links and a router configured with `maps` (config_ settings
  // with the resource and stream lists).
  void build_links(const config::gateway_config& maps);
  void apply(const config::gateway_config& next);
  void on_state_change();

  uv::loop& loop_;
  // The settings in use, without the resource and stream lists: the router
  // holds those (as bindings), and a copy here would be per-topic memory.
  config::gateway_config config_;
  logger& log_;
  std::string version_;
  notifier notifier_;
  iotmp::resource_registry registry_;
  // Outlives the router: a reload that rebuilds the links keeps what waits.
  std::unique_ptr<spool::spool> spool_;
  std::unique_ptr<spool::uv_driver> spool_driver_;
  std::unique_ptr<mqtt::link> mqtt_;
  std::unique_ptr<cloud::cloud_link> cloud_;
  std::unique_ptr<bridge::router> router_;
  std::vector<std::shared_ptr<uv::signal>> signals_;
  std::string last_status_;
  void finish_stop();

  bool stopped_ = false;
  bool finished_ = false;
};

}  // namespace iotgw::daemon
