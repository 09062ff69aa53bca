#include "iotmp_gateway/mqtt/link.hpp"

#include <syslog.h>

#include <malloc.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <unordered_map>

#include "iotmp_gateway/net/connector.hpp"
#include "iotmp_gateway/net/tls_context.hpp"
#include "iotmp_gateway/net/tls_stream.hpp"

namespace iotgw::mqtt {

namespace {

struct uri_parts {
  std::string host;
  std::uint16_t port = 1883;
};

// tcp://HOST[:PORT], ssl://HOST[:PORT], [v6]:PORT; the loader has checked the form.
uri_parts parse_uri(const std::string& uri) {
  uri_parts p;
  const auto scheme_end = uri.find("://");
  std::string_view rest(uri);
  if (scheme_end != std::string::npos) rest.remove_prefix(scheme_end + 3);
  if (uri.starts_with("ssl://")) p.port = 8883;
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    p.host = std::string(rest.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
    if (close != std::string_view::npos && close + 1 < rest.size() && rest[close + 1] == ':') {
      port_text = rest.substr(close + 2);
    }
  } else {
    const auto colon = rest.rfind(':');
    p.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
  }
  if (!port_text.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec == std::errc() && value > 0 && value <= 65535) p.port = static_cast<std::uint16_t>(value);
  }
  return p;
}

// Queued bytes past which publishes from the cloud are refused (the broker
// reads too slowly); the session's own count limit usually comes first.
constexpr net::write_limits broker_write_limits{1024 * 1024, 4 * 1024 * 1024, 64 * 1024 * 1024};

std::string seconds_text(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

session_options session_options_of(const link_config& c) {
  session_options o;
  o.client_id = c.client_id;
  o.username = c.username;
  o.password = c.password;
  o.keepalive = c.keepalive;
  o.connack_timeout = c.connect_timeout;
  o.max_pending_publishes = c.max_pending_publishes;
  if (!c.status_topic.empty()) o.will = will_message{c.status_topic, "offline", 1, true};
  return o;
}

}  // namespace

link::link(uv::loop& loop, link_config config, link_handlers handlers)
    : loop_(loop),
      config_(std::move(config)),
      handlers_(std::move(handlers)),
      session_(session_options_of(config_),
               session_handlers{
                   [this](bool) { on_open(); },
                   [this](std::string_view topic, std::string_view payload, bool retained) {
                     ++received_;
                     if (handlers_.on_message) handlers_.on_message(topic, payload, retained);
                   },
                   [this](std::string_view filter, std::string_view reason) {
                     say(LOG_ERR, "subscribe " + std::string(filter) + ": " + std::string(reason));
                   },
                   [this] { release_free_memory(); },
               }),
      backoff_(config_.reconnect_min, config_.reconnect_max),
      retry_timer_(uv::timer::create(loop)),
      tick_timer_(uv::timer::create(loop)),
      flush_timer_(uv::timer::create(loop)),
      stop_timer_(uv::timer::create(loop)) {
  const auto endpoint = parse_uri(config_.uri);
  host_ = endpoint.host;
  port_ = endpoint.port;
  if (config_.uri.starts_with("ssl://")) {
    net::tls_client_options tls;
    tls.ca_file = config_.ca_file;
    tls.cert_file = config_.cert_file;
    tls.key_file = config_.key_file;
    tls_ = net::tls_context::client(tls);
  }
}

link::~link() {
  stop();
  retry_timer_->close();
  tick_timer_->close();
  flush_timer_->close();
  stop_timer_->close();
}

void link::say(int priority, std::string_view text) const {
  if (handlers_.log) handlers_.log(priority, text);
}

void link::start() {
  if (running_) return;
  running_ = true;
  offline_sent_ = false;
  connect_now();
}

void link::connect_now() {
  if (!running_) return;
  state_ = bridge::link_state::connecting;
  net::connect_options options;
  options.host = host_;
  options.port = port_;
  options.timeout = config_.connect_timeout;
  options.limits = broker_write_limits;
  connecting_ = net::connector::connect(
      loop_, options, [this](net::status st, std::shared_ptr<net::tcp_stream> tcp) {
        connecting_.reset();
        if (!st.ok()) {
          retry_later(st.message);
          return;
        }
        if (!tls_) {
          on_transport(std::move(tcp));
          return;
        }
        std::shared_ptr<net::tls_stream> tls;
        try {
          tls = net::tls_stream::client(tls_, tcp, host_, broker_write_limits);
        } catch (const std::exception& e) {
          tcp->close();
          retry_later(std::string("TLS: ") + e.what());
          return;
        }
        auto* raw = tls.get();
        // Until the handshake is done a close is a TLS failure (verify errors and all).
        tls->on_close([this](const net::status& reason) {
          stream_.reset();
          tick_timer_->stop();
          retry_later(reason.message);
        });
        tls->on_handshake([this, raw] { on_transport(raw->shared_from_this()); });
        stream_ = std::move(tls);
        // The connector's deadline ends with TCP; a broker that accepts and
        // never finishes the handshake is caught by the tick.
        handshake_deadline_ = clock::now() + config_.connect_timeout;
        tick_timer_->start(std::chrono::milliseconds(200), std::chrono::milliseconds(200), [this] {
          if (stream_ && clock::now() >= handshake_deadline_) {
            std::exchange(stream_, nullptr)->close();
            tick_timer_->stop();
            retry_later("TLS handshake not finished within " + seconds_text(config_.connect_timeout));
          }
        });
      });
}

void link::retry_later(std::string_view reason) {
  if (!running_) return;
  state_ = bridge::link_state::connecting;
  const auto delay = backoff_.next();
  say(LOG_WARNING, "local broker " + config_.uri + ": connect failed (" + std::string(reason) +
                       "), retrying in " + seconds_text(delay));
  retry_timer_->start(delay, [this] { connect_now(); });
}

void link::on_transport(std::shared_ptr<net::stream> stream) {
  stream_ = std::move(stream);
  stream_->on_data([this](byte_view data) {
    const auto error = session_.on_data(data, clock::now());
    if (!error.empty()) {
      drop(error);
      return;
    }
    // The acknowledgements go at the end of the loop turn, with those of the
    // other reads of this turn in one write: after the IOTMP frames these
    // messages became (the cloud link's flush was scheduled first), so the
    // acks do not delay forwarding.
    if (session_.has_output()) schedule_flush();
  });
  stream_->on_close([this](const net::status& reason) {
    stream_.reset();
    drop(reason.message);
  });
  session_.begin(clock::now());
  if (!flush()) return;
  // Keep-alive needs a resolution well under its period; the CONNACK deadline
  // and a dead broker are found within a quarter of it.
  const auto period = std::clamp<std::chrono::milliseconds>(
      std::chrono::duration_cast<std::chrono::milliseconds>(session_.keepalive()) / 4,
      std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
  tick_timer_->start(period, period, [this] { on_tick(); });
}

void link::on_tick() {
  const auto error = session_.on_timer(clock::now());
  if (!error.empty()) {
    drop(error);
    return;
  }
  flush();
}

void link::on_open() {
  state_ = bridge::link_state::connected;
  backoff_.reset();
  say(LOG_INFO, std::string("local broker ") + config_.uri + (ever_connected_ ? ": reconnected" : ": connected"));
  ever_connected_ = true;
  subscribe(held_filters());
  if (!config_.status_topic.empty()) {
    session_.publish(config_.status_topic, "online", 1, true, [](bool, std::string_view) {});
  }
  schedule_flush();
  if (handlers_.on_connected) handlers_.on_connected();
}

void link::drop(std::string_view reason) {
  const bool was_connected = state_ == bridge::link_state::connected;
  if (stream_) std::exchange(stream_, nullptr)->close();
  tick_timer_->stop();
  session_.on_closed();
  if (!running_) {
    state_ = bridge::link_state::disconnected;
    // The broker went away while we waited for its answer to "offline".
    if (stopped_) finish_graceful_stop();
    return;
  }
  if (!was_connected) {
    // Refused by the broker (bad credentials, ...) or gone before CONNACK.
    retry_later(reason);
    return;
  }
  state_ = bridge::link_state::connecting;
  say(LOG_WARNING, "local broker " + config_.uri + ": " + std::string(reason) + "; reconnecting");
  if (handlers_.on_connection_lost) handlers_.on_connection_lost(reason);
  // A broker that restarts is back within a second or two: the first retry is soon.
  retry_timer_->start(backoff_.next(), [this] { connect_now(); });
}

bool link::flush() {
  if (!stream_ || !session_.has_output()) return true;
  auto bytes = session_.take_output(clock::now());
  const auto st = stream_->write(std::move(bytes));
  session_.output_written(st.ok());
  if (!st.ok()) {
    drop("write failed: " + st.message);
    return false;
  }
  return true;
}

void link::schedule_flush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  flush_timer_->start(std::chrono::milliseconds(0), [this] {
    flush_scheduled_ = false;
    flush();
  });
}

void link::set_subscriptions(std::vector<bridge::subscription> subs) {
  if (state_ == bridge::link_state::connected) {
    // Only the difference goes to the broker: a changed QoS subscribes again.
    std::unordered_map<std::string_view, unsigned> wanted;
    for (const auto& s : subs) wanted.emplace(s.filter, s.qos);
    auto held = held_filters();
    std::unordered_map<std::string_view, unsigned> had;
    std::vector<std::string> removed;
    for (const auto& h : held) {
      had.emplace(h.filter, h.qos);
      if (!wanted.contains(h.filter)) removed.push_back(h.filter);
    }
    session_.unsubscribe(removed);
    std::vector<filter_request> added;
    for (const auto& s : subs) {
      const auto it = had.find(s.filter);
      if (it == had.end() || it->second != s.qos) added.push_back({s.filter, s.qos});
    }
    subscribe(std::move(added));
    schedule_flush();
  }
  subscriptions_.clear();
  for (const auto& s : subs) {
    // MQTT strings are at most 65535 bytes; the loader checks topic filters.
    const auto n = std::min<std::size_t>(s.filter.size(), 0xFFFF);
    subscriptions_.push_back(static_cast<char>(n >> 8));
    subscriptions_.push_back(static_cast<char>(n & 0xFF));
    subscriptions_.push_back(static_cast<char>(s.qos));
    subscriptions_.append(s.filter, 0, n);
  }
  subscriptions_.shrink_to_fit();  // kept for every reconnect: no spare capacity
}

std::vector<filter_request> link::held_filters() const {
  std::vector<filter_request> out;
  for (std::size_t i = 0; i + 3 <= subscriptions_.size();) {
    const auto n = (static_cast<std::size_t>(static_cast<unsigned char>(subscriptions_[i])) << 8) |
                   static_cast<unsigned char>(subscriptions_[i + 1]);
    const auto qos = static_cast<unsigned char>(subscriptions_[i + 2]);
    out.push_back({subscriptions_.substr(i + 3, n), qos});
    i += 3 + n;
  }
  return out;
}

void link::subscribe(std::vector<filter_request> filters) {
  // Many filters per SUBSCRIBE (the session splits them into packets), each
  // with No Local: what the gateway publishes never comes back to it.
  session_.subscribe(filters);
}

void link::release_free_memory() {
  // Start-up and every resubscription are bursts (the configuration's YAML
  // tree, the filter lists), all freed by now. glibc keeps freed pages resident
  // until asked; once per burst is cheap, per message it would not be.
#ifdef __GLIBC__
  ::malloc_trim(0);
#endif
}

void link::publish(std::string topic, std::string payload, unsigned qos, bool retain, publish_done done) {
  if (state_ != bridge::link_state::connected) {
    done(false, "not connected to the local broker");
    return;
  }
  if (stream_ && !stream_->writable()) {
    // The broker reads slower than the cloud writes: push back instead of queueing.
    done(false, "local publish queue full");
    return;
  }
  session_.publish(std::move(topic), std::move(payload), qos, retain, std::move(done));
  schedule_flush();
}

void link::stop_gracefully(std::chrono::milliseconds timeout, std::function<void()> done) {
  if (!running_ || state_ != bridge::link_state::connected || config_.status_topic.empty() || stopped_) {
    stop();
    done();
    return;
  }
  // No reconnect from here on; messages still flow both ways meanwhile.
  running_ = false;
  retry_timer_->stop();
  stopped_ = std::move(done);
  offline_sent_ = true;
  session_.publish(config_.status_topic, "offline", 1, true,
                   [this](bool, std::string_view) { finish_graceful_stop(); });
  schedule_flush();
  stop_timer_->start(timeout, [this] { finish_graceful_stop(); });
}

void link::finish_graceful_stop() {
  if (stopped_) stop();  // calls stopped_
}

void link::stop() {
  if (!running_ && !stopped_ && state_ == bridge::link_state::disconnected) return;
  // Taken first: the answers to what is abandoned below come back through
  // finish_graceful_stop(), which then has nothing left to do.
  auto graceful_done = std::exchange(stopped_, nullptr);
  running_ = false;
  retry_timer_->stop();
  tick_timer_->stop();
  flush_timer_->stop();
  flush_scheduled_ = false;
  if (connecting_) {
    connecting_->cancel();
    connecting_.reset();
  }
  if (stream_ && session_.current_state() == session::state::open) {
    if (!config_.status_topic.empty() && !offline_sent_) {
      session_.publish(config_.status_topic, "offline", 1, true, [](bool, std::string_view) {});
    }
    // The broker handles packets in order: "offline" is stored before the
    // DISCONNECT, which also tells it not to publish the will.
    session_.disconnect();
    flush();  // libuv hands the bytes to the socket at once when nothing else is queued
  }
  if (stream_) std::exchange(stream_, nullptr)->close();
  session_.on_closed();
  session_.abandon("the gateway is stopping");
  state_ = bridge::link_state::disconnected;
  stop_timer_->stop();
  // stop() during stop_gracefully(): that one is over too.
  if (graceful_done) graceful_done();
}

}  // namespace iotgw::mqtt
