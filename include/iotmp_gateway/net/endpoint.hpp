// Host and port as configuration writes them: "broker.example:25204",
// "127.0.0.1:0", "[::1]:8443".
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iotgw::net {

struct endpoint {
  std::string host;  // DNS name or IP literal, without brackets
  std::uint16_t port = 0;

  friend bool operator==(const endpoint&, const endpoint&) = default;
};

// Rejects a missing or out-of-range port, empty hosts and unbalanced brackets;
// an IPv6 literal needs its brackets.
std::optional<endpoint> parse_endpoint(std::string_view text);

// Inverse of parse_endpoint: brackets an IPv6 literal.
std::string format_endpoint(std::string_view host, std::uint16_t port);

bool is_ip_literal(std::string_view host);

// Fills addr for an IPv4 or IPv6 literal; false for anything else.
bool make_socket_address(std::string_view ip, std::uint16_t port, sockaddr_storage& addr);

}  // namespace iotgw::net
