// Loading and validating the configuration (SPEC §3). Backs `iotmp-gateway
// --check` and SIGHUP reload: either a complete gateway_config or every error
// found, each placed as a compiler would place it. Never throws (beyond
// std::bad_alloc), never touches the network.
//
// Relative paths in the file (cloud.ca_file, cloud.credential_file,
// mqtt.password_file, mqtt.tls.*_file, spool.dir) are relative to the directory
// of the configuration file, and are stored made absolute: the daemon may change
// its working directory, and a reload must find the same files.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iotmp_gateway/config/config.hpp"

namespace iotgw::config {

// One error. line/column are 1-based; 0 when the error has no place in the
// YAML (missing file, credential problems): then `file` names the file at fault.
struct diagnostic {
  std::string file;
  unsigned line = 0;
  unsigned column = 0;
  std::string message;  // never holds a credential or password

  bool located() const noexcept { return line != 0; }
  bool operator==(const diagnostic&) const = default;
};

// "FILE:LINE:COL: message", or "FILE: message" when not located (SPEC §2).
std::string to_string(const diagnostic& d);

// Looks an environment variable up; nullopt when unset.
using environment_lookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process environment (std::getenv).
std::optional<std::string> process_environment(const std::string& name);

struct load_options {
  // Where $CREDENTIALS_DIRECTORY comes from; tests inject their own.
  environment_lookup environment = process_environment;
  // When false, credential and password paths are resolved but no file is
  // read (fuzzing, syntax-only checks); credential and password stay empty.
  bool read_secrets = true;
  // The last place the credential is looked for (SPEC §3).
  std::string default_credential_file = "/etc/iotmp-gateway/credential";
};

struct load_result {
  std::optional<gateway_config> config;  // set exactly when diagnostics is empty
  std::vector<diagnostic> diagnostics;   // located ones first, by line and column

  bool ok() const noexcept { return config.has_value(); }
};

// Parses YAML text as if read from `file_name`: diagnostics name it, relative
// paths resolve against its directory.
load_result parse(std::string_view yaml_text, std::string_view file_name,
                  const load_options& options = {});

// Reads and parses a file. A file that cannot be read is one unlocated error.
load_result load_file(const std::string& path, const load_options& options = {});

// The `--check` line: "ok: N resources, M streams" (plural always; the built-in
// $gateway is not counted; a `both` stream is one stream).
std::string check_summary(const gateway_config& config);

}  // namespace iotgw::config
