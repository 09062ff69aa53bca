#include "iotmp_gateway/net/endpoint.hpp"

#include <uv.h>

#include <charconv>

namespace iotgw::net {

std::optional<endpoint> parse_endpoint(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    if (!is_ip_literal(host) || host.find(':') == std::string_view::npos) return std::nullopt;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    // A bare IPv6 literal is ambiguous ("::1:80"): brackets are required.
    if (host.find_first_of(":[]") != std::string_view::npos) return std::nullopt;
  }
  if (host.empty() || port_text.empty()) return std::nullopt;
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return std::nullopt;
  }
  return endpoint{std::string(host), static_cast<std::uint16_t>(port)};
}

std::string format_endpoint(std::string_view host, std::uint16_t port) {
  std::string out;
  if (host.find(':') != std::string_view::npos) {
    out += '[';
    out += host;
    out += ']';
  } else {
    out += host;
  }
  out += ':';
  out += std::to_string(port);
  return out;
}

bool is_ip_literal(std::string_view host) {
  sockaddr_storage addr{};
  return make_socket_address(host, 0, addr);
}

bool make_socket_address(std::string_view ip, std::uint16_t port, sockaddr_storage& addr) {
  if (ip.size() >= INET6_ADDRSTRLEN) return false;
  const std::string text(ip);  // uv_ip*_addr want a terminated string
  addr = {};
  if (uv_ip4_addr(text.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) == 0) return true;
  addr = {};
  return uv_ip6_addr(text.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) == 0;
}

}  // namespace iotgw::net
