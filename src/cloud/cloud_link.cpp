#include "iotmp_gateway/cloud/cloud_link.hpp"

#include <syslog.h>

#include <utility>

#include "iotmp_gateway/net/connector.hpp"
#include "iotmp_gateway/net/tls_stream.hpp"

namespace iotgw::cloud {

cloud_link::cloud_link(uv::loop& loop, link_config config, iotmp::session_config session,
                       iotmp::resource_registry& resources, link_handlers handlers,
                       iotmp::session_observer* downstream)
    : loop_(loop),
      config_(std::move(config)),
      handlers_(std::move(handlers)),
      downstream_(downstream),
      session_(std::move(session), resources, *this),
      backoff_(config_.reconnect_min, config_.reconnect_max),
      session_timer_(uv::timer::create(loop)),
      reconnect_timer_(uv::timer::create(loop)),
      flush_timer_(uv::timer::create(loop)),
      handshake_timer_(uv::timer::create(loop)) {
  if (config_.tls) {
    net::tls_client_options tls;
    tls.ca_file = config_.ca_file;
    tls.insecure_skip_verify = config_.insecure_skip_verify;
    tls_ = net::tls_context::client(tls);
  }
  // Whatever produces frames (a RUN answer, the router, a timer) asks for one
  // write at the end of this loop turn: frames of a batch share one uv_write.
  session_.on_output([this] {
    if (flush_scheduled_) return;
    flush_scheduled_ = true;
    flush_timer_->start(std::chrono::milliseconds(0), [this] {
      flush_scheduled_ = false;
      pump();
    });
  });
}

cloud_link::~cloud_link() {
  stop();
  session_timer_->close();
  reconnect_timer_->close();
  flush_timer_->close();
  handshake_timer_->close();
}

void cloud_link::say(int priority, std::string_view text) const {
  if (handlers_.log) handlers_.log(priority, text);
}

std::string cloud_link::endpoint() const {
  return config_.host + ":" + std::to_string(config_.port);
}

void cloud_link::start() {
  if (running_) return;
  running_ = true;
  connect_now();
}

void cloud_link::stop() {
  running_ = false;
  reconnect_timer_->stop();
  session_timer_->stop();
  handshake_timer_->stop();
  if (connecting_) {
    connecting_->cancel();
    connecting_.reset();
  }
  if (stream_) {
    pump();  // what is already produced still goes out, best effort
    stream_->close();
    stream_.reset();
  }
  session_.on_closed();
  if (handlers_.on_state_change) handlers_.on_state_change();
}

void cloud_link::connect_now() {
  if (!running_) return;
  ++attempts_;
  if (tls_ && config_.insecure_skip_verify) {
    say(LOG_WARNING, "cloud " + endpoint() +
                         ": insecure_skip_verify is set, the server's certificate is NOT checked");
  }
  net::connect_options options;
  options.host = config_.host;
  options.port = config_.port;
  options.timeout = config_.connect_timeout;
  options.keepalive = true;
  options.limits = config_.limits;
  connecting_ = net::connector::connect(
      loop_, options, [this](net::status st, std::shared_ptr<net::tcp_stream> tcp) {
        connecting_.reset();
        if (!st.ok()) {
          say(LOG_WARNING, "cloud " + st.message);
          schedule_reconnect();
          return;
        }
        if (!tls_) {
          on_transport(std::move(tcp));
          return;
        }
        std::shared_ptr<net::tls_stream> tls;
        try {
          tls = net::tls_stream::client(tls_, tcp, config_.host, config_.limits);
        } catch (const std::exception& e) {
          say(LOG_ERR, std::string("cloud TLS: ") + e.what());
          tcp->close();
          schedule_reconnect();
          return;
        }
        auto* raw = tls.get();
        // Until the handshake is done, a close is a TLS failure (verify errors and all).
        tls->on_close([this](const net::status& reason) {
          handshake_timer_->stop();
          stream_.reset();
          session_.on_closed();
          say(LOG_WARNING, "cloud " + reason.message);
          schedule_reconnect();
        });
        tls->on_handshake([this, raw] {
          handshake_timer_->stop();
          on_transport(raw->shared_from_this());
        });
        stream_ = tls;
        // The connector's timeout ends with TCP: a server that accepts and never
        // answers the handshake would otherwise hold the link forever.
        handshake_timer_->start(config_.connect_timeout, [this] {
          if (stream_) std::exchange(stream_, nullptr)->close();
          say(LOG_WARNING, "cloud " + endpoint() + ": TLS handshake not finished within " +
                               std::to_string(config_.connect_timeout.count()) + " ms");
          schedule_reconnect();
        });
      });
  if (handlers_.on_state_change) handlers_.on_state_change();
}

void cloud_link::on_transport(std::shared_ptr<net::stream> stream) {
  stream_ = std::move(stream);
  stream_->on_data([this](byte_view data) {
    session_.on_data(data, iotmp::clock::now());
    pump();
  });
  stream_->on_close([this](const net::status& reason) {
    stream_.reset();
    drop("connection closed: " + reason.message, LOG_WARNING);
  });
  stream_->on_writable_changed([this](bool writable) {
    session_.set_writable(writable);
    if (writable && handlers_.on_writable) handlers_.on_writable();
  });
  session_.set_writable(true);
  say(LOG_INFO, "cloud " + endpoint() + ": connected, authenticating");
  session_.on_connected(iotmp::clock::now());
  pump();
  if (handlers_.on_state_change) handlers_.on_state_change();
}

void cloud_link::pump() {
  if (stream_ && !session_.output().empty()) {
    byte_buffer frames;
    frames.swap(session_.output());
    const auto st = stream_->write(std::move(frames));
    if (!st.ok()) {
      // Only control frames can reach the hard limit (stream data stops at the
      // high-water mark): a peer this far behind is as good as dead.
      drop("write failed: " + st.message, LOG_WARNING);
      return;
    }
    // Producers stopped on a full batch, not on the socket: now that the batch
    // is written, they may go on (the next batch goes out at the end of the turn).
    if (session_.take_output_full() && running_ && session_.writable() && handlers_.on_writable) {
      handlers_.on_writable();
    }
  }
  session_timer_->stop();
  if (const auto deadline = session_.next_deadline()) {
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - iotmp::clock::now());
    session_timer_->start(std::max(wait, std::chrono::milliseconds(0)) + std::chrono::milliseconds(1),
                          [this] {
                            session_.on_timer(iotmp::clock::now());
                            pump();
                          });
  }
}

void cloud_link::drop(std::string_view reason, int priority) {
  say(priority, "cloud " + endpoint() + ": " + std::string(reason));
  if (stream_) {
    auto s = std::move(stream_);
    s->close();
  }
  session_timer_->stop();
  session_.on_closed();
  if (handlers_.on_state_change) handlers_.on_state_change();
  schedule_reconnect();
}

void cloud_link::schedule_reconnect() {
  if (!running_) return;
  last_delay_ = backoff_.next();
  say(LOG_INFO, "cloud " + endpoint() + ": reconnecting in " + std::to_string(last_delay_.count()) + " ms");
  reconnect_timer_->start(last_delay_, [this] { connect_now(); });
  if (handlers_.on_state_change) handlers_.on_state_change();
}

void cloud_link::on_authenticated() {
  backoff_.reset();
  if (authenticated_once_) ++reconnects_;
  authenticated_once_ = true;
  say(LOG_INFO, "cloud " + endpoint() + ": authenticated as " + session_.config().username + "/" +
                    session_.config().device);
  if (handlers_.on_state_change) handlers_.on_state_change();
  if (downstream_) downstream_->on_authenticated();
}

void cloud_link::on_auth_failed(std::string_view reason) {
  // The reason comes from the server's answer; our credential is never in it.
  drop(reason, LOG_ERR);
}

void cloud_link::on_connection_failed(std::string_view reason) { drop(reason, LOG_WARNING); }

void cloud_link::on_device_stream_open(iotmp::device_stream_id id, const pson::value* initial) {
  if (downstream_) downstream_->on_device_stream_open(id, initial);
}
void cloud_link::on_device_stream_refused(iotmp::device_stream_id id) {
  if (downstream_) downstream_->on_device_stream_refused(id);
}
void cloud_link::on_device_stream_data(iotmp::device_stream_id id, const pson::value& data) {
  if (downstream_) downstream_->on_device_stream_data(id, data);
}
void cloud_link::on_device_stream_closed(iotmp::device_stream_id id) {
  if (downstream_) downstream_->on_device_stream_closed(id);
}
void cloud_link::on_server_answer(std::uint16_t sid, bool ok, const pson::value* payload) {
  if (downstream_) downstream_->on_server_answer(sid, ok, payload);
}

}  // namespace iotgw::cloud
