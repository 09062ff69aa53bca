#include "iotmp_gateway/daemon/command_line.hpp"

namespace iotgw::daemon {

std::optional<command_line> parse_command_line(const std::vector<std::string>& args,
                                               std::string* error) {
  command_line cl;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-c" || a == "--config") {
      if (i + 1 >= args.size()) {
        *error = a + " needs a file";
        return std::nullopt;
      }
      cl.config_path = args[++i];
    } else if (a.starts_with("--config=")) {
      cl.config_path = a.substr(9);
    } else if (a == "--check") {
      cl.check = true;
    } else if (a == "--version") {
      cl.version = true;
    } else if (a == "-v" || a == "--verbose") {
      cl.verbose = true;
    } else if (a == "-h" || a == "--help") {
      cl.help = true;
    } else {
      *error = "unknown argument '" + a + "'";
      return std::nullopt;
    }
  }
  if (cl.config_path.empty()) {
    *error = "-c needs a file";
    return std::nullopt;
  }
  return cl;
}

std::string usage_text() {
  return "usage: iotmp-gateway [-c FILE] [--check] [--version] [-v|--verbose] [--help]\n"
         "\n"
         "Bridges a local MQTT broker to an IOTMP cloud server (Thinger.io or compatible).\n"
         "\n"
         "  -c, --config FILE  configuration file (default /etc/iotmp-gateway/gateway.yaml)\n"
         "  --check            validate the configuration and the credential, print\n"
         "                     'ok: N resources, M streams' or every error, and exit\n"
         "  -v, --verbose      log at debug level\n"
         "  --version          print the version and exit\n"
         "  -h, --help         print this help and exit\n"
         "\n"
         "Exit codes: 0 clean stop, 1 configuration error, 2 usage error, 3 runtime failure.\n"
         "Signals: SIGTERM/SIGINT stop, SIGHUP reloads the configuration.\n";
}

}  // namespace iotgw::daemon
