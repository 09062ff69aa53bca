// Configuration loader: any text gives either a configuration or at least one
// diagnostic, never a crash, a hang or an exception; every diagnostic formats
// and points inside the text; an accepted configuration obeys the rules.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "iotmp_gateway/config/loader.hpp"
#include "iotmp_gateway/config/rules.hpp"

using namespace iotgw::config;

namespace {

const load_options& fuzz_options() {
  static const load_options o = [] {
    load_options opts;
    // No file reads and no real environment: the input alone decides.
    opts.read_secrets = false;
    opts.environment = [](const std::string&) -> std::optional<std::string> {
      return std::nullopt;
    };
    return opts;
  }();
  return o;
}

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto r = parse(text, "fuzz.yaml", fuzz_options());
  check(r.ok() == r.diagnostics.empty());
  std::size_t lines = 1;
  for (const char c : text) lines += c == '\n';
  for (const auto& d : r.diagnostics) {
    check(!d.message.empty());
    check(!to_string(d).empty());
    // yaml-cpp may place an error one line past the last newline (end of input).
    check(d.line <= lines + 1);
    check(d.located() == (d.column != 0));
  }
  if (!r.ok()) return 0;
  const auto& c = *r.config;
  check(!c.cloud.username.empty() && !c.cloud.device.empty());
  check(c.cloud.port != 0);
  check(c.cloud.keepalive.count() >= 1 && c.cloud.keepalive.count() <= 3600);
  check(c.cloud.reconnect_min.count() >= 1 && c.cloud.reconnect_min <= c.cloud.reconnect_max);
  check(!mqtt_uri_problem(c.mqtt.uri));
  check(!topic_name_problem(c.mqtt.status_topic));
  check(!c.mqtt.client_id.empty());
  check(c.max_topic_streams >= 1);
  for (const auto& res : c.resources) {
    check(res.name != "$gateway");
    check(!res.read.empty() || !res.write.empty());
    check(res.qos <= 2);
    if (!res.read.empty()) {
      check(!topic_filter_problem(res.read));
      check(topic_wildcards(res.read) == placeholder_wildcards(res.name));
    }
    if (!res.write.empty()) {
      check(!topic_filter_problem(res.write));
      check(topic_wildcards(res.write) == placeholder_wildcards(res.name));
    }
  }
  for (const auto& s : c.streams) {
    check(!topic_filter_problem(s.local) && !topic_filter_problem(s.cloud));
    check(topic_wildcards(s.local) == topic_wildcards(s.cloud));
    check(s.qos <= 2);
  }
  check(check_summary(c).starts_with("ok: "));
  return 0;
}
