#include "iotmp_gateway/config/rules.hpp"

#include <limits>

namespace iotgw::config {

namespace {

template <typename F>
void for_each_level(std::string_view s, F&& f) {
  std::size_t start = 0;
  while (true) {
    const auto slash = s.find('/', start);
    f(s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start),
      slash == std::string_view::npos);
    if (slash == std::string_view::npos) return;
    start = slash + 1;
  }
}

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// Splits "  64 MiB " into its number and unit; nullopt unless it is digits,
// optional blanks, an optional unit of letters, nothing else.
std::optional<std::pair<std::uint64_t, std::string_view>> number_and_unit(std::string_view t) {
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  std::size_t i = 0;
  std::uint64_t n = 0;
  constexpr auto max = std::numeric_limits<std::uint64_t>::max();
  while (i < t.size() && is_digit(t[i])) {
    const auto d = static_cast<std::uint64_t>(t[i] - '0');
    if (n > (max - d) / 10) return std::nullopt;
    n = n * 10 + d;
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::size_t unit_start = i;
  while (unit_start < t.size() && t[unit_start] == ' ') ++unit_start;
  return std::pair{n, t.substr(unit_start)};
}

std::optional<std::uint64_t> scaled(std::uint64_t n, std::uint64_t factor) {
  if (n > std::numeric_limits<std::uint64_t>::max() / factor) return std::nullopt;
  return n * factor;
}

}  // namespace

std::optional<std::string> topic_filter_problem(std::string_view filter) {
  if (filter.empty()) return "a topic must not be empty";
  if (filter.size() > max_topic_bytes) return "a topic must not be longer than 65535 bytes";
  if (filter.find('\0') != std::string_view::npos) return "a topic must not contain NUL";
  if (!valid_utf8(filter)) return "a topic must be valid UTF-8";
  std::optional<std::string> problem;
  for_each_level(filter, [&](std::string_view level, bool last) {
    if (problem) return;
    if (level.find('+') != std::string_view::npos && level != "+") {
      problem = "'+' must be alone in its level";
    } else if (level.find('#') != std::string_view::npos && (level != "#" || !last)) {
      problem = "'#' must be alone in the last level";
    }
  });
  return problem;
}

std::optional<std::string> topic_name_problem(std::string_view name) {
  if (auto p = topic_filter_problem(name)) return p;
  if (name.find_first_of("+#") != std::string_view::npos) {
    return "a topic name must not contain '+' or '#'";
  }
  return std::nullopt;
}

std::string topic_wildcards(std::string_view filter) {
  std::string out;
  for_each_level(filter, [&](std::string_view level, bool) {
    if (level == "+" || level == "#") out += level[0];
  });
  return out;
}

std::string placeholder_wildcards(std::string_view resource_name) {
  std::string out;
  for_each_level(resource_name, [&](std::string_view segment, bool) {
    if (segment.empty()) return;
    if (segment[0] == ':') out += '+';
    if (segment[0] == '*') out += '#';
  });
  return out;
}

std::string resource_name_problem(std::string_view name) {
  if (name.empty()) return "a resource name must not be empty";
  std::string problem;
  bool rest_seen = false;
  for_each_level(name, [&](std::string_view segment, bool) {
    if (!problem.empty()) return;
    if (rest_seen) {
      problem = "a '*name' placeholder must be the last segment";
    } else if (segment.empty()) {
      problem = "empty segment (leading, trailing or doubled '/')";
    } else if ((segment[0] == ':' || segment[0] == '*') && segment.size() == 1) {
      problem = "a placeholder needs a name (':name' or '*name')";
    }
    if (!segment.empty() && segment[0] == '*') rest_seen = true;
  });
  return problem.empty() ? "malformed resource name" : problem;
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  const auto parts = number_and_unit(text);
  if (!parts) return std::nullopt;
  const auto [n, unit] = *parts;
  if (unit.empty() || unit == "B") return n;
  if (unit == "KiB") return scaled(n, 1ull << 10);
  if (unit == "MiB") return scaled(n, 1ull << 20);
  if (unit == "GiB") return scaled(n, 1ull << 30);
  return std::nullopt;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  const auto parts = number_and_unit(text);
  if (!parts) return std::nullopt;
  const auto [n, unit] = *parts;
  std::uint64_t factor;
  if (unit.empty() || unit == "s") {
    factor = 1;
  } else if (unit == "m") {
    factor = 60;
  } else if (unit == "h") {
    factor = 3600;
  } else if (unit == "d") {
    factor = 86400;
  } else {
    return std::nullopt;
  }
  const auto secs = scaled(n, factor);
  using rep = std::chrono::seconds::rep;
  if (!secs || *secs > static_cast<std::uint64_t>(std::numeric_limits<rep>::max())) {
    return std::nullopt;
  }
  return std::chrono::seconds(static_cast<rep>(*secs));
}

std::optional<std::string> mqtt_uri_problem(std::string_view uri) {
  std::string_view rest;
  if (uri.starts_with("tcp://")) {
    rest = uri.substr(6);
  } else if (uri.starts_with("ssl://")) {
    rest = uri.substr(6);
  } else {
    return "the scheme must be tcp:// or ssl://";
  }
  // A user:password@ part would put a secret in the file; password_file exists for that.
  if (rest.find('@') != std::string_view::npos) {
    return "no user or password in the uri: use username and password_file";
  }
  std::string_view host;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return "unterminated '[' in the host";
    host = rest.substr(1, close - 1);
    rest.remove_prefix(close + 1);
  } else {
    const auto colon = rest.find(':');
    host = rest.substr(0, colon);
    rest.remove_prefix(colon == std::string_view::npos ? rest.size() : colon);
  }
  if (host.empty()) return "the host is missing";
  for (const char c : host) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == 0x7f) {
      return "the host contains a space, '/' or a control character";
    }
  }
  if (!rest.starts_with(':') || rest.size() == 1) return "the port is missing";
  rest.remove_prefix(1);
  std::uint32_t port = 0;
  std::size_t digits = 0;
  while (digits < rest.size() && is_digit(rest[digits]) && port <= 65535) {
    port = port * 10 + static_cast<std::uint32_t>(rest[digits] - '0');
    ++digits;
  }
  if (digits == 0) return "the port must be a number";
  if (digits < rest.size() && !is_digit(rest[digits])) return "nothing may follow the port";
  if (port < 1 || port > 65535) return "the port must be in 1..65535";
  return std::nullopt;
}

}  // namespace iotgw::config
