// iotmp-devserver: a local IOTMP server for development, demos and tests (SPEC §8).
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "iotmp_gateway/devserver/command_line.hpp"
#include "iotmp_gateway/devserver/http_server.hpp"
#include "iotmp_gateway/devserver/registry.hpp"
#include "iotmp_gateway/devserver/server.hpp"
#include "iotmp_gateway/devserver/stream_merger.hpp"
#include "iotmp_gateway/devserver/topic_table.hpp"
#include "iotmp_gateway/devserver/users.hpp"
#include "iotmp_gateway/devserver/watcher.hpp"
#include "iotmp_gateway/net/tls_context.hpp"
#include "iotmp_gateway/net/uv_loop.hpp"
#include "iotmp_gateway/net/uv_signal.hpp"

#ifndef IOTMP_VERSION
#define IOTMP_VERSION "unknown"
#endif

namespace {

namespace ds = iotgw::devserver;

constexpr int exit_ok = 0;
constexpr int exit_config = 1;
constexpr int exit_usage = 2;
constexpr int exit_runtime = 3;

int max_priority = 6;  // info; -v adds debug

void log(int priority, std::string_view text) {
  if (priority > max_priority) return;
  // One write per line, so that lines from a crash or a pipe never interleave.
  std::string line = "<" + std::to_string(priority) + ">";
  line += text;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void print_line(std::string_view text) {
  std::string line(text);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  // Someone reads this as it happens (a person, a pipe in a test).
  std::fflush(stdout);
}

int run(const ds::command_line& cl) {
  ds::server_options options;
  options.address = cl.listen.host;
  options.port = cl.listen.port;
  options.idle_timeout = cl.idle_timeout;
  options.allow_any = cl.allow_any;
  options.log = log;
  try {
    if (!cl.users_file.empty()) {
      options.users =
          std::make_shared<const ds::credential_store>(ds::credential_store::load(cl.users_file));
    }
    if (!cl.tls_cert.empty()) {
      options.tls = iotgw::net::tls_context::server({cl.tls_cert, cl.tls_key});
    }
  } catch (const std::exception& e) {
    log(3, e.what());
    return exit_config;
  }
  if (cl.allow_any) log(5, "--allow-any: every device is accepted, whatever its credential");

  iotgw::uv::loop loop;
  int status = exit_ok;
  {
    ds::topic_table topics;
    ds::device_registry registry(topics);
    // Declared in this order so that they go in the reverse one: the HTTP
    // side before the merger its sockets consume through, the merger before
    // the registry.
    ds::stream_merger merger(registry);
    ds::server server(loop, registry, options);
    std::optional<ds::http_server> http;
    if (cl.http) {
      ds::http_options h;
      h.address = cl.http->host;
      h.port = cl.http->port;
      h.log = log;
      http.emplace(loop, registry, merger, std::move(h));
    }
    std::optional<ds::watcher> watch;
    watch.emplace(registry, cl.watches, print_line, log);

    // Signals are watched before the port opens: a test (or systemd) that sees
    // the port listening may send SIGTERM at once, and must get a clean stop.
    std::vector<std::shared_ptr<iotgw::uv::signal>> signals;
    auto stop = [&](int signum) {
      log(6, std::string("stopping on ") + (signum == SIGINT ? "SIGINT" : "SIGTERM"));
      watch.reset();
      server.close();
      // lws closes its connections and handles; the loop runs until they are gone.
      if (http) http->close();
      for (auto& s : signals) s->close();
    };
    for (int signum : {SIGINT, SIGTERM}) {
      auto s = iotgw::uv::signal::create(loop);
      if (const int rc = s->start(signum, stop); rc != 0) {
        log(3, std::string("cannot watch signals: ") + uv_strerror(rc));
        status = exit_runtime;
      }
      signals.push_back(std::move(s));
    }
    if (status == exit_ok) {
      if (auto st = server.start(); !st.ok()) {
        log(3, st.message);
        status = exit_runtime;
      } else if (auto hst = http ? http->start() : iotgw::net::status{}; !hst.ok()) {
        log(3, hst.message);
        status = exit_runtime;
      } else {
        // Runs until the signal handler closed everything.
        loop.run();
      }
    }
    for (auto& s : signals) s->close();
    watch.reset();
    server.close();
    if (http) http->close();
    // Frees the lws context once its handles are closed, before the loop closes.
    http.reset();
  }
  if (!loop.close()) {
    log(3, "the event loop did not close cleanly");
    return exit_runtime;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  // libuv reports EPIPE on a reset connection; the signal would end us.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  ds::command_line cl;
  try {
    cl = ds::parse_command_line(args);
  } catch (const ds::usage_error& e) {
    std::cerr << "iotmp-devserver: " << e.what() << "\nTry 'iotmp-devserver --help'.\n";
    return exit_usage;
  }
  if (cl.help) {
    std::cout << ds::usage_text();
    return exit_ok;
  }
  if (cl.version) {
    std::cout << "iotmp-devserver " << IOTMP_VERSION << "\n";
    return exit_ok;
  }
  if (cl.verbosity > 0) max_priority = 7;
  try {
    return run(cl);
  } catch (const std::exception& e) {
    log(2, std::string("fatal: ") + e.what());
    return exit_runtime;
  }
}
