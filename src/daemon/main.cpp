// iotmp-gateway: see SPEC §2 for the command line, exit codes and signals.
#include <syslog.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

#include "iotmp_gateway/config/loader.hpp"
#include "iotmp_gateway/daemon/command_line.hpp"
#include "iotmp_gateway/daemon/gateway.hpp"
#include "iotmp_gateway/net/tls_context.hpp"

using namespace iotgw;

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::string error;
  const auto cl = daemon::parse_command_line({argv + 1, argv + argc}, &error);
  if (!cl) {
    std::cerr << "iotmp-gateway: " << error << "\n" << daemon::usage_text();
    return daemon::exit_usage;
  }
  if (cl->help) {
    std::cout << daemon::usage_text();
    return daemon::exit_ok;
  }
  if (cl->version) {
    std::cout << "iotmp-gateway " << IOTMP_VERSION << "\n";
    return daemon::exit_ok;
  }

  auto loaded = config::load_file(cl->config_path);
  if (cl->check) {
    // Compiler-style lines on stderr, no priority prefix: --check is for people and scripts.
    if (!loaded.ok()) {
      for (const auto& d : loaded.diagnostics) std::cerr << config::to_string(d) << "\n";
      return daemon::exit_config_error;
    }
    std::cout << config::check_summary(*loaded.config) << "\n";
    return daemon::exit_ok;
  }

  daemon::logger log(cl->verbose ? LOG_DEBUG : LOG_INFO);
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) log.log(LOG_ERR, config::to_string(d));
    return daemon::exit_config_error;
  }
  if (!cl->verbose) log.set_max_priority(static_cast<int>(loaded.config->log));

  try {
    uv::loop loop;
    {
      daemon::gateway gw(loop, std::move(*loaded.config), log, IOTMP_VERSION);
      gw.start();
      loop.run();
      gw.stop();
    }
    if (!loop.close()) {
      log.log(LOG_ERR, "event loop did not close cleanly");
      return daemon::exit_runtime_failure;
    }
  } catch (const net::tls_config_error& e) {
    log.log(LOG_ERR, cl->config_path + ": " + e.what());
    return daemon::exit_config_error;
  } catch (const std::exception& e) {
    log.log(LOG_ERR, std::string("fatal: ") + e.what());
    return daemon::exit_runtime_failure;
  }
  log.log(LOG_INFO, "stopped");
  return daemon::exit_ok;
}
