#include "iotmp_gateway/net/status.hpp"

#include <uv.h>

namespace iotgw::net {

std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::ok:
      return "ok";
    case errc::io:
      return "io";
    case errc::resolve:
      return "resolve";
    case errc::timeout:
      return "timeout";
    case errc::eof:
      return "eof";
    case errc::tls:
      return "tls";
    case errc::tls_verify:
      return "tls_verify";
    case errc::write_limit:
      return "write_limit";
    case errc::closed:
      return "closed";
    case errc::invalid_argument:
      return "invalid_argument";
  }
  return "unknown";
}

status uv_status(errc code, int uv_code, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += uv_strerror(uv_code);
  return {code, uv_code, std::move(message)};
}

}  // namespace iotgw::net
