#include "iotmp_gateway/mqtt/session.hpp"

#include <algorithm>
#include <utility>

namespace iotgw::mqtt {

namespace {

std::string seconds_text(std::chrono::seconds s) { return std::to_string(s.count()) + " s"; }

}  // namespace

session::session(session_options options, session_handlers handlers)
    : options_(std::move(options)),
      handlers_(std::move(handlers)),
      reader_(options_.max_incoming_packet),
      keepalive_(options_.keepalive) {}

void session::begin(clock::time_point now) {
  state_ = state::connecting;
  reader_.reset();
  output_.clear();
  qos2_received_.reset();
  ping_sent_at_.reset();
  keepalive_ = options_.keepalive;
  begun_at_ = last_in_ = last_out_ = now;
  connect_fields c;
  c.client_id = options_.client_id;
  c.username = options_.username;
  c.password = options_.password;
  c.keepalive_s = static_cast<std::uint16_t>(std::min<std::int64_t>(options_.keepalive.count(), 65535));
  c.clean_start = true;
  c.max_packet_size = options_.max_incoming_packet;
  c.will = options_.will ? &*options_.will : nullptr;
  append_connect(output_, c);
}

void session::on_closed() {
  state_ = state::closed;
  output_.clear();
  reader_.reset();
  ping_sent_at_.reset();
  auto unwritten = std::move(written_);
  written_.clear();
  // A clean session: what the broker had not confirmed goes again, in order,
  // before anything newer; QoS 2 past PUBREC is with the broker already.
  std::deque<outgoing> again;
  for (auto& o : inflight_) {
    if (o.finished) continue;
    release_packet_id(o.packet_id);
    if (o.released) {
      ++published_;
      if (o.done) o.done(true, {});
      continue;
    }
    o.packet_id = 0;
    again.push_back(std::move(o));
  }
  inflight_.clear();
  inflight_unfinished_ = 0;
  for (auto& o : waiting_) again.push_back(std::move(o));
  waiting_ = std::move(again);
  for (const auto& [id, filters] : subscribes_) release_packet_id(id);
  for (const auto& [id, count] : unsubscribes_) release_packet_id(id);
  subscribes_.clear();
  unsubscribes_.clear();
  for (auto& done : unwritten) {
    if (done) done(false, "connection to the local broker lost");
  }
}

void session::abandon(std::string_view reason) {
  std::vector<publish_done> dones;
  for (auto& o : inflight_) {
    if (!o.finished && o.done) dones.push_back(std::move(o.done));
    if (!o.finished) release_packet_id(o.packet_id);
  }
  for (auto& o : waiting_) {
    if (o.done) dones.push_back(std::move(o.done));
  }
  for (auto& d : written_) dones.push_back(std::move(d));
  inflight_.clear();
  waiting_.clear();
  written_.clear();
  inflight_unfinished_ = 0;
  for (auto& d : dones) {
    if (d) d(false, reason);
  }
}

byte_buffer session::take_output(clock::time_point now) {
  for (auto& d : written_) taken_.push_back(std::move(d));
  written_.clear();
  if (!output_.empty()) last_out_ = std::max(last_out_, now);
  return std::exchange(output_, {});
}

void session::output_written(bool ok) {
  auto done = std::move(taken_);
  taken_.clear();
  if (ok) published_ += done.size();
  for (auto& d : done) {
    if (d) d(ok, ok ? std::string_view{} : std::string_view("write to the local broker failed"));
  }
}

std::uint16_t session::take_packet_id() {
  // Ids are handed out in turn, skipping those still in use; the caller has
  // checked that fewer than 65535 are.
  while (next_id_ == 0 || ids_in_use_.test(next_id_)) ++next_id_;
  const auto id = next_id_++;
  ids_in_use_.set(id);
  ++ids_in_use_count_;
  return id;
}

void session::publish(std::string topic, std::string payload, unsigned qos, bool retain, publish_done done) {
  if (state_ != state::open) {
    done(false, "not connected to the local broker");
    return;
  }
  if (pending_publishes() >= options_.max_pending_publishes || ids_in_use_count_ >= 65000) {
    done(false, "local publish queue full");
    return;
  }
  const publish_fields f{topic, payload, qos, retain, false, qos > 0 ? std::uint16_t{1} : std::uint16_t{0}};
  if (publish_size(f) > broker_max_packet_) {
    done(false, "message larger than the broker's maximum packet size");
    return;
  }
  if (qos == 0) {
    append_publish(output_, f);
    written_.push_back(std::move(done));
    return;
  }
  outgoing o;
  o.topic = std::move(topic);
  o.payload = std::move(payload);
  o.done = std::move(done);
  o.qos = static_cast<std::uint8_t>(std::min(qos, 2u));
  o.retain = retain;
  waiting_.push_back(std::move(o));
  send_waiting();
}

void session::send(outgoing& o, bool dup) {
  append_publish(output_, {o.topic, o.payload, o.qos, o.retain, dup, o.packet_id});
}

void session::send_waiting() {
  while (state_ == state::open && !waiting_.empty() && inflight_unfinished_ < receive_maximum_) {
    auto& o = inflight_.emplace_back(std::move(waiting_.front()));
    waiting_.pop_front();
    o.packet_id = take_packet_id();
    ++inflight_unfinished_;
    send(o, false);
  }
}

session::outgoing* session::find_inflight(std::uint16_t id) {
  // Brokers answer in order, so the match is almost always at the front.
  for (auto& o : inflight_) {
    if (!o.finished && o.packet_id == id) return &o;
  }
  return nullptr;
}

void session::pop_finished() {
  while (!inflight_.empty() && inflight_.front().finished) inflight_.pop_front();
}

void session::subscribe(std::span<const filter_request> filters) {
  if (state_ != state::open || filters.empty()) return;
  const std::size_t max_bytes = std::min<std::size_t>(broker_max_packet_, 64 * 1024) - 16;
  std::vector<subscribe_filter> batch;
  std::vector<std::string> names;
  std::size_t bytes = 0;
  const auto flush = [&] {
    if (batch.empty()) return;
    const auto id = take_packet_id();
    append_subscribe(output_, id, batch);
    subscribes_.emplace(id, std::move(names));
    names.clear();
    batch.clear();
    bytes = 0;
  };
  for (const auto& f : filters) {
    const auto size = subscribe_entry_size(f.filter);
    if (!batch.empty() && (batch.size() == options_.max_filters_per_subscribe || bytes + size > max_bytes)) {
      flush();
    }
    batch.push_back({f.filter, std::min(f.qos, 2u), true});
    names.push_back(f.filter);
    bytes += size;
  }
  flush();
}

void session::unsubscribe(std::span<const std::string> filters) {
  if (state_ != state::open || filters.empty()) return;
  std::vector<std::string_view> batch;
  std::size_t bytes = 0;
  const auto flush = [&] {
    if (batch.empty()) return;
    const auto id = take_packet_id();
    append_unsubscribe(output_, id, batch);
    unsubscribes_.emplace(id, batch.size());
    batch.clear();
    bytes = 0;
  };
  for (const auto& f : filters) {
    if (!batch.empty() && (batch.size() == options_.max_filters_per_subscribe ||
                           bytes + unsubscribe_entry_size(f) > 60 * 1024)) {
      flush();
    }
    batch.push_back(f);
    bytes += unsubscribe_entry_size(f);
  }
  flush();
}

void session::disconnect() {
  if (state_ == state::closed) return;
  append_disconnect(output_);
}

std::string session::on_timer(clock::time_point now) {
  if (state_ == state::connecting) {
    if (now - begun_at_ >= options_.connack_timeout) {
      return "no CONNACK within " + std::to_string(options_.connack_timeout.count()) + " ms";
    }
    return {};
  }
  if (state_ != state::open || keepalive_.count() == 0) return {};
  if (ping_sent_at_) {
    // Anything from the broker proves it alive; silence for a whole keep-alive
    // period after our PINGREQ does not.
    if (now - std::max(*ping_sent_at_, last_in_) >= keepalive_) {
      return "no answer to PINGREQ within " + seconds_text(keepalive_);
    }
    return {};
  }
  // A ping when we have been quiet (the broker needs a packet per keep-alive
  // period) and when the broker has (a dead path shows even while we send).
  if (now - last_out_ >= keepalive_ || now - last_in_ >= keepalive_) {
    append_pingreq(output_);
    ping_sent_at_ = now;
  }
  return {};
}

std::string session::on_data(byte_view data, clock::time_point now) {
  if (state_ == state::closed) return {};
  last_in_ = now;
  reader_.feed(data);
  packet p;
  while (reader_.next(p)) {
    auto error = handle(p);
    if (!error.empty()) return error;
    if (state_ == state::closed) return {};
  }
  if (reader_.error() != wire_error::none) {
    return "from the broker: " + std::string(to_string(reader_.error()));
  }
  return {};
}

std::string session::handle(const packet& p) {
  if (state_ == state::connecting && p.type != packet_type::connack) {
    return "broker sent packet type " + std::to_string(static_cast<int>(p.type)) + " before CONNACK";
  }
  switch (p.type) {
    case packet_type::connack: return handle_connack(p);
    case packet_type::publish: return handle_publish(p);
    case packet_type::puback:
    case packet_type::pubrec:
    case packet_type::pubrel:
    case packet_type::pubcomp: return handle_ack(p);
    case packet_type::suback:
    case packet_type::unsuback: return handle_suback(p);
    case packet_type::pingresp:
      if (!p.body.empty() || p.flags != 0) return "malformed PINGRESP";
      ping_sent_at_.reset();
      return {};
    case packet_type::disconnect: {
      disconnect_view d;
      if (parse_disconnect(p, d) != wire_error::none) return "malformed DISCONNECT";
      std::string why = "broker disconnected: " + reason_text(d.reason);
      if (!d.reason_string.empty()) why += " (" + std::string(d.reason_string) + ")";
      return why;
    }
    case packet_type::auth: return "broker asked for enhanced authentication (AUTH), which is not supported";
    default: return "broker sent a packet type a client never gets";
  }
}

std::string session::handle_connack(const packet& p) {
  if (state_ != state::connecting) return "second CONNACK";
  connack_view c;
  if (parse_connack(p, c) != wire_error::none) return "malformed CONNACK";
  if (c.reason >= 0x80) {
    std::string why = "connection refused: " + reason_text(c.reason);
    if (!c.props.reason_string.empty()) why += " (" + std::string(c.props.reason_string) + ")";
    return why;
  }
  state_ = state::open;
  receive_maximum_ = c.props.receive_maximum.value_or(65535);
  if (receive_maximum_ == 0) return "CONNACK with Receive Maximum 0";
  broker_max_packet_ = c.props.maximum_packet_size.value_or(max_remaining_length + 5);
  if (c.props.server_keep_alive) keepalive_ = std::chrono::seconds(*c.props.server_keep_alive);
  send_waiting();
  if (handlers_.on_open) handlers_.on_open(c.session_present);
  return {};
}

std::string session::handle_publish(const packet& p) {
  publish_view m;
  if (parse_publish(p, m) != wire_error::none) return "malformed PUBLISH";
  // We never allow topic aliases (no Topic Alias Maximum in CONNECT).
  if (m.topic_alias) return "broker used a topic alias we did not allow";
  if (m.topic.empty()) return "PUBLISH without a topic";
  if (m.qos == 2) {
    append_ack(output_, packet_type::pubrec, m.packet_id);
    // A resent QoS 2 message (same id, before PUBREL) is delivered once.
    if (qos2_received_.test(m.packet_id)) return {};
    qos2_received_.set(m.packet_id);
  } else if (m.qos == 1) {
    // Acked once the handler has it: the handler copies what it keeps.
    append_ack(output_, packet_type::puback, m.packet_id);
  }
  if (handlers_.on_message) handlers_.on_message(m.topic, m.payload, m.retain);
  return {};
}

std::string session::handle_ack(const packet& p) {
  ack_view a;
  if (parse_ack(p, a) != wire_error::none) return "malformed acknowledgement";
  if (p.type == packet_type::pubrel) {
    qos2_received_.reset(a.packet_id);
    append_ack(output_, packet_type::pubcomp, a.packet_id);
    return {};
  }
  auto* o = find_inflight(a.packet_id);
  // An answer for an id we do not wait on: the broker's mistake, harmless.
  if (o == nullptr) return {};
  const bool ok = a.reason < 0x80;
  if (p.type == packet_type::pubrec && ok) {
    if (o->qos != 2) return "PUBREC for a QoS 1 message";
    o->released = true;
    append_ack(output_, packet_type::pubrel, a.packet_id);
    return {};
  }
  std::string why;
  if (!ok) {
    why = "broker refused the message: " + reason_text(a.reason);
    if (!a.reason_string.empty()) why += " (" + std::string(a.reason_string) + ")";
  }
  o->finished = true;
  auto done = std::move(o->done);
  // Acknowledged out of order, it may wait behind older ones: free its bytes
  // now (swap: assigning {} would keep the capacity).
  std::string().swap(o->topic);
  std::string().swap(o->payload);
  release_packet_id(a.packet_id);
  --inflight_unfinished_;
  pop_finished();
  send_waiting();
  if (ok) ++published_;
  if (done) done(ok, why);
  return {};
}

std::string session::handle_suback(const packet& p) {
  suback_view s;
  if (parse_suback(p, s) != wire_error::none) return "malformed SUBACK/UNSUBACK";
  if (p.type == packet_type::unsuback) {
    const auto it = unsubscribes_.find(s.packet_id);
    if (it == unsubscribes_.end()) return {};
    release_packet_id(s.packet_id);
    unsubscribes_.erase(it);
    return {};
  }
  const auto it = subscribes_.find(s.packet_id);
  if (it == subscribes_.end()) return {};
  const auto filters = std::move(it->second);
  subscribes_.erase(it);
  release_packet_id(s.packet_id);
  if (s.reasons.size() != filters.size()) return "SUBACK with a reason count that does not match its SUBSCRIBE";
  for (std::size_t i = 0; i < filters.size(); ++i) {
    if (s.reasons[i] >= 0x80 && handlers_.on_subscribe_failed) {
      handlers_.on_subscribe_failed(filters[i], reason_text(s.reasons[i]));
    }
  }
  if (subscribes_.empty() && handlers_.on_subscribes_answered) handlers_.on_subscribes_answered();
  return {};
}

}  // namespace iotgw::mqtt
