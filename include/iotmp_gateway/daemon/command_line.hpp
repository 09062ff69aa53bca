// iotmp-gateway [-c FILE] [--check] [--version] [-v|--verbose] [--help] (SPEC §2).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace iotgw::daemon {

inline constexpr const char* default_config_path = "/etc/iotmp-gateway/gateway.yaml";

struct command_line {
  std::string config_path = default_config_path;
  bool check = false;
  bool version = false;
  bool verbose = false;
  bool help = false;
};

// nullopt with *error set on a usage error (exit code 2).
std::optional<command_line> parse_command_line(const std::vector<std::string>& args,
                                               std::string* error);
std::string usage_text();

// Exit codes (SPEC §2).
inline constexpr int exit_ok = 0;
inline constexpr int exit_config_error = 1;
inline constexpr int exit_usage = 2;
inline constexpr int exit_runtime_failure = 3;

}  // namespace iotgw::daemon
