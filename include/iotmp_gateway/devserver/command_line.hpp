// The command line of iotmp-devserver (SPEC §8), parsed apart from main() so
// that it is tested like the rest.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "iotmp_gateway/net/endpoint.hpp"

namespace iotgw::devserver {

// A wrong command line; main() prints it with a hint and exits 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// --watch RESOURCE[@SECONDS]
struct watch_spec {
  std::string resource;
  std::optional<std::chrono::milliseconds> interval;  // none: an event stream

  friend bool operator==(const watch_spec&, const watch_spec&) = default;
};

struct command_line {
  net::endpoint listen{"127.0.0.1", 25204};
  std::string tls_cert;
  std::string tls_key;
  std::string users_file;
  bool allow_any = false;
  std::optional<net::endpoint> http;
  std::vector<watch_spec> watches;
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(150)};
  int verbosity = 0;  // each -v adds one
  bool help = false;
  bool version = false;
};

// args without the program name. Throws usage_error. Options take their value
// as the next argument or after '=' (--listen=127.0.0.1:25204).
command_line parse_command_line(std::span<const std::string> args);

// "RESOURCE" or "RESOURCE@SECONDS" (SECONDS > 0, decimals allowed); the last
// '@' separates, so resource names may contain '@'. Throws usage_error.
watch_spec parse_watch(std::string_view text);

// Seconds with optional decimals ("2", "0.5"), > 0, as milliseconds (at
// least 1); nullopt for anything else. For --watch, --idle-timeout and the
// HTTP API's ?interval=.
std::optional<std::chrono::milliseconds> parse_seconds(std::string_view text);

std::string usage_text();

}  // namespace iotgw::devserver
