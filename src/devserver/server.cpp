#include "iotmp_gateway/devserver/server.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include "devserver/frame_meter.hpp"
#include "iotmp_gateway/iotmp/server_session.hpp"
#include "iotmp_gateway/net/tls_stream.hpp"
#include "iotmp_gateway/net/uv_timer.hpp"

namespace iotgw::devserver {

namespace {

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;
using iotmp::server_session;

// syslog priorities
constexpr int log_warning = 4;
constexpr int log_notice = 5;
constexpr int log_info = 6;
constexpr int log_debug = 7;

constexpr milliseconds linger_poll{10};

std::string seconds_text(milliseconds d) {
  const auto ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

void count_frame(std::array<std::uint64_t, traffic_counters::type_slots>& by_type,
                 std::uint64_t& total, std::uint32_t type) {
  ++total;
  if (type < traffic_counters::type_slots) ++by_type[type];
}

}  // namespace

// One accepted socket: TLS (optionally), the session, the timers. Lives in the
// server's map until its socket is closed; callbacks hold a strong reference
// while they run, so whatever they trigger cannot destroy it under them.
class server::connection final : public device_link,
                                 public server_session::observer,
                                 public std::enable_shared_from_this<connection> {
 public:
  connection(server& owner, std::uint64_t id, std::shared_ptr<net::stream> stream)
      : owner_(owner),
        id_(id),
        stream_(std::move(stream)),
        peer_(stream_->peer_name()),
        accepted_at_(steady::now()),
        session_(*this, session_options(owner.options_), accepted_at_) {}

  ~connection() override {
    stream_->close();
    if (timer_) timer_->close();
  }

  // Throws std::system_error when libuv cannot make a timer.
  void start() {
    timer_ = uv::timer::create(owner_.loop_);
    std::weak_ptr<connection> weak = weak_from_this();
    stream_->on_data([weak](byte_view data) {
      if (auto self = weak.lock()) self->on_data(data);
    });
    stream_->on_close([weak](const net::status& reason) {
      auto self = weak.lock();
      if (!self) return;
      // A failed TLS handshake is what people setting up a demo need to see.
      if (reason.code == net::errc::tls || reason.code == net::errc::tls_verify) {
        self->owner_.log(log_notice, self->peer_ + ": " + reason.message);
      }
      self->end(reason.message, false);
    });
    stream_->on_writable_changed([weak](bool writable) {
      // Most of what we send answers what the device sends: when it does not
      // read, stop reading from it rather than queue without bound.
      if (auto self = weak.lock()) {
        if (writable) {
          self->stream_->resume_reading();
        } else {
          self->stream_->pause_reading();
        }
      }
    });
    arm();
  }

  bool ending() const noexcept { return ending_; }

  // Ends the connection once: the registry forgets it, then the socket closes,
  // at once or (linger) after the frames still queued went out.
  void end(std::string reason, bool linger) {
    if (ending_) return;
    ending_ = true;
    auto self = shared_from_this();
    if (attached_) {
      owner_.log(log_info, name() + " disconnected: " + reason);
    } else {
      owner_.log(log_debug, peer_ + ": connection closed: " + reason);
    }
    owner_.registry_.detach(*this, reason);
    session_.close(server_session::close_reason::local, reason);
    if (linger && stream_->is_open()) {
      write_output();
      stream_->pause_reading();
      linger_until_ = steady::now() + owner_.options_.linger;
      poll_linger();
      return;
    }
    close_now();
  }

  // --- device_link ------------------------------------------------------------
  std::uint64_t link_id() const noexcept override { return id_; }
  server_session& session() noexcept override { return session_; }
  const std::string& peer() const noexcept override { return peer_; }
  const traffic_counters& traffic() const noexcept override { return traffic_; }

  void flush() override {
    if (ending_) return;
    write_output();
    arm();
  }

  void drop(bool graceful, std::string_view reason) override {
    if (ending_) return;
    if (graceful) session_.disconnect();
    end(std::string(reason), graceful);
  }

  net::status send_raw(byte_view bytes) override {
    if (ending_ || !stream_->is_open()) return {net::errc::closed, 0, "stream is closed"};
    auto st = stream_->write(bytes);
    if (st.ok()) {
      traffic_.bytes_out += bytes.size();
      traffic_.raw_bytes_out += bytes.size();
    } else {
      fail_later(st.message);
    }
    return st;
  }

  // --- server_session::observer -------------------------------------------------
  bool authenticate(const server_session::credentials& c) override {
    return owner_.authenticate(c, peer_);
  }
  void on_authenticated() override {
    attached_ = true;
    owner_.log(log_info, name() + " connected from " + peer_);
    owner_.registry_.attach(*this, {session_.username(), session_.device()});
  }
  void on_answer(std::uint16_t sid, const server_session::answer& a) override {
    owner_.registry_.on_answer(*this, sid, a);
  }
  void on_stream_started(std::uint16_t sid, bool accepted,
                         const server_session::answer& a) override {
    owner_.registry_.on_stream_started(*this, sid, accepted, a);
  }
  void on_stream_data(std::uint16_t sid, const pson::value& v) override {
    owner_.registry_.on_stream_data(*this, sid, v);
  }
  void on_stream_stopped(std::uint16_t sid) override {
    owner_.registry_.on_stream_stopped(*this, sid);
  }
  bool accept_device_stream(const device_stream& s) override {
    const bool ok = owner_.registry_.accept_device_stream(*this, s);
    if (!ok) owner_.log(log_notice, name() + ": refused stream on topic " + s.topic);
    return ok;
  }
  void on_device_stream_data(const device_stream& s, const pson::value& v) override {
    owner_.registry_.on_device_stream_data(*this, s, v);
  }
  void on_device_stream_opened(const device_stream& s) override {
    owner_.registry_.on_device_stream_opened(*this, s);
  }
  void on_device_stream_closed(const device_stream& s) override {
    owner_.registry_.on_device_stream_closed(*this, s);
  }
  server_session::answer on_server_run(const server_session::server_run& r) override {
    return owner_.registry_.on_server_run(*this, r);
  }

 private:
  static server_session::options session_options(const server_options& o) {
    server_session::options s;
    s.request_timeout = o.request_timeout;
    s.first_stream_id = o.first_stream_id;
    s.max_body = o.max_body;
    return s;
  }

  std::string name() const {
    return session_.username().empty() ? peer_ : session_.username() + "/" + session_.device();
  }

  void on_data(byte_view data) {
    if (ending_) return;
    auto self = shared_from_this();
    traffic_.bytes_in += data.size();
    meter_in_.feed(data, [this](std::uint32_t type) {
      count_frame(traffic_.frames_in_by_type, traffic_.frames_in, type);
    });
    const auto st = session_.receive(data, steady::now());
    if (ending_) return;  // an observer callback dropped us (kicked, replaced)
    if (st == server_session::state::closed) {
      std::string why(to_string(session_.reason()));
      if (!session_.close_message().empty()) {
        why += ": ";
        why += session_.close_message();
      }
      if (session_.reason() == server_session::close_reason::protocol_error) {
        owner_.log(log_warning, name() + ": " + why);
      }
      end(std::move(why), true);
      return;
    }
    flush();
  }

  void write_output() {
    if (session_.output().empty() || !stream_->is_open()) return;
    auto out = session_.take_output();
    const std::size_t n = out.size();
    meter_out_.feed(out, [this](std::uint32_t type) {
      count_frame(traffic_.frames_out_by_type, traffic_.frames_out, type);
    });
    auto st = stream_->write(std::move(out));
    if (st.ok()) {
      traffic_.bytes_out += n;
    } else {
      fail_later(st.message);
    }
  }

  // Write errors surface inside calls from the registry (run(), deliver()),
  // whose callers must not see callbacks run under them: end from the loop.
  void fail_later(std::string reason) {
    if (failure_ || ending_) return;
    failure_ = std::move(reason);
    std::weak_ptr<connection> weak = weak_from_this();
    timer_->start(milliseconds(0), [weak] {
      if (auto self = weak.lock()) self->on_timer();
    });
  }

  // One timer for every deadline: CONNECT, silence, the earliest request.
  void arm() {
    if (ending_ || failure_) return;
    const auto now = steady::now();
    const auto& o = owner_.options_;
    steady::time_point next =
        attached_ ? session_.last_receive() + o.idle_timeout : accepted_at_ + o.handshake_timeout;
    if (const auto d = session_.next_request_deadline()) next = std::min(next, *d);
    auto delay = std::chrono::ceil<milliseconds>(next - now) + milliseconds(1);
    if (delay < milliseconds(0)) delay = milliseconds(0);
    std::weak_ptr<connection> weak = weak_from_this();
    timer_->start(delay, [weak] {
      if (auto self = weak.lock()) self->on_timer();
    });
  }

  void on_timer() {
    if (ending_) return;
    auto self = shared_from_this();
    if (failure_) {
      end(*failure_, false);
      return;
    }
    const auto now = steady::now();
    const auto expired = session_.expire_requests(now);
    if (!expired.empty()) {
      owner_.registry_.on_requests_expired(*this, expired);
      if (ending_) return;
    }
    const auto& o = owner_.options_;
    if (!attached_ && now >= accepted_at_ + o.handshake_timeout) {
      owner_.log(log_notice, peer_ + ": no TLS handshake and CONNECT within " +
                                 seconds_text(o.handshake_timeout));
      end("handshake timeout", false);
      return;
    }
    if (attached_ && session_.expired(now, o.idle_timeout)) {
      owner_.log(log_notice, name() + ": silent for more than " + seconds_text(o.idle_timeout));
      end("silent for more than " + seconds_text(o.idle_timeout), false);
      return;
    }
    arm();
  }

  void poll_linger() {
    if (!stream_->is_open() || stream_->queued_bytes() == 0 || steady::now() >= linger_until_) {
      close_now();
      return;
    }
    std::weak_ptr<connection> weak = weak_from_this();
    timer_->start(linger_poll, [weak] {
      if (auto self = weak.lock()) self->poll_linger();
    });
  }

  void close_now() {
    stream_->close();
    timer_->stop();
    owner_.forget(id_);
  }

  server& owner_;
  std::uint64_t id_;
  std::shared_ptr<net::stream> stream_;
  std::string peer_;
  steady::time_point accepted_at_;
  server_session session_;
  std::shared_ptr<uv::timer> timer_;
  traffic_counters traffic_;
  frame_meter meter_in_;
  frame_meter meter_out_;
  std::optional<std::string> failure_;
  steady::time_point linger_until_{};
  bool attached_ = false;
  bool ending_ = false;
};

server::server(uv::loop& loop, device_registry& registry, server_options options)
    : loop_(loop), registry_(registry), options_(std::move(options)) {}

server::~server() {
  close();
}

net::status server::start() {
  if (listener_) return {};
  auto l = net::listener::create(loop_, [this](net::status st, std::shared_ptr<net::tcp_stream> s) {
    on_accept(std::move(st), std::move(s));
  });
  net::listen_options o;
  o.address = options_.address;
  o.port = port_ != 0 ? port_ : options_.port;
  auto st = l->listen(o);
  if (!st.ok()) return st;
  listener_ = std::move(l);
  port_ = listener_->port();
  log(log_info, "listening on " + listener_->local_name() + (options_.tls ? " (TLS)" : ""));
  return {};
}

void server::stop_listening(bool drop_connections) {
  if (listener_) {
    std::exchange(listener_, nullptr)->close();
    log(log_info, "stopped listening");
  }
  if (!drop_connections) return;
  // Moved out: ending a connection calls back into forget().
  auto all = std::exchange(connections_, {});
  for (auto& [id, c] : all) c->end("server stopped", false);
}

void server::close() {
  stop_listening(true);
}

std::size_t server::open_connections() const noexcept {
  return static_cast<std::size_t>(
      std::count_if(connections_.begin(), connections_.end(),
                    [](const auto& kv) { return !kv.second->ending(); }));
}

void server::on_accept(net::status st, std::shared_ptr<net::tcp_stream> tcp) {
  if (!st.ok()) {
    log(log_warning, st.message);
    return;
  }
  ++accepted_;
  accepts_.push_back({steady::now(), tcp->peer_name()});
  if (accepts_.size() > history_limit) accepts_.pop_front();
  try {
    std::shared_ptr<net::stream> s = tcp;
    if (options_.tls) s = net::tls_stream::server(options_.tls, tcp);
    if (!s->is_open()) return;
    const std::uint64_t id = next_connection_id_++;
    auto c = std::make_shared<connection>(*this, id, std::move(s));
    connections_.emplace(id, c);
    log(log_debug, c->peer() + ": accepted");
    c->start();
  } catch (const std::exception& e) {
    // Nothing may escape into libuv; the connection is simply not served.
    log(log_warning, tcp->peer_name() + ": cannot serve the connection: " + e.what());
    tcp->close();
  }
}

void server::forget(std::uint64_t id) {
  connections_.erase(id);
}

bool server::authenticate(const server_session::credentials& c, const std::string& peer) {
  bool ok = !c.username.empty() && !c.device.empty();
  if (ok) {
    ok = options_.allow_any ||
         (options_.users && options_.users->check(c.username, c.device, c.credential));
  }
  attempts_.push_back({steady::now(), peer, c.username, c.device, ok});
  if (attempts_.size() > history_limit) attempts_.pop_front();
  if (!ok) {
    log(log_notice, "authentication refused for " + c.username + "/" + c.device + " from " + peer);
  }
  return ok;
}

void server::log(int priority, std::string_view text) const {
  if (options_.log) options_.log(priority, text);
}

}  // namespace iotgw::devserver
