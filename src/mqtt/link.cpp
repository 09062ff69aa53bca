#include "iotmp_gateway/mqtt/link.hpp"

#include <syslog.h>

#include <malloc.h>

#include <algorithm>
#include <mqtt/async_client.h>
#include <mutex>

namespace iotgw::mqtt {

namespace {

// Paho calls an action listener on its own thread; this one posts the outcome
// to the loop and deletes itself (each operation gets its own listener).
class posted_listener final : public ::mqtt::iaction_listener {
 public:
  using outcome = std::function<void(bool ok, std::string error)>;
  posted_listener(mailbox& box, outcome done) : box_(box), done_(std::move(done)) {}

  void on_success(const ::mqtt::token&) override { finish(true, {}); }
  void on_failure(const ::mqtt::token& tok) override {
    std::string reason;
    try {
      // The C library's text for the code ("TCP/TLS connect failure", ...).
      reason = ::mqtt::exception::error_str(tok.get_return_code());
      if (tok.get_reason_code() != ::mqtt::ReasonCode::SUCCESS) {
        reason += " (" + ::mqtt::exception::reason_code_str(tok.get_reason_code()) + ")";
      }
    } catch (...) {
      reason = "unknown error";
    }
    finish(false, std::move(reason));
  }

 private:
  void finish(bool ok, std::string reason) noexcept {
    try {
      box_.post([done = std::move(done_), ok, reason = std::move(reason)] { done(ok, reason); });
    } catch (...) {
      // Out of memory while posting: nothing sensible is left to do on this thread.
    }
    delete this;
  }
  mailbox& box_;
  outcome done_;
};

struct uri_parts {
  std::string host;
  int port = 1883;
};

uri_parts parse_uri(const std::string& uri) {
  uri_parts p;
  auto rest = uri.substr(uri.find("://") == std::string::npos ? 0 : uri.find("://") + 3);
  if (!rest.empty() && rest.front() == '[') {  // [::1]:1883
    const auto close = rest.find(']');
    p.host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest.front() == ':') p.port = std::atoi(rest.c_str() + 1);
    return p;
  }
  const auto colon = rest.rfind(':');
  p.host = rest.substr(0, colon);
  if (colon != std::string::npos) p.port = std::atoi(rest.c_str() + colon + 1);
  if (uri.starts_with("ssl://") && colon == std::string::npos) p.port = 8883;
  return p;
}

}  // namespace

// Paho C++ 1.2 completes the connect token twice (from the C library's
// onSuccess and again from its connected callback), so this listener lives as
// long as the link instead of deleting itself; on_connected() is idempotent.
class link::connect_listener final : public ::mqtt::iaction_listener {
 public:
  explicit connect_listener(link& owner) : owner_(owner) {}
  void on_success(const ::mqtt::token&) override {
    try {
      owner_.mailbox_.post([this] { owner_.on_connected(false); });
    } catch (...) {
    }
  }
  void on_failure(const ::mqtt::token& tok) override {
    try {
      std::string reason = ::mqtt::exception::error_str(tok.get_return_code());
      owner_.mailbox_.post([this, reason] { owner_.on_connect_failed(reason); });
    } catch (...) {
    }
  }

 private:
  link& owner_;
};

link::link(uv::loop& loop, link_config config, link_handlers handlers)
    : loop_(loop),
      config_(std::move(config)),
      handlers_(std::move(handlers)),
      mailbox_(loop),
      connect_listener_holder_(std::make_unique<connect_listener>(*this)),
      connect_listener_(*connect_listener_holder_),
      retry_timer_(uv::timer::create(loop)),
      retry_delay_(config_.reconnect_min) {
  ::mqtt::create_options opts(MQTTVERSION_5, config_.max_buffered_messages);
  client_ = std::make_unique<::mqtt::async_client>(config_.uri, config_.client_id, opts);
  // Paho threads: copy and post, nothing else. The closures own what they carry.
  // Messages wait in the inbox; only the first of a batch posts a job, which
  // delivers everything queued by the time it runs. A closure per message cost
  // a heap allocation and a deque slot each on the hottest path.
  client_->set_message_callback([this](::mqtt::const_message_ptr msg) {
    try {
      bool first = false;
      {
        std::lock_guard lock(inbox_mutex_);
        first = inbox_.empty();
        inbox_.push_back(std::move(msg));
      }
      if (first) mailbox_.post([this] { deliver_inbox(); });
    } catch (...) {
    }
  });
  client_->set_connected_handler([this](const std::string&) {
    try {
      mailbox_.post([this] { on_connected(true); });
    } catch (...) {
    }
  });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    try {
      mailbox_.post([this, cause] { on_lost(cause.empty() ? "connection lost" : cause); });
    } catch (...) {
    }
  });
}

link::~link() {
  // Callbacks first, so nothing posts into a mailbox that is going away.
  if (client_) client_->disable_callbacks();
  mailbox_.close();
  if (retry_timer_) retry_timer_->close();
}

void link::deliver_inbox() {
  {
    std::lock_guard lock(inbox_mutex_);
    batch_.swap(inbox_);
  }
  for (const auto& msg : batch_) {
    ++received_;
    const auto& payload = msg->get_payload_ref();
    if (handlers_.on_message) {
      handlers_.on_message(msg->get_topic(), std::string_view(payload.data(), payload.size()),
                           msg->is_retained());
    }
  }
  // Cleared here, not swapped back full: the vectors keep their capacity.
  batch_.clear();
}

void link::say(int priority, std::string_view text) const {
  if (handlers_.log) handlers_.log(priority, text);
}

void link::start() {
  stopping_ = false;
  connect_now();
}

void link::connect_now() {
  if (stopping_) return;
  state_ = bridge::link_state::connecting;
  ::mqtt::connect_options opts;
  opts.set_mqtt_version(MQTTVERSION_5);
  opts.set_clean_session(false);
  opts.set_clean_start(true);
  opts.set_keep_alive_interval(config_.keepalive);
  opts.set_connect_timeout(std::chrono::seconds(10));
  opts.set_automatic_reconnect(config_.reconnect_min, config_.reconnect_max);
  if (!config_.username.empty()) opts.set_user_name(config_.username);
  if (!config_.password.empty()) opts.set_password(config_.password);
  if (!config_.status_topic.empty()) {
    opts.set_will_message(::mqtt::make_message(config_.status_topic, "offline", 1, true));
  }
  if (config_.uri.starts_with("ssl://")) {
    ::mqtt::ssl_options ssl;
    if (!config_.ca_file.empty()) ssl.set_trust_store(config_.ca_file);
    if (!config_.cert_file.empty()) ssl.set_key_store(config_.cert_file);
    if (!config_.key_file.empty()) ssl.set_private_key(config_.key_file);
    ssl.set_enable_server_cert_auth(true);
    ssl.set_verify(true);
    opts.set_ssl(std::move(ssl));
  }
  try {
    client_->connect(opts, nullptr, connect_listener_);
  } catch (const std::exception& e) {
    on_connect_failed(e.what());
  }
}

void link::on_connect_failed(std::string reason) {
  if (stopping_) return;
  state_ = bridge::link_state::connecting;
  say(LOG_WARNING, "local broker " + config_.uri + ": connect failed (" + reason + "), retrying in " +
                       std::to_string(retry_delay_.count()) + " s");
  // Paho reconnects by itself only after a first successful connect.
  retry_timer_->start(retry_delay_, [this] { connect_now(); });
  retry_delay_ = std::min(retry_delay_ * 2, config_.reconnect_max);
}

void link::on_connected(bool reconnect) {
  if (stopping_) return;
  // Paho calls the connected handler for the first connect too: handle it once.
  if (state_ == bridge::link_state::connected) return;
  state_ = bridge::link_state::connected;
  retry_delay_ = config_.reconnect_min;
  const auto endpoint = parse_uri(config_.uri);
  set_nodelay_on_sockets_to(endpoint.host, endpoint.port);
  say(LOG_INFO, std::string("local broker ") + config_.uri + (reconnect ? ": reconnected" : ": connected"));
  subscribe(subscriptions_);
  if (!config_.status_topic.empty()) {
    publish(config_.status_topic, "online", 1, true, [](bool, std::string_view) {});
  }
  if (handlers_.on_connected) handlers_.on_connected();
}

void link::on_lost(std::string reason) {
  if (stopping_) return;
  state_ = bridge::link_state::connecting;  // Paho is reconnecting
  say(LOG_WARNING, "local broker " + config_.uri + ": " + reason + "; reconnecting");
  if (handlers_.on_connection_lost) handlers_.on_connection_lost(reason);
}

void link::set_subscriptions(std::vector<bridge::subscription> subs) {
  if (state_ == bridge::link_state::connected) {
    for (const auto& old : subscriptions_) {
      const bool kept = std::any_of(subs.begin(), subs.end(),
                                    [&](const auto& s) { return s.filter == old.filter; });
      if (!kept) {
        try {
          client_->unsubscribe(old.filter);
        } catch (const std::exception& e) {
          say(LOG_WARNING, "unsubscribe " + old.filter + ": " + e.what());
        }
      }
    }
    std::vector<bridge::subscription> added;
    for (const auto& s : subs) {
      if (std::find(subscriptions_.begin(), subscriptions_.end(), s) == subscriptions_.end()) {
        added.push_back(s);
      }
    }
    subscribe(added);
  }
  subscriptions_ = std::move(subs);
}

void link::subscribe(const std::vector<bridge::subscription>& subs) {
  // One SUBSCRIBE per filter. Several filters in one packet would save round
  // trips with thousands of topics, but Debian 12's Paho C++ 1.2.0 with Paho C
  // 1.3.11 crashes in MQTTAsync_subscribeMany as soon as per-filter MQTT 5
  // options (No Local, needed here) are given: the options list arrives null.
  for (const auto& s : subs) {
    // No Local (MQTT 5): the broker does not send back what we publish
    // ourselves, so a value written by the cloud never travels back up.
    const ::mqtt::subscribe_options opts(true);
    auto* listener = new posted_listener(mailbox_, [this, filter = s.filter](bool ok, std::string reason) {
      if (!ok) say(LOG_ERR, "subscribe " + filter + ": " + reason);
      if (--pending_subscribes_ == 0) release_free_memory();
    });
    try {
      client_->subscribe(s.filter, static_cast<int>(s.qos), nullptr, *listener, opts);
      ++pending_subscribes_;
    } catch (const std::exception& e) {
      delete listener;
      say(LOG_ERR, "subscribe " + s.filter + ": " + e.what());
    }
  }
}

void link::release_free_memory() {
  // Start-up and every resubscription are bursts: the configuration's YAML
  // tree, and a Paho token and command per filter, all freed by now. glibc
  // keeps freed pages resident (measured: 12 MiB of 42 at 10k topics) until
  // asked; once per burst is cheap, per message it would not be.
#ifdef __GLIBC__
  ::malloc_trim(0);
#endif
}

void link::publish(std::string topic, std::string payload, unsigned qos, bool retain,
                   publish_done done) {
  if (state_ != bridge::link_state::connected) {
    done(false, "not connected to the local broker");
    return;
  }
  auto msg = ::mqtt::make_message(std::move(topic), std::move(payload), static_cast<int>(qos), retain);
  auto* listener = new posted_listener(mailbox_, [this, done](bool ok, std::string reason) {
    if (ok) ++published_;
    done(ok, reason);
  });
  try {
    client_->publish(msg, nullptr, *listener);
  } catch (const ::mqtt::exception& e) {
    delete listener;
    // Paho's buffer is full (-12): backpressure, not a crash.
    done(false, e.get_return_code() == MQTTASYNC_MAX_BUFFERED_MESSAGES
                    ? "local publish queue full"
                    : std::string("publish failed: ") + e.what());
  } catch (const std::exception& e) {
    delete listener;
    done(false, std::string("publish failed: ") + e.what());
  }
}

void link::stop(std::chrono::milliseconds timeout) {
  if (stopping_) return;
  stopping_ = true;
  retry_timer_->stop();
  if (state_ != bridge::link_state::connected) {
    state_ = bridge::link_state::disconnected;
    try {
      client_->disconnect(0)->wait_for(timeout);
    } catch (...) {
    }
    return;
  }
  // Shutdown only: waiting on the loop thread is fine, nothing else runs anymore.
  try {
    if (!config_.status_topic.empty()) {
      client_->publish(::mqtt::make_message(config_.status_topic, "offline", 1, true))
          ->wait_for(timeout);
    }
    // Short quiesce: Paho otherwise waits out the whole interval for in-flight work.
    client_->disconnect(static_cast<int>(std::min<std::int64_t>(timeout.count(), 200)))
        ->wait_for(timeout);
  } catch (const std::exception& e) {
    say(LOG_WARNING, std::string("local broker disconnect: ") + e.what());
  }
  state_ = bridge::link_state::disconnected;
}

}  // namespace iotgw::mqtt
