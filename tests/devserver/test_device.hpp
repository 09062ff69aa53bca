// A hand-made IOTMP device for the devserver tests: a real loopback socket
// (plain or TLS), frames built with the codec, everything it receives kept in
// order (decoded, and as raw bytes). It answers nothing by itself; a test
// answers explicitly or installs on_message.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "iotmp_gateway/iotmp/frame_decoder.hpp"
#include "iotmp_gateway/iotmp/message.hpp"
#include "iotmp_gateway/net/connector.hpp"
#include "iotmp_gateway/net/tls_stream.hpp"
#include "iotmp_gateway/net/uv_loop.hpp"
#include "iotmp_gateway/pson/value.hpp"
#include "support/loop.hpp"
#include "support/print.hpp"

namespace devserver_test {

namespace iotmp = iotgw::iotmp;
namespace net = iotgw::net;
namespace pson = iotgw::pson;
using namespace std::chrono_literals;
using iotmp::message;
using iotmp::message_type;
using test_support::run_until;

class test_device {
 public:
  test_device(iotgw::uv::loop& loop, std::uint16_t port,
              std::shared_ptr<net::tls_context> tls = nullptr)
      : loop_(loop), port_(port), tls_(std::move(tls)) {}
  ~test_device() { close(); }
  test_device(const test_device&) = delete;
  test_device& operator=(const test_device&) = delete;

  // TCP (and the TLS handshake); true when up.
  bool connect() {
    bool done = false;
    net::status result;
    std::shared_ptr<net::tcp_stream> tcp;
    net::connect_options o;
    o.host = "127.0.0.1";
    o.port = port_;
    o.timeout = 5s;
    net::connector::connect(loop_, o, [&](net::status st, std::shared_ptr<net::tcp_stream> s) {
      result = std::move(st);
      tcp = std::move(s);
      done = true;
    });
    if (!run_until(loop_, [&] { return done; }) || !result.ok()) {
      connect_error_ = result.message;
      return false;
    }
    closed_.reset();
    decoder_.reset();
    if (tls_) {
      auto t = net::tls_stream::client(tls_, tcp, "localhost");
      bool handshake = false;
      t->on_handshake([&] { handshake = true; });
      stream_ = t;
      attach();
      if (!run_until(loop_, [&] { return handshake || closed_.has_value(); }) || !handshake) {
        return false;
      }
      t->on_handshake(nullptr);
    } else {
      stream_ = tcp;
      attach();
    }
    return true;
  }

  // CONNECT [user, device, credential] with stream id 1; waits for OK or ERROR
  // (or the close). True on OK.
  bool authenticate(const std::string& user, const std::string& device,
                    const std::string& credential = "secret") {
    const std::size_t before = received_.size();
    send({message_type::connect, 1, std::nullopt,
          pson::value(pson::array{user, device, credential}), std::nullopt});
    const bool answered = run_until(loop_, [&] {
      return closed_.has_value() || find_from(before, message_type::ok).has_value() ||
             find_from(before, message_type::error).has_value();
    });
    return answered && find_from(before, message_type::ok).has_value();
  }

  bool connect_and_authenticate(const std::string& user, const std::string& device,
                                const std::string& credential = "secret") {
    return connect() && authenticate(user, device, credential);
  }

  void send(const message& m) {
    ASSERT_TRUE(stream_ && stream_->is_open()) << "device not connected";
    const auto st = stream_->write(iotmp::encode(m));
    ASSERT_TRUE(st.ok()) << st.message;
  }
  void send_raw(iotgw::byte_view bytes) {
    ASSERT_TRUE(stream_ && stream_->is_open());
    ASSERT_TRUE(stream_->write(bytes).ok());
  }
  void keep_alive() { send({message_type::keep_alive, std::nullopt, {}, {}, {}}); }
  void ok(std::uint16_t sid, std::optional<pson::value> payload = std::nullopt) {
    send({message_type::ok, sid, std::nullopt, std::move(payload), std::nullopt});
  }
  void error(std::uint16_t sid, std::optional<pson::value> payload = std::nullopt) {
    send({message_type::error, sid, std::nullopt, std::move(payload), std::nullopt});
  }
  void stream_data(std::uint16_t sid, pson::value v) {
    send({message_type::stream_data, sid, std::nullopt, std::move(v), std::nullopt});
  }

  // The next message of a type (after those already taken by next()), waiting for it.
  std::optional<message> next(message_type type, std::chrono::milliseconds deadline = 5s) {
    // The condition has no side effect: run_until evaluates it once more at the end.
    auto first_untaken = [&]() -> std::optional<std::size_t> {
      for (std::size_t i = 0; i < received_.size(); ++i) {
        if (received_[i].type == type && !taken_[i]) return i;
      }
      return std::nullopt;
    };
    run_until(
        loop_, [&] { return first_untaken().has_value(); }, deadline);
    const auto i = first_untaken();
    if (!i) return std::nullopt;
    taken_[*i] = true;
    return received_[*i];
  }
  // Count of received messages of a type so far.
  std::size_t count(message_type type) const {
    std::size_t n = 0;
    for (const auto& m : received_) n += m.type == type ? 1 : 0;
    return n;
  }

  bool wait_closed(std::chrono::milliseconds deadline = 5s) {
    return run_until(
        loop_, [&] { return closed_.has_value(); }, deadline);
  }
  bool closed() const { return closed_.has_value(); }
  const std::optional<net::status>& close_status() const { return closed_; }
  void close() {
    if (stream_) stream_->close();
    stream_.reset();
  }

  const std::vector<message>& received() const { return received_; }
  const iotgw::byte_buffer& raw() const { return raw_; }
  bool decode_failed() const { return decode_failed_; }
  const std::string& connect_error() const { return connect_error_; }

  // Called for every decoded frame (after it is stored); may send.
  std::function<void(const message&)> on_message;

 private:
  void attach() {
    test_device* self = this;
    stream_->on_data([self](iotgw::byte_view data) { self->on_data(data); });
    stream_->on_close([self](const net::status& st) { self->closed_ = st; });
  }

  void on_data(iotgw::byte_view data) {
    raw_.insert(raw_.end(), data.begin(), data.end());
    if (decode_failed_) return;
    decoder_.feed(data);
    iotmp::message_view v;
    while (true) {
      const auto st = decoder_.next(v);
      if (st == iotmp::frame_decoder::status::need_more) break;
      if (st == iotmp::frame_decoder::status::error) {
        decode_failed_ = true;
        break;
      }
      received_.push_back(message::from_view(v));
      taken_.push_back(false);
      if (on_message) on_message(received_.back());
    }
  }

  std::optional<std::size_t> find_from(std::size_t from, message_type type) const {
    for (std::size_t i = from; i < received_.size(); ++i) {
      if (received_[i].type == type) return i;
    }
    return std::nullopt;
  }

  iotgw::uv::loop& loop_;
  std::uint16_t port_;
  std::shared_ptr<net::tls_context> tls_;
  std::shared_ptr<net::stream> stream_;
  iotmp::frame_decoder decoder_;
  std::vector<message> received_;
  std::vector<bool> taken_;
  iotgw::byte_buffer raw_;
  bool decode_failed_ = false;
  std::optional<net::status> closed_;
  std::string connect_error_;
};

// START_STREAM on an MQTT topic, IOTMP-Linux scheme (RESOURCE 8, §11.3).
inline message event_stream(std::uint16_t sid, const std::string& topic, const std::string& scope) {
  return {message_type::start_stream, sid,
          pson::value(
              pson::object{{"event", "device_topic_publish"}, {"scope", scope}, {"topic", topic}}),
          std::nullopt, pson::value(8u)};
}

// START_STREAM on an MQTT topic, docs scheme (RESOURCE = topic).
inline message spec_stream(std::uint16_t sid, const std::string& topic,
                           std::vector<std::string> scopes) {
  pson::array scope;
  for (auto& s : scopes) scope.emplace_back(std::move(s));
  return {message_type::start_stream, sid,
          pson::value(pson::object{{"type", "mqtt"}, {"scope", std::move(scope)}}), std::nullopt,
          pson::value(topic)};
}

}  // namespace devserver_test
