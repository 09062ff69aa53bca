#include "iotmp_gateway/net/stream.hpp"

#include <stdexcept>

namespace iotgw::net {

status stream::write(byte_buffer&& buffer) {
  std::vector<byte_buffer> one;
  one.push_back(std::move(buffer));
  return write(std::move(one));
}

status stream::write(byte_view data) {
  return write(byte_buffer(data.begin(), data.end()));
}

void stream::set_limits(const write_limits& limits) {
  if (limits.low_water > limits.high_water || limits.high_water > limits.hard_limit) {
    throw std::invalid_argument("write limits: need low_water <= high_water <= hard_limit");
  }
  limits_ = limits;
  update_writable();
}

void stream::update_writable() {
  const std::size_t queued = queued_bytes();
  bool changed = false;
  if (writable_ && queued > limits_.high_water) {
    writable_ = false;
    changed = true;
  } else if (!writable_ && queued <= limits_.low_water) {
    writable_ = true;
    changed = true;
  }
  if (!changed || !writable_cb_) return;
  // A copy: the callback may destroy this stream, and with it writable_cb_.
  auto cb = writable_cb_;
  cb(writable_);
}

status stream::limit_error(std::size_t wanted) const {
  return {errc::write_limit, 0,
          "write of " + std::to_string(wanted) + " bytes to " + peer_name() +
              " refused: " + std::to_string(queued_bytes()) + " bytes already queued, limit " +
              std::to_string(limits_.hard_limit)};
}

status stream::closed_error() {
  return {errc::closed, 0, "stream is closed"};
}

}  // namespace iotgw::net
