#include "iotmp_gateway/mqtt/packet.hpp"

#include <cstring>

namespace iotgw::mqtt {

namespace {

// ---- writing --------------------------------------------------------------

void put_u8(byte_buffer& out, std::uint8_t v) { out.push_back(v); }
void put_u16(byte_buffer& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
void put_u32(byte_buffer& out, std::uint32_t v) {
  put_u16(out, static_cast<std::uint16_t>(v >> 16));
  put_u16(out, static_cast<std::uint16_t>(v));
}
void put_bytes(byte_buffer& out, std::string_view s) {
  out.insert(out.end(), reinterpret_cast<const std::uint8_t*>(s.data()),
             reinterpret_cast<const std::uint8_t*>(s.data()) + s.size());
}
// UTF-8 strings and binary data: a two-byte length, then the bytes. Callers keep
// them under 64 KiB (topics and ids come from a validated configuration).
void put_string(byte_buffer& out, std::string_view s) {
  put_u16(out, static_cast<std::uint16_t>(s.size()));
  put_bytes(out, s);
}
// MQTT's Variable Byte Integer is LEB128 limited to four bytes.
void put_vbi(byte_buffer& out, std::size_t v) { write_varint(v, out); }

void put_fixed_header(byte_buffer& out, packet_type type, std::uint8_t flags, std::size_t remaining) {
  put_u8(out, static_cast<std::uint8_t>(static_cast<unsigned>(type) << 4 | flags));
  put_vbi(out, remaining);
}

constexpr std::uint8_t prop_maximum_packet_size = 0x27;

// ---- reading --------------------------------------------------------------

// A cursor over a packet body; every read checks the bytes left first.
class cursor {
 public:
  explicit cursor(byte_view b) : b_(b) {}
  bool ok() const noexcept { return ok_; }
  std::size_t left() const noexcept { return b_.size() - pos_; }

  std::uint8_t u8() {
    if (!need(1)) return 0;
    return b_[pos_++];
  }
  std::uint16_t u16() {
    if (!need(2)) return 0;
    const auto v = static_cast<std::uint16_t>(b_[pos_] << 8 | b_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::uint32_t u32() {
    const std::uint32_t hi = u16();
    return hi << 16 | u16();
  }
  std::uint32_t vbi() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const auto byte = u8();
      if (!ok_) return 0;
      v |= static_cast<std::uint32_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) return v;
    }
    ok_ = false;
    return 0;
  }
  std::string_view string() {
    const auto n = u16();
    return take(n);
  }
  std::string_view take(std::size_t n) {
    if (!need(n)) return {};
    std::string_view s(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  byte_view rest() {
    auto r = b_.subspan(pos_);
    pos_ = b_.size();
    return r;
  }
  void fail() noexcept { ok_ = false; }

 private:
  bool need(std::size_t n) {
    if (!ok_ || left() < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  byte_view b_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// The property block (a length, then identifier/value pairs), MQTT 5 §2.2.2.2;
// the cursor continues after it.
bool read_properties(cursor& c, properties& out) {
  const auto length = c.vbi();
  if (!c.ok() || length > c.left()) return false;
  const auto block = c.take(length);
  cursor p(byte_view(reinterpret_cast<const std::uint8_t*>(block.data()), block.size()));
  while (p.ok() && p.left() > 0) {
    const auto id = p.vbi();
    switch (id) {
      case 0x01: case 0x17: case 0x19: case 0x28: case 0x29: case 0x2a: p.u8(); break;
      case 0x24: out.maximum_qos = p.u8(); break;
      case 0x25: out.retain_available = p.u8(); break;
      case 0x02: case 0x11: case 0x18: p.u32(); break;
      case 0x27: out.maximum_packet_size = p.u32(); break;
      case 0x13: out.server_keep_alive = p.u16(); break;
      case 0x21: out.receive_maximum = p.u16(); break;
      case 0x22: out.topic_alias_maximum = p.u16(); break;
      case 0x23: out.topic_alias = p.u16(); break;
      case 0x0b: p.vbi(); break;  // Subscription Identifier
      // Strings; binary data (0x09, 0x16) has the same two-byte-length form.
      case 0x03: case 0x08: case 0x09: case 0x15: case 0x16: case 0x1a: case 0x1c: p.string(); break;
      case 0x12: out.assigned_client_id = p.string(); break;
      case 0x1f: out.reason_string = p.string(); break;
      case 0x26: p.string(); p.string(); break;  // User Property: a name/value pair
      default: return false;  // an unknown identifier is a Malformed Packet
    }
  }
  return p.ok();
}

}  // namespace

// ---- encoders ---------------------------------------------------------------

void append_connect(byte_buffer& out, const connect_fields& c) {
  byte_buffer props;
  if (c.max_packet_size != 0) {
    put_u8(props, prop_maximum_packet_size);
    put_u32(props, c.max_packet_size);
  }
  std::uint8_t flags = c.clean_start ? 0x02 : 0x00;
  std::size_t payload = 2 + c.client_id.size();
  if (c.will != nullptr) {
    flags |= static_cast<std::uint8_t>(0x04 | (c.will->qos & 3) << 3 | (c.will->retain ? 0x20 : 0));
    payload += 1 + 2 + c.will->topic.size() + 2 + c.will->payload.size();  // empty will properties
  }
  if (!c.username.empty()) {
    flags |= 0x80;
    payload += 2 + c.username.size();
  }
  if (!c.password.empty()) {
    flags |= 0x40;
    payload += 2 + c.password.size();
  }
  const std::size_t variable = 2 + 4 + 1 + 1 + 2 + varint_size(props.size()) + props.size();
  put_fixed_header(out, packet_type::connect, 0, variable + payload);
  put_string(out, "MQTT");
  put_u8(out, 5);
  put_u8(out, flags);
  put_u16(out, c.keepalive_s);
  put_vbi(out, props.size());
  out.insert(out.end(), props.begin(), props.end());
  put_string(out, c.client_id);
  if (c.will != nullptr) {
    put_vbi(out, 0);
    put_string(out, c.will->topic);
    put_string(out, c.will->payload);
  }
  if (!c.username.empty()) put_string(out, c.username);
  if (!c.password.empty()) put_string(out, c.password);
}

namespace {
std::size_t publish_remaining(const publish_fields& p) noexcept {
  return 2 + p.topic.size() + (p.qos > 0 ? 2 : 0) + 1 + p.payload.size();
}
}  // namespace

std::size_t publish_size(const publish_fields& p) noexcept {
  const auto remaining = publish_remaining(p);
  return 1 + varint_size(remaining) + remaining;
}

void append_publish(byte_buffer& out, const publish_fields& p) {
  const auto flags = static_cast<std::uint8_t>((p.dup ? 0x08 : 0) | (p.qos & 3) << 1 | (p.retain ? 1 : 0));
  const auto remaining = publish_remaining(p);
  out.reserve(out.size() + 5 + remaining);
  put_fixed_header(out, packet_type::publish, flags, remaining);
  put_string(out, p.topic);
  if (p.qos > 0) put_u16(out, p.packet_id);
  put_vbi(out, 0);  // no properties
  put_bytes(out, p.payload);
}

void append_ack(byte_buffer& out, packet_type type, std::uint16_t packet_id, std::uint8_t reason) {
  // PUBREL's fixed-header flags are 0010 (§3.6.1); the others 0000.
  const std::uint8_t flags = type == packet_type::pubrel ? 0x02 : 0x00;
  put_fixed_header(out, type, flags, reason == 0 ? 2 : 3);
  put_u16(out, packet_id);
  if (reason != 0) put_u8(out, reason);
}

void append_subscribe(byte_buffer& out, std::uint16_t packet_id, std::span<const subscribe_filter> filters) {
  std::size_t remaining = 2 + 1;
  for (const auto& f : filters) remaining += subscribe_entry_size(f.filter);
  put_fixed_header(out, packet_type::subscribe, 0x02, remaining);
  put_u16(out, packet_id);
  put_vbi(out, 0);
  for (const auto& f : filters) {
    put_string(out, f.filter);
    // Retain As Published 0 (the broker sets retain only on what it sends from
    // its store at subscribe time), Retain Handling 0 (send retained on subscribe).
    put_u8(out, static_cast<std::uint8_t>((f.qos & 3) | (f.no_local ? 0x04 : 0)));
  }
}

void append_unsubscribe(byte_buffer& out, std::uint16_t packet_id, std::span<const std::string_view> filters) {
  std::size_t remaining = 2 + 1;
  for (const auto f : filters) remaining += unsubscribe_entry_size(f);
  put_fixed_header(out, packet_type::unsubscribe, 0x02, remaining);
  put_u16(out, packet_id);
  put_vbi(out, 0);
  for (const auto f : filters) put_string(out, f);
}

void append_pingreq(byte_buffer& out) { put_fixed_header(out, packet_type::pingreq, 0, 0); }

void append_disconnect(byte_buffer& out, std::uint8_t reason) {
  put_fixed_header(out, packet_type::disconnect, 0, reason == 0 ? 0 : 1);
  if (reason != 0) put_u8(out, reason);
}

// ---- reader -----------------------------------------------------------------

std::string_view to_string(wire_error e) noexcept {
  switch (e) {
    case wire_error::none: return "no error";
    case wire_error::malformed_length: return "malformed remaining length";
    case wire_error::packet_too_large: return "packet too large";
    case wire_error::malformed_packet: return "malformed packet";
    case wire_error::unknown_packet_type: return "packet type a server must not send";
  }
  return "unknown error";
}

void packet_reader::reset() noexcept {
  input_ = {};
  pos_ = 0;
  partial_.clear();
  partial_handed_out_ = false;
  error_ = wire_error::none;
}

void packet_reader::feed(byte_view data) noexcept {
  input_ = data;
  pos_ = 0;
}

std::size_t packet_reader::packet_size(byte_view bytes) {
  std::size_t remaining = 0;
  for (std::size_t i = 1; i < 5; ++i) {
    if (i >= bytes.size()) return 0;
    remaining |= static_cast<std::size_t>(bytes[i] & 0x7f) << (7 * (i - 1));
    if ((bytes[i] & 0x80) == 0) {
      const auto total = i + 1 + remaining;
      if (total > max_packet_size_) {
        error_ = wire_error::packet_too_large;
        return 0;
      }
      return total;
    }
  }
  error_ = wire_error::malformed_length;
  return 0;
}

namespace {
bool fill_packet(byte_view whole, packet& p) {
  const auto type = whole[0] >> 4;
  std::size_t header = 2;
  while (whole[header - 1] & 0x80) ++header;
  p.type = static_cast<packet_type>(type);
  p.flags = whole[0] & 0x0f;
  p.body = whole.subspan(header);
  // A server sends CONNACK..UNSUBACK (not SUBSCRIBE/UNSUBSCRIBE), PINGRESP, DISCONNECT, AUTH.
  switch (p.type) {
    case packet_type::connack: case packet_type::publish: case packet_type::puback:
    case packet_type::pubrec: case packet_type::pubrel: case packet_type::pubcomp:
    case packet_type::suback: case packet_type::unsuback: case packet_type::pingresp:
    case packet_type::disconnect: case packet_type::auth:
      return true;
    default:
      return false;
  }
}
}  // namespace

bool packet_reader::next(packet& p) {
  if (error_ != wire_error::none) return false;
  if (partial_handed_out_) {
    partial_.clear();
    partial_handed_out_ = false;
  }
  if (!partial_.empty()) {
    // Complete the split packet from the new bytes: the header first (at most
    // five bytes, one at a time), then exactly the rest of its body.
    std::size_t size = packet_size(partial_);
    while (size == 0 && error_ == wire_error::none && pos_ < input_.size()) {
      partial_.push_back(input_[pos_++]);
      size = packet_size(partial_);
    }
    if (size == 0) return false;
    const auto take = std::min(size - partial_.size(), input_.size() - pos_);
    partial_.insert(partial_.end(), input_.begin() + static_cast<std::ptrdiff_t>(pos_),
                    input_.begin() + static_cast<std::ptrdiff_t>(pos_ + take));
    pos_ += take;
    if (partial_.size() < size) return false;
    partial_handed_out_ = true;
    if (!fill_packet(partial_, p)) {
      error_ = wire_error::unknown_packet_type;
      return false;
    }
    return true;
  }
  const auto rest = input_.subspan(pos_);
  if (rest.empty()) return false;
  const auto size = packet_size(rest);
  if (error_ != wire_error::none) return false;
  if (size == 0 || size > rest.size()) {
    partial_.assign(rest.begin(), rest.end());
    pos_ = input_.size();
    return false;
  }
  pos_ += size;
  if (!fill_packet(rest.first(size), p)) {
    error_ = wire_error::unknown_packet_type;
    return false;
  }
  return true;
}

// ---- parsers ----------------------------------------------------------------

wire_error parse_connack(const packet& p, connack_view& out) noexcept {
  cursor c(p.body);
  const auto flags = c.u8();
  out.reason = c.u8();
  if (!c.ok() || (flags & 0xfe) != 0 || p.flags != 0) return wire_error::malformed_packet;
  out.session_present = flags & 1;
  if (c.left() > 0 && !read_properties(c, out.props)) return wire_error::malformed_packet;
  return wire_error::none;
}

wire_error parse_publish(const packet& p, publish_view& out) noexcept {
  out.dup = p.flags & 0x08;
  out.qos = (p.flags >> 1) & 3;
  out.retain = p.flags & 1;
  if (out.qos == 3) return wire_error::malformed_packet;
  cursor c(p.body);
  out.topic = c.string();
  out.packet_id = out.qos > 0 ? c.u16() : 0;
  if (!c.ok() || (out.qos > 0 && out.packet_id == 0)) return wire_error::malformed_packet;
  properties props;
  if (!read_properties(c, props)) return wire_error::malformed_packet;
  out.topic_alias = props.topic_alias;
  const auto payload = c.rest();
  out.payload = std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size());
  return wire_error::none;
}

wire_error parse_ack(const packet& p, ack_view& out) noexcept {
  const std::uint8_t want_flags = p.type == packet_type::pubrel ? 0x02 : 0x00;
  cursor c(p.body);
  out.packet_id = c.u16();
  out.reason = p.body.size() > 2 ? c.u8() : 0;
  if (!c.ok() || p.flags != want_flags || out.packet_id == 0) return wire_error::malformed_packet;
  if (c.left() > 0) {
    properties props;
    if (!read_properties(c, props) || c.left() != 0) return wire_error::malformed_packet;
    out.reason_string = props.reason_string;
  }
  return wire_error::none;
}

wire_error parse_suback(const packet& p, suback_view& out) noexcept {
  cursor c(p.body);
  out.packet_id = c.u16();
  if (!c.ok() || p.flags != 0 || out.packet_id == 0) return wire_error::malformed_packet;
  properties props;
  if (!read_properties(c, props)) return wire_error::malformed_packet;
  out.reason_string = props.reason_string;
  out.reasons = c.rest();
  return out.reasons.empty() ? wire_error::malformed_packet : wire_error::none;
}

wire_error parse_disconnect(const packet& p, disconnect_view& out) noexcept {
  cursor c(p.body);
  out.reason = p.body.empty() ? 0 : c.u8();
  if (p.flags != 0) return wire_error::malformed_packet;
  if (c.left() > 0) {
    properties props;
    if (!read_properties(c, props) || c.left() != 0) return wire_error::malformed_packet;
    out.reason_string = props.reason_string;
  }
  return wire_error::none;
}

std::string reason_text(std::uint8_t reason) {
  switch (reason) {
    case 0x00: return "Success";
    case 0x04: return "Disconnect with Will Message";
    case 0x10: return "No matching subscribers";
    case 0x11: return "No subscription existed";
    case 0x80: return "Unspecified error";
    case 0x81: return "Malformed Packet";
    case 0x82: return "Protocol Error";
    case 0x83: return "Implementation specific error";
    case 0x84: return "Unsupported Protocol Version";
    case 0x85: return "Client Identifier not valid";
    case 0x86: return "Bad User Name or Password";
    case 0x87: return "Not authorized";
    case 0x88: return "Server unavailable";
    case 0x89: return "Server busy";
    case 0x8a: return "Banned";
    case 0x8b: return "Server shutting down";
    case 0x8c: return "Bad authentication method";
    case 0x8d: return "Keep Alive timeout";
    case 0x8e: return "Session taken over";
    case 0x8f: return "Topic Filter invalid";
    case 0x90: return "Topic Name invalid";
    case 0x91: return "Packet Identifier in use";
    case 0x92: return "Packet Identifier not found";
    case 0x93: return "Receive Maximum exceeded";
    case 0x94: return "Topic Alias invalid";
    case 0x95: return "Packet too large";
    case 0x96: return "Message rate too high";
    case 0x97: return "Quota exceeded";
    case 0x98: return "Administrative action";
    case 0x99: return "Payload format invalid";
    case 0x9a: return "Retain not supported";
    case 0x9b: return "QoS not supported";
    case 0x9c: return "Use another server";
    case 0x9d: return "Server moved";
    case 0x9e: return "Shared Subscriptions not supported";
    case 0x9f: return "Connection rate exceeded";
    case 0xa0: return "Maximum connect time";
    case 0xa1: return "Subscription Identifiers not supported";
    case 0xa2: return "Wildcard Subscriptions not supported";
    default: {
      static constexpr char hex[] = "0123456789abcdef";
      return std::string("reason 0x") + hex[reason >> 4] + hex[reason & 15];
    }
  }
}

}  // namespace iotgw::mqtt
