#include "iotmp_gateway/daemon/gateway.hpp"

#include <syslog.h>

#include <csignal>

#include "iotmp_gateway/config/loader.hpp"

namespace iotgw::daemon {

namespace {

mqtt::link_config mqtt_config_of(const config::gateway_config& c) {
  mqtt::link_config m;
  m.uri = c.mqtt.uri;
  m.client_id = c.mqtt.client_id;
  m.username = c.mqtt.username;
  m.password = c.mqtt.password;
  m.ca_file = c.mqtt.tls.ca_file;
  m.cert_file = c.mqtt.tls.cert_file;
  m.key_file = c.mqtt.tls.key_file;
  m.status_topic = c.mqtt.status_topic;
  m.keepalive = c.mqtt.keepalive;
  return m;
}

cloud::link_config cloud_config_of(const config::gateway_config& c) {
  cloud::link_config l;
  l.host = c.cloud.host;
  l.port = c.cloud.port;
  l.tls = c.cloud.tls;
  l.ca_file = c.cloud.ca_file;
  l.insecure_skip_verify = c.cloud.insecure_skip_verify;
  l.reconnect_min = c.cloud.reconnect_min;
  l.reconnect_max = c.cloud.reconnect_max;
  return l;
}

iotmp::session_config session_config_of(const config::gateway_config& c) {
  iotmp::session_config s;
  s.username = c.cloud.username;
  s.device = c.cloud.device;
  s.credential = c.cloud.credential;
  s.keepalive = c.cloud.keepalive;
  return s;
}

int max_priority_of(config::log_level level) { return static_cast<int>(level); }

spool::options spool_options_of(const config::gateway_config& c) {
  spool::options o;
  o.dir = c.spool.dir;
  o.max_bytes = c.spool.max_bytes;
  o.max_age = c.spool.max_age;
  o.sync_interval = c.spool.sync_interval;
  return o;
}

// A configuration without its resource and stream lists.
config::gateway_config settings_of(config::gateway_config c) {
  // Assigning {} would keep the capacity (initializer-list assignment).
  std::vector<config::resource_config>().swap(c.resources);
  std::vector<config::stream_config>().swap(c.streams);
  return c;
}

}  // namespace

gateway::gateway(uv::loop& loop, config::gateway_config config, logger& log, std::string version)
    : loop_(loop),
      config_(std::move(config)),
      log_(log),
      version_(std::move(version)),
      notifier_(loop) {
  spool_ = std::make_unique<spool::spool>(spool_options_of(config_), log_.sink());
  spool_driver_ = std::make_unique<spool::uv_driver>(loop_, *spool_);
  build_links(config_);
  config_ = settings_of(std::move(config_));
}

gateway::~gateway() {
  stop();
  finish_stop();
  for (auto& s : signals_) s->close();
  // Left to the implicit member order, the router would die first and the cloud
  // link's destructor (stop()) would then call into it (its downstream) and into
  // on_state_change(), which reads router_: a use after free at every exit.
  cloud_->set_downstream(nullptr);
  router_.reset();
  cloud_.reset();
  mqtt_.reset();
  spool_driver_.reset();  // flushes and syncs what is left
  spool_.reset();
}

void gateway::build_links(const config::gateway_config& maps) {
  mqtt::link_handlers mh;
  mh.on_message = [this](std::string_view topic, std::string_view payload, bool retained) {
    if (router_) router_->on_local_message(topic, payload, retained);
  };
  mh.on_connected = [this] { on_state_change(); };
  mh.on_connection_lost = [this](std::string_view) { on_state_change(); };
  mh.log = log_.sink();
  mqtt_ = std::make_unique<mqtt::link>(loop_, mqtt_config_of(config_), std::move(mh));

  cloud::link_handlers ch;
  ch.log = log_.sink();
  ch.on_state_change = [this] { on_state_change(); };
  ch.on_writable = [this] {
    if (router_) router_->on_writable();
  };
  cloud_ = std::make_unique<cloud::cloud_link>(loop_, cloud_config_of(config_),
                                               session_config_of(config_), registry_, std::move(ch));
  router_ = std::make_unique<bridge::router>(cloud_->session(), registry_, *mqtt_, version_);
  router_->use_spool(*spool_);
  cloud_->set_downstream(router_.get());
  router_->configure(maps);
  mqtt_->set_subscriptions(router_->subscriptions());
}

void gateway::start() {
  const auto watch = [this](int signum, std::function<void()> action) {
    auto s = uv::signal::create(loop_);
    s->start(signum, [action = std::move(action)](int) { action(); });
    signals_.push_back(std::move(s));
  };
  watch(SIGTERM, [this] { stop(); });
  watch(SIGINT, [this] { stop(); });
  watch(SIGHUP, [this] { reload(); });
  log_.log(LOG_INFO, "iotmp-gateway " + version_ + " starting: " + std::to_string(router_->resource_count()) +
                         " resources, " + std::to_string(router_->stream_count()) + " streams, cloud " +
                         config_.cloud.host + ":" + std::to_string(config_.cloud.port) +
                         (config_.cloud.tls ? " (TLS)" : " (plain TCP)") + ", broker " + config_.mqtt.uri);
  mqtt_->start();
  cloud_->start();
  // Ready once configured and both clients started, not once the cloud answered.
  notifier_.ready();
  notifier_.start_watchdog();
  on_state_change();
}

void gateway::stop() {
  if (stopped_) return;
  stopped_ = true;
  notifier_.stopping();
  log_.log(LOG_INFO, "stopping");
  // Retained "offline", acknowledged by the broker before we go on (at most
  // 2 s): then it is stored whatever happens to the socket after exit.
  mqtt_->stop_gracefully(std::chrono::milliseconds(2000), [this] { finish_stop(); });
}

void gateway::finish_stop() {
  if (finished_) return;
  finished_ = true;
  mqtt_->stop();   // already done, unless the loop stopped while waiting
  cloud_->stop();  // what was produced goes out, then the socket closes
  // SIGTERM while the cloud is down: everything spooled is on disk for the next start.
  spool_->flush_and_sync();
  for (auto& s : signals_) s->close();
  signals_.clear();
  loop_.stop();
}

void gateway::reload() {
  notifier_.reloading();
  log_.log(LOG_INFO, "reloading " + config_.path);
  auto result = config::load_file(config_.path);
  if (!result.ok()) {
    for (const auto& d : result.diagnostics) log_.log(LOG_ERR, config::to_string(d));
    log_.log(LOG_ERR, "reload failed; still running on the previous configuration");
    notifier_.ready();
    return;
  }
  apply(*result.config);
  notifier_.ready();
}

void gateway::apply(const config::gateway_config& next) {
  auto settings = settings_of(next);
  if (settings == config_ && router_->configured_as(next)) {
    log_.log(LOG_INFO, "reload: configuration unchanged");
    return;
  }
  const bool links_changed = next.cloud != config_.cloud || next.mqtt != config_.mqtt;
  log_.set_max_priority(max_priority_of(next.log));
  if (next.spool != config_.spool) {
    // The limits apply at once; the files stay where they are until a restart.
    spool_->set_limits(next.spool.max_bytes, next.spool.max_age);
    if (next.spool.dir != config_.spool.dir || next.spool.sync_interval != config_.spool.sync_interval) {
      log_.log(LOG_WARNING, "reload: spool.dir and spool.sync_interval take effect at the next start");
    }
  }
  if (links_changed) {
    // The sessions' own settings changed: rebuild them (both reconnect).
    log_.log(LOG_INFO, "reload: connection settings changed, reconnecting");
    mqtt_->stop();
    cloud_->stop();
    cloud_->set_downstream(nullptr);
    router_.reset();
    cloud_.reset();
    mqtt_.reset();
    config_ = std::move(settings);
    build_links(next);
    mqtt_->start();
    cloud_->start();
  } else {
    // Same sessions: only the maps change (cached values and held data stay).
    config_ = std::move(settings);
    router_->reconfigure(next);
    mqtt_->set_subscriptions(router_->subscriptions());
  }
  log_.log(LOG_INFO, "reload: " + std::to_string(next.resources.size()) + " resources, " +
                         std::to_string(next.streams.size()) + " streams");
  on_state_change();
}

std::string gateway::status_line() const {
  return "cloud: " + std::string(iotmp::to_string(cloud_->session().state())) +
         ", mqtt: " + std::string(bridge::to_string(mqtt_->state())) + ", " +
         std::to_string(cloud_->session().server_stream_count()) + " streams";
}

void gateway::on_state_change() {
  if (!cloud_ || !mqtt_ || !router_) return;
  router_->stats().reconnects = cloud_->reconnects();
  const auto line = status_line();
  if (line == last_status_) return;
  last_status_ = line;
  notifier_.status(line);
  log_.log(LOG_DEBUG, line);
}

}  // namespace iotgw::daemon
