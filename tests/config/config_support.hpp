// Helpers for the configuration tests: source paths, injected environment,
// temporary directories.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>

#include "iotmp_gateway/config/loader.hpp"

namespace config_test {

namespace fs = std::filesystem;

inline fs::path source_dir() {
  return IOTMP_SOURCE_DIR;
}

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_text(const fs::path& p, const std::string& text,
                       fs::perms mode = fs::perms(0600)) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
  fs::permissions(p, mode);
}

// Options that never look at the process environment or the real /etc.
inline iotgw::config::load_options options(std::map<std::string, std::string> env = {},
                                           bool read_secrets = false) {
  iotgw::config::load_options o;
  o.environment = [env = std::move(env)](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  o.read_secrets = read_secrets;
  o.default_credential_file = "/nonexistent/iotmp-gateway-test/credential";
  return o;
}

inline std::vector<std::string> lines(const iotgw::config::load_result& r) {
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics) out.push_back(iotgw::config::to_string(d));
  return out;
}

// A fresh directory under the system temp dir, removed with its content.
class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    for (int i = 0; i < 100; ++i) {
      path_ = fs::temp_directory_path() / ("iotmp-config-test-" + std::to_string(rd()));
      if (fs::create_directory(path_)) return;
    }
    throw std::runtime_error("cannot create a temporary directory");
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const noexcept { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// The smallest valid configuration.
inline constexpr const char* minimal = "cloud:\n  username: alice\n  device: gw01\n";

}  // namespace config_test
