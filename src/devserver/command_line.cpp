#include "iotmp_gateway/devserver/command_line.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string_view>

namespace iotgw::devserver {

namespace {

net::endpoint parse_address(std::string_view option, std::string_view text) {
  auto ep = net::parse_endpoint(text);
  if (!ep) {
    throw usage_error(std::string(option) + ": expected ADDRESS:PORT, got '" + std::string(text) +
                      "'");
  }
  // Listening needs an IP literal; "localhost" is what people type.
  if (ep->host == "localhost") ep->host = "127.0.0.1";
  if (!net::is_ip_literal(ep->host)) {
    throw usage_error(std::string(option) + ": '" + ep->host +
                      "' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, [::1])");
  }
  return *ep;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_seconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    if ((c < '0' || c > '9') && c != '.') return std::nullopt;
  }
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v) || v <= 0 || v > 86400.0 * 365) {
    return std::nullopt;
  }
  const auto ms = static_cast<long long>(std::llround(v * 1000));
  return std::chrono::milliseconds(ms < 1 ? 1 : ms);
}

watch_spec parse_watch(std::string_view text) {
  watch_spec w;
  const auto at = text.rfind('@');
  if (at == std::string_view::npos) {
    w.resource = std::string(text);
  } else {
    w.resource = std::string(text.substr(0, at));
    w.interval = parse_seconds(text.substr(at + 1));
    if (!w.interval) {
      throw usage_error("--watch: '" + std::string(text.substr(at + 1)) +
                        "' is not a number of seconds above 0");
    }
  }
  if (w.resource.empty()) throw usage_error("--watch: the resource name is empty");
  return w;
}

command_line parse_command_line(std::span<const std::string> args) {
  command_line cl;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::optional<std::string_view> inline_value;
    if (arg.starts_with("--")) {
      if (const auto eq = arg.find('='); eq != std::string_view::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
    }
    auto value = [&]() -> std::string_view {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw usage_error(std::string(arg) + " needs a value");
      return args[++i];
    };
    auto no_value = [&] {
      if (inline_value) throw usage_error(std::string(arg) + " takes no value");
    };

    if (arg == "--help" || arg == "-h") {
      no_value();
      cl.help = true;
    } else if (arg == "--version") {
      no_value();
      cl.version = true;
    } else if (arg == "-v" || arg == "--verbose") {
      no_value();
      ++cl.verbosity;
    } else if (arg == "--listen") {
      cl.listen = parse_address(arg, value());
    } else if (arg == "--tls-cert") {
      cl.tls_cert = std::string(value());
    } else if (arg == "--tls-key") {
      cl.tls_key = std::string(value());
    } else if (arg == "--users") {
      cl.users_file = std::string(value());
      if (cl.users_file.empty()) throw usage_error("--users needs a file name");
    } else if (arg == "--allow-any") {
      no_value();
      cl.allow_any = true;
    } else if (arg == "--http") {
      cl.http = parse_address(arg, value());
    } else if (arg == "--watch") {
      cl.watches.push_back(parse_watch(value()));
    } else if (arg == "--idle-timeout") {
      const auto v = value();
      const auto t = parse_seconds(v);
      if (!t) {
        throw usage_error("--idle-timeout: '" + std::string(v) +
                          "' is not a number of seconds above 0");
      }
      cl.idle_timeout = *t;
    } else {
      throw usage_error("unknown argument '" + std::string(args[i]) + "'");
    }
  }
  if (cl.help || cl.version) return cl;
  if (cl.tls_cert.empty() != cl.tls_key.empty()) {
    throw usage_error("--tls-cert and --tls-key go together");
  }
  if (!cl.users_file.empty() && cl.allow_any) {
    throw usage_error("--users and --allow-any exclude each other");
  }
  if (cl.users_file.empty() && !cl.allow_any) {
    throw usage_error("say who may connect: --users FILE, or --allow-any");
  }
  return cl;
}

std::string usage_text() {
  return R"(Usage: iotmp-devserver [OPTIONS] (--users FILE | --allow-any)

A small local IOTMP server for development, demos and tests: devices (such as
iotmp-gateway) connect to it as they would to Thinger.io.

Options:
  --listen ADDR:PORT      where devices connect (default 127.0.0.1:25204;
                          0.0.0.0:PORT or [::]:PORT for every interface)
  --tls-cert FILE         serve TLS with this certificate chain (PEM) ...
  --tls-key FILE          ... and this private key (PEM)
  --users FILE            accept only the devices listed in FILE, one
                          `username device credential` per line, `#` comments,
                          `*` as device for any device of that user
  --allow-any             accept every device, whatever its credential
  --http ADDR:PORT        serve the HTTP/WebSocket API and the web page here
                          (e.g. 127.0.0.1:8080; open http://ADDR:PORT/ in a
                          browser); port 0 picks a free one, printed on stdout
  --watch RES[@SECONDS]   for every device that connects: RUN resource RES once,
                          then stream it (every SECONDS, or on every change) and
                          print each value; may be repeated
  --idle-timeout SECONDS  drop a device silent for this long (default 150)
  -v, --verbose           log debug messages too
  -h, --help              show this help and exit
  --version               show the version and exit

Values go to stdout, one line each (`user/device resource: JSON`, `topic TOPIC:
JSON` for what devices publish on their MQTT streams, connects and disconnects);
logs go to stderr with <N> syslog priority prefixes.

Exit status: 0 stopped by SIGINT/SIGTERM, 1 the users file or TLS files cannot
be loaded, 2 usage error, 3 runtime failure (e.g. cannot listen).
)";
}

}  // namespace iotgw::devserver
