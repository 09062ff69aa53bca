// Outcome of a network operation. Runtime I/O failures are values, not
// exceptions: the layer that decides what to do (retry, drop, log) gets the
// category to branch on and a message ready for the log.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace iotgw::net {

enum class errc : std::uint8_t {
  ok = 0,
  io,                // socket failure; status::uv_code has the libuv error
  resolve,           // name resolution failed
  timeout,           // connect did not complete in time
  eof,               // the peer closed the connection
  tls,               // TLS failure other than certificate verification
  tls_verify,        // the peer's certificate was rejected
  write_limit,       // write refused: it would take queued bytes over the hard limit
  closed,            // the stream is already closed
  invalid_argument,  // an address or option that cannot work
};

std::string_view to_string(errc e) noexcept;

struct status {
  errc code = errc::ok;
  int uv_code = 0;      // libuv error (negative) behind io/resolve/eof, else 0
  std::string message;  // e.g. "connect to 127.0.0.1:25204: connection refused"

  bool ok() const noexcept { return code == errc::ok; }
};

// "what: <libuv's text for uv_code>".
status uv_status(errc code, int uv_code, std::string_view what);

}  // namespace iotgw::net
