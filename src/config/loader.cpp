#include "iotmp_gateway/config/loader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/exceptions.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <span>
#include <system_error>

#include "config/secret_file.hpp"
#include "config/yaml_tree.hpp"
#include "iotmp_gateway/config/rules.hpp"
#include "iotmp_gateway/iotmp/resource_registry.hpp"

namespace iotgw::config {

namespace {

using yaml::node;
namespace fs = std::filesystem;

// A configuration file larger than this is not a configuration file.
constexpr std::size_t max_config_bytes = 16u << 20;

std::string errno_text(int e) {
  return std::error_code(e, std::generic_category()).message();
}

// One "key: value" of a YAML map. The key node gives the place of errors about
// the key (unknown, duplicate, missing value); the value node the place of
// errors about the value.
struct entry {
  std::string name;
  const node* key;
  const node* value;
};

// A map of the schema after the key checks: only known, first-seen keys.
struct section {
  std::string label;  // for messages: "cloud", "resource 'lamp'", "stream"
  YAML::Mark mark;    // where a missing key is reported
  std::vector<entry> entries;

  const entry* find(std::string_view name) const {
    for (const auto& e : entries) {
      if (e.name == name) return &e;
    }
    return nullptr;
  }
};

// Keys a section forbids with a message of their own: secrets never go inline.
struct forbidden_key {
  std::string_view name;
  std::string_view message;
};

constexpr std::string_view top_keys[] = {
    "cloud", "mqtt", "resources", "streams", "max_topic_streams", "spool", "log"};
constexpr std::string_view cloud_keys[] = {"host",
                                           "port",
                                           "tls",
                                           "ca_file",
                                           "insecure_skip_verify",
                                           "username",
                                           "device",
                                           "credential_file",
                                           "keepalive",
                                           "reconnect",
                                           "mqtt_streams"};
constexpr std::string_view reconnect_keys[] = {"min", "max"};
constexpr std::string_view mqtt_keys[] = {"uri", "client_id",    "username", "password_file",
                                          "tls", "status_topic", "keepalive"};
constexpr std::string_view mqtt_tls_keys[] = {"ca_file", "cert_file", "key_file"};
constexpr std::string_view resource_keys[] = {"read", "write", "format", "qos", "retain"};
constexpr std::string_view stream_keys[] = {"local", "cloud", "scope", "qos", "retained", "format"};
constexpr std::string_view spool_keys[] = {"dir", "max_bytes", "max_age", "sync_interval"};
constexpr std::string_view log_keys[] = {"level"};

constexpr forbidden_key cloud_secrets[] = {
    {"credential",
     "the credential is never written in the configuration: put it in a file only its owner "
     "can read and name that file in credential_file"},
    {"password",
     "the credential is never written in the configuration: put it in a file only its owner "
     "can read and name that file in credential_file"},
};
constexpr forbidden_key mqtt_secrets[] = {
    {"password",
     "the MQTT password is never written in the configuration: put it in a file only its "
     "owner can read and name that file in password_file"},
};

template <typename T>
struct choice {
  std::string_view name;
  T value;
};

constexpr choice<payload_format> format_choices[] = {{"json", payload_format::json},
                                                     {"string", payload_format::string},
                                                     {"number", payload_format::number},
                                                     {"bytes", payload_format::bytes},
                                                     {"auto", payload_format::auto_detect}};
constexpr choice<iotmp::mqtt_scope> scope_choices[] = {{"publish", iotmp::mqtt_scope::publish},
                                                       {"subscribe", iotmp::mqtt_scope::subscribe},
                                                       {"both", iotmp::mqtt_scope::both}};
constexpr choice<iotmp::mqtt_stream_scheme> scheme_choices[] = {
    {"spec", iotmp::mqtt_stream_scheme::spec}, {"event", iotmp::mqtt_stream_scheme::event}};
constexpr choice<log_level> level_choices[] = {{"error", log_level::error},
                                               {"warn", log_level::warn},
                                               {"info", log_level::info},
                                               {"debug", log_level::debug}};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string join(std::span<const std::string_view> names) {
  std::string out;
  for (const auto n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// A value as a message shows it: quoted, control bytes escaped, long ones cut
// (a topic may be 64 KiB).
std::string quote(std::string_view s) {
  constexpr std::size_t max_shown = 60;
  std::string out = "'";
  const bool cut = s.size() > max_shown;
  for (const char c : s.substr(0, cut ? max_shown - 3 : s.size())) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  if (cut) out += "...";
  out += '\'';
  return out;
}

// A wrong value as "(got ...)" shows it: bare when it is a simple word or
// number, as the user typed it; quoted otherwise.
std::string got(std::string_view s) {
  const bool simple = !s.empty() && s.size() <= 40 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '+' || c == '_';
  });
  return " (got " + (simple ? std::string(s) : quote(s)) + ")";
}

std::string wildcard_list(const std::string& w) {
  if (w.empty()) return "none";
  std::string out;
  for (const char c : w) {
    if (!out.empty()) out += ' ';
    out += c;
  }
  return out;
}

// How a scalar was written: a plain scalar is resolved by its text (42, true),
// a quoted or !!str one is a string whatever it looks like.
enum class scalar_style : std::uint8_t { plain, quoted, unsupported_tag };

scalar_style style_of(const node& n) {
  const std::string& tag = n.tag;
  if (tag == "?" || tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:bool") {
    return scalar_style::plain;
  }
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return scalar_style::quoted;
  return scalar_style::unsupported_tag;
}

std::optional<std::int64_t> parse_integer(std::string_view t) {
  bool negative = false;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
    negative = t[0] == '-';
    t.remove_prefix(1);
  }
  if (t.empty()) return std::nullopt;
  std::int64_t n = 0;
  for (const char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
    // Saturate: anything this large is out of every range and reported as such.
    if (n < std::numeric_limits<std::int64_t>::max() / 10) n = n * 10 + (c - '0');
  }
  return negative ? -n : n;
}

std::optional<bool> parse_bool(std::string_view t) {
  // YAML 1.2 core schema only: "yes", "on", "y" are strings, not booleans.
  if (t == "true" || t == "True" || t == "TRUE") return true;
  if (t == "false" || t == "False" || t == "FALSE") return false;
  return std::nullopt;
}

// Where the first line indented with a tab has it, if any line is.
std::optional<YAML::Mark> first_indenting_tab(std::string_view text) {
  int line = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const auto indent_end = text.find_first_not_of(" \t", start);
    const auto tab = text.find('\t', start);
    if (indent_end != std::string_view::npos && indent_end < end && tab < indent_end) {
      YAML::Mark m;
      m.line = line;
      m.column = static_cast<int>(tab - start);
      return m;
    }
    start = end + 1;
    ++line;
  }
  return std::nullopt;
}

class loader {
 public:
  loader(std::string_view file_name, const load_options& options)
      : file_(file_name), base_dir_(fs::path(file_name).parent_path()), options_(options) {}

  void run(std::string_view text) {
    yaml::document document;
    try {
      document = yaml::parse_document(text);
    } catch (const YAML::DeepRecursion& e) {
      error(e.mark, "nesting too deep");
      return;
    } catch (const YAML::ParserException& e) {
      error(e.mark, e.msg);
      // yaml-cpp's word for a tab in the indentation ("illegal map value", at
      // the value) does not name the cause; point at the tab too.
      if (const auto tab = first_indenting_tab(text))
        error(*tab, "a tab in the indentation (YAML indents with spaces)");
      return;
    }
    for (const auto& p : document.problems) error(p.mark, p.message);
    if (document.root->is_null()) {
      if (document.problems.empty()) unlocated(file_, "the configuration is empty");
      return;
    }
    root(*document.root);
  }

  load_result finish() {
    // Sorted as a compiler prints: by place; the unplaced ones (files) last.
    std::stable_sort(diagnostics_.begin(), diagnostics_.end(),
                     [](const diagnostic& a, const diagnostic& b) {
                       if (a.located() != b.located()) return a.located();
                       return std::pair{a.line, a.column} < std::pair{b.line, b.column};
                     });
    // An alias used twice yields the same error twice; once is enough. Equal
    // diagnostics share a place, so after the sort only that place's run is searched.
    std::vector<diagnostic> unique;
    std::size_t run_start = 0;
    for (auto& d : diagnostics_) {
      if (!unique.empty() && (unique.back().line != d.line || unique.back().column != d.column)) {
        run_start = unique.size();
      }
      const auto run = unique.begin() + static_cast<std::ptrdiff_t>(run_start);
      if (std::find(run, unique.end(), d) == unique.end()) unique.push_back(std::move(d));
    }
    load_result r;
    r.diagnostics = std::move(unique);
    if (r.diagnostics.empty()) r.config = std::move(config_);
    return r;
  }

  void unlocated(std::string file, std::string message) {
    diagnostics_.push_back(diagnostic{std::move(file), 0, 0, std::move(message)});
  }

 private:
  // ---- reporting -------------------------------------------------------------

  void error(const YAML::Mark& m, std::string message) {
    if (m.is_null() || m.line < 0 || m.column < 0) {
      unlocated(file_, std::move(message));
      return;
    }
    diagnostics_.push_back(diagnostic{file_, static_cast<unsigned>(m.line) + 1,
                                      static_cast<unsigned>(m.column) + 1, std::move(message)});
  }

  // Errors about a value go to the value; a missing value has no place of its
  // own (yaml-cpp marks it where the next token starts), so it goes to its key.
  void value_error(const entry& e, std::string message) {
    error(e.value->is_null() ? e.key->mark : e.value->mark, std::move(message));
  }

  // ---- maps ------------------------------------------------------------------

  // Checks the keys of a map: plain names, no duplicates (reported at the
  // second), none unknown. Null (a section with everything commented out) is an
  // empty map. nullopt when `node` is not a map at all.
  std::optional<section> read_map(const node& map, const YAML::Mark& mark, std::string label,
                                  std::string_view what, std::span<const std::string_view> allowed,
                                  std::span<const forbidden_key> forbidden = {}) {
    section s{std::move(label), mark, {}};
    if (map.is_null()) return s;
    if (!map.is_map()) {
      error(map.mark, std::string(what) + " must be a map");
      return std::nullopt;
    }
    std::map<std::string, YAML::Mark, std::less<>> seen;
    for (const auto& [key, value] : map.pairs) {
      if (!key->is_scalar()) {
        error(key->mark, "a key must be a plain name");
        continue;
      }
      const std::string& name = key->value;
      if (const auto [first, inserted] = seen.emplace(name, key->mark); !inserted) {
        error(key->mark, "duplicate key " + quote(name) + " (first at line " +
                             std::to_string(first->second.line + 1) + ")");
        continue;
      }
      const auto f = std::find_if(forbidden.begin(), forbidden.end(),
                                  [&](const forbidden_key& k) { return k.name == name; });
      if (f != forbidden.end()) {
        error(key->mark, std::string(f->message));
        continue;
      }
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        error(key->mark, unknown_key_message(name, s.label, allowed));
        continue;
      }
      s.entries.push_back(entry{name, key.get(), value.get()});
    }
    return s;
  }

  static std::string unknown_key_message(const std::string& name, const std::string& label,
                                         std::span<const std::string_view> allowed) {
    std::string m = "unknown key " + quote(name) + " in " + label;
    std::string_view best;
    std::size_t best_distance = 3;  // a typo is at most two edits away
    for (const auto a : allowed) {
      const auto d = edit_distance(name, a);
      if (d < best_distance) {
        best = a;
        best_distance = d;
      }
    }
    if (!best.empty()) return m + " (did you mean '" + std::string(best) + "'?)";
    return m + " (expected one of: " + join(allowed) + ")";
  }

  // A sub-map held by an entry (cloud.reconnect, mqtt.tls, a resource...).
  std::optional<section> read_map(const entry& e, std::string label, std::string_view what,
                                  std::span<const std::string_view> allowed,
                                  std::span<const forbidden_key> forbidden = {}) {
    return read_map(*e.value, e.key->mark, std::move(label), what, allowed, forbidden);
  }

  void missing(const section& s, std::string_view key) {
    error(s.mark, "missing required key '" + std::string(key) + "' in " + s.label);
  }

  // ---- scalars -----------------------------------------------------------------

  // The scalar of an entry, or nullopt after reporting why there is none.
  std::optional<std::string> scalar(const entry& e, std::string_view expected) {
    if (e.value->is_null()) {
      value_error(e, e.name + " has no value");
      return std::nullopt;
    }
    if (!e.value->is_scalar()) {
      value_error(e, e.name + " must be " + std::string(expected));
      return std::nullopt;
    }
    if (style_of(*e.value) == scalar_style::unsupported_tag) {
      value_error(e, "unsupported tag " + quote(e.value->tag) + " on " + e.name);
      return std::nullopt;
    }
    return e.value->value;
  }

  std::optional<std::string> text(const entry& e) {
    auto s = scalar(e, "a string");
    if (s && s->empty()) {
      value_error(e, e.name + " must not be empty");
      return std::nullopt;
    }
    return s;
  }

  // Names that end up in topics and client ids: printable, valid UTF-8.
  std::optional<std::string> name_text(const entry& e, bool no_topic_chars) {
    auto s = text(e);
    if (!s) return s;
    const bool bad_char = std::any_of(s->begin(), s->end(), [&](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u <= ' ' || u == 0x7f || (no_topic_chars && (c == '/' || c == '+' || c == '#'));
    });
    if (bad_char || !valid_utf8(*s)) {
      value_error(e, e.name + (no_topic_chars ? " must not contain '/', '+', '#', spaces or "
                                                "control characters"
                                              : " must not contain spaces or control characters"));
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::string> path(const entry& e) {
    auto s = text(e);
    if (!s) return s;
    if (s->find('\0') != std::string::npos) {
      value_error(e, e.name + " must not contain NUL");
      return std::nullopt;
    }
    return resolve(*s);
  }

  std::string resolve(const std::string& p) const {
    fs::path full(p);
    if (full.is_relative()) full = base_dir_ / full;
    std::error_code ec;
    auto absolute = fs::absolute(full, ec);
    return ec ? full.string() : absolute.string();
  }

  std::optional<bool> boolean(const entry& e) {
    const auto s = scalar(e, "true or false");
    if (!s) return std::nullopt;
    if (style_of(*e.value) == scalar_style::quoted) {
      value_error(e, e.name + " must be true or false, not a quoted string");
      return std::nullopt;
    }
    const auto b = parse_bool(*s);
    if (!b) value_error(e, e.name + " must be true or false" + got(*s));
    return b;
  }

  std::optional<std::int64_t> integer(const entry& e, std::int64_t lo, std::int64_t hi) {
    const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
    const auto s = scalar(e, "an integer in " + range);
    if (!s) return std::nullopt;
    if (style_of(*e.value) == scalar_style::quoted) {
      value_error(e, e.name + " must be an integer in " + range + ", not a quoted string");
      return std::nullopt;
    }
    const auto n = parse_integer(*s);
    if (!n || *n < lo || *n > hi) {
      value_error(e, e.name + " must be an integer in " + range + got(*s));
      return std::nullopt;
    }
    return n;
  }

  std::optional<std::chrono::seconds> duration(const entry& e, std::int64_t lo_s,
                                               std::optional<std::int64_t> hi_s) {
    const auto s = scalar(e, "a duration");
    if (!s) return std::nullopt;
    const auto d = parse_duration(*s);
    if (!d) {
      value_error(e, e.name +
                         " must be a duration: a whole number with an optional unit s, m, "
                         "h or d" +
                         got(*s));
      return std::nullopt;
    }
    if (d->count() < lo_s || (hi_s && d->count() > *hi_s)) {
      value_error(
          e, e.name + " must be " +
                 (hi_s ? "between " + std::to_string(lo_s) + " and " + std::to_string(*hi_s) +
                             " seconds"
                       : "at least " + std::to_string(lo_s) + " second" + (lo_s == 1 ? "" : "s")) +
                 got(*s));
      return std::nullopt;
    }
    return d;
  }

  std::optional<std::uint64_t> size(const entry& e) {
    const auto s = scalar(e, "a size");
    if (!s) return std::nullopt;
    const auto n = parse_size(*s);
    if (!n) {
      value_error(e, e.name +
                         " must be a size: a whole number with an optional unit B, KiB, "
                         "MiB or GiB" +
                         got(*s));
      return std::nullopt;
    }
    if (*n == 0) {
      value_error(e, e.name + " must be greater than 0");
      return std::nullopt;
    }
    return n;
  }

  template <typename T, std::size_t N>
  std::optional<T> one_of(const entry& e, const choice<T> (&choices)[N]) {
    std::string names;
    for (const auto& c : choices) names += (names.empty() ? "" : ", ") + std::string(c.name);
    const auto s = scalar(e, "one of " + names);
    if (!s) return std::nullopt;
    for (const auto& c : choices) {
      if (c.name == *s) return c.value;
    }
    value_error(e, e.name + " must be one of " + names + got(*s));
    return std::nullopt;
  }

  // ---- topics ------------------------------------------------------------------

  // `role` names the topic in messages: "read topic", "cloud topic"...
  std::optional<std::string> topic(const entry& e, std::string_view role, bool wildcards_allowed) {
    auto s = scalar(e, "a topic");
    if (!s) return s;
    auto problem = wildcards_allowed ? topic_filter_problem(*s) : topic_name_problem(*s);
    if (problem) {
      value_error(e, "invalid " + std::string(role) + " " + quote(*s) + ": " + *problem);
      return std::nullopt;
    }
    return s;
  }

  // ---- sections ------------------------------------------------------------------

  void root(const node& n) {
    if (!n.is_map()) {
      error(n.mark,
            "the configuration must be a map of sections (cloud, mqtt, resources, "
            "streams, spool, log)");
      return;
    }
    const auto top = read_map(n, n.mark, "the top level", "the configuration", top_keys);
    config_.path = file_;
    const entry* cloud_entry = top->find("cloud");
    if (!cloud_entry) {
      error(n.mark, "missing required section 'cloud' (it names username and device)");
    }
    const auto device = cloud_entry ? cloud(*cloud_entry) : std::nullopt;
    const entry* mqtt_entry = top->find("mqtt");
    mqtt(mqtt_entry, device);
    if (const auto* e = top->find("resources")) resources(*e);
    if (const auto* e = top->find("streams")) streams(*e);
    if (const auto* e = top->find("max_topic_streams")) {
      if (auto v = integer(*e, 1, std::numeric_limits<std::uint32_t>::max())) {
        config_.max_topic_streams = static_cast<std::uint32_t>(*v);
      }
    }
    if (const auto* e = top->find("spool")) spool(*e);
    if (const auto* e = top->find("log")) log(*e);
  }

  // Returns the device name, which the mqtt defaults are made of.
  std::optional<std::string> cloud(const entry& section_entry) {
    auto& c = config_.cloud;
    const auto s = read_map(section_entry, "cloud", "cloud", cloud_keys, cloud_secrets);
    if (!s) return std::nullopt;
    std::optional<std::string> device;
    bool port_given = false;
    bool credential_file_ok = true;
    std::optional<entry> reconnect_min, reconnect_max;
    for (const auto& e : s->entries) {
      if (e.name == "host") {
        if (auto v = name_text(e, false)) c.host = *v;
      } else if (e.name == "port") {
        port_given = true;
        if (auto v = integer(e, 1, 65535)) c.port = static_cast<std::uint16_t>(*v);
      } else if (e.name == "tls") {
        if (auto v = boolean(e)) c.tls = *v;
      } else if (e.name == "ca_file") {
        if (auto v = path(e)) c.ca_file = *v;
      } else if (e.name == "insecure_skip_verify") {
        if (auto v = boolean(e)) c.insecure_skip_verify = *v;
      } else if (e.name == "username") {
        if (auto v = text(e)) c.username = *v;
      } else if (e.name == "device") {
        device = name_text(e, true);
        if (device) c.device = *device;
      } else if (e.name == "credential_file") {
        auto v = path(e);
        credential_file_ok = v.has_value();
        if (v) c.credential_file = *v;
      } else if (e.name == "keepalive") {
        if (auto v = duration(e, 1, 3600)) c.keepalive = *v;
      } else if (e.name == "reconnect") {
        const auto r = read_map(e, "cloud.reconnect", "reconnect", reconnect_keys);
        if (!r) continue;
        for (const auto& re : r->entries) {
          const auto v = duration(re, 1, std::nullopt);
          if (!v) continue;
          if (re.name == "min") {
            c.reconnect_min = *v;
            reconnect_min = re;
          } else {
            c.reconnect_max = *v;
            reconnect_max = re;
          }
        }
      } else if (e.name == "mqtt_streams") {
        if (auto v = one_of(e, scheme_choices)) c.mqtt_streams = *v;
      }
    }
    if (!s->find("username")) missing(*s, "username");
    if (!s->find("device")) missing(*s, "device");
    if (!port_given) c.port = c.tls ? 25206 : 25204;
    if ((reconnect_min || reconnect_max) && c.reconnect_min > c.reconnect_max) {
      // Point at what the user wrote last about it: max if given, else min.
      const entry& at = reconnect_max ? *reconnect_max : *reconnect_min;
      value_error(at, "reconnect.min (" + std::to_string(c.reconnect_min.count()) +
                          " s) must not be greater than reconnect.max (" +
                          std::to_string(c.reconnect_max.count()) + " s)");
    }
    if (credential_file_ok) credential(s->find("credential_file") != nullptr);
    return device;
  }

  // SPEC §3: explicit credential_file; else $CREDENTIALS_DIRECTORY/credential
  // (systemd LoadCredential=); else the default file.
  void credential(bool explicit_file) {
    auto& c = config_.cloud;
    std::string hint;
    if (!explicit_file) {
      const auto dir =
          options_.environment ? options_.environment("CREDENTIALS_DIRECTORY") : std::nullopt;
      if (dir && !dir->empty()) {
        c.credential_file = (fs::path(*dir) / "credential").string();
        hint = " (looked for because $CREDENTIALS_DIRECTORY is set)";
      } else {
        c.credential_file = options_.default_credential_file;
      }
    }
    if (!options_.read_secrets) return;
    if (auto problem = read_secret_file(c.credential_file, "credential", c.credential)) {
      unlocated(c.credential_file, *problem + hint);
    }
  }

  void mqtt(const entry* section_entry, const std::optional<std::string>& device) {
    auto& m = config_.mqtt;
    std::optional<section> s;
    if (section_entry) {
      s = read_map(*section_entry, "mqtt", "mqtt", mqtt_keys, mqtt_secrets);
      if (!s) return;
    }
    const entry* tls_entry = nullptr;
    const entry* password_entry = nullptr;
    bool uri_ok = true;
    bool password_file_ok = false;
    if (s) {
      for (const auto& e : s->entries) {
        if (e.name == "uri") {
          const auto v = scalar(e, "a tcp:// or ssl:// uri");
          uri_ok = v.has_value();
          if (!v) continue;
          if (auto problem = mqtt_uri_problem(*v)) {
            // The uri is not quoted back: a user:password@ part would leak.
            value_error(e, "uri must be tcp://HOST:PORT or ssl://HOST:PORT: " + *problem);
            uri_ok = false;
          } else {
            m.uri = *v;
          }
        } else if (e.name == "client_id") {
          if (auto v = name_text(e, false)) m.client_id = *v;
        } else if (e.name == "username") {
          if (auto v = text(e)) m.username = *v;
        } else if (e.name == "password_file") {
          password_entry = &e;
          auto v = path(e);
          password_file_ok = v.has_value();
          if (v) m.password_file = *v;
        } else if (e.name == "tls") {
          tls_entry = &e;
          mqtt_tls(e);
        } else if (e.name == "status_topic") {
          if (auto v = topic(e, "status_topic", false)) m.status_topic = *v;
        } else if (e.name == "keepalive") {
          if (auto v = duration(e, 1, 3600)) m.keepalive = *v;
        }
      }
    }
    if (tls_entry && uri_ok && !m.uri.starts_with("ssl://")) {
      error(tls_entry->key->mark, "mqtt.tls applies only to an ssl:// uri");
    }
    if (password_entry && !(s && s->find("username"))) {
      // MQTT 3.1.1 §3.1.2.9: no password without a user name.
      error(password_entry->key->mark,
            "password_file needs mqtt.username: MQTT sends no "
            "password without a user name");
    }
    if (device) {
      if (m.client_id.empty()) m.client_id = "iotmp-gateway-" + *device;
      if (m.status_topic.empty()) m.status_topic = "iotmp-gateway/" + *device + "/status";
    }
    if (password_file_ok && options_.read_secrets) {
      if (auto problem = read_secret_file(m.password_file, "MQTT password", m.password)) {
        unlocated(m.password_file, *problem);
      }
    }
  }

  void mqtt_tls(const entry& e) {
    auto& t = config_.mqtt.tls;
    const auto s = read_map(e, "mqtt.tls", "mqtt.tls", mqtt_tls_keys);
    if (!s) return;
    for (const auto& f : s->entries) {
      auto v = path(f);
      if (!v) continue;
      if (f.name == "ca_file") t.ca_file = *v;
      if (f.name == "cert_file") t.cert_file = *v;
      if (f.name == "key_file") t.key_file = *v;
    }
    const auto* cert = s->find("cert_file");
    const auto* key = s->find("key_file");
    if (cert && !key)
      error(cert->key->mark,
            "cert_file needs key_file (a client certificate "
            "comes with its private key)");
    if (key && !cert)
      error(key->key->mark,
            "key_file needs cert_file (a client certificate "
            "comes with its private key)");
  }

  void resources(const entry& e) {
    if (e.value->is_null()) return;
    if (!e.value->is_map()) {
      value_error(e, "resources must be a map of resource name to its read and write topics");
      return;
    }
    std::map<std::string, YAML::Mark, std::less<>> seen;
    for (const auto& [key, value] : e.value->pairs) {
      if (!key->is_scalar()) {
        error(key->mark, "a resource name must be a plain string");
        continue;
      }
      const std::string& name = key->value;
      if (const auto [first, inserted] = seen.emplace(name, key->mark); !inserted) {
        error(key->mark, "duplicate key " + quote(name) + " (first at line " +
                             std::to_string(first->second.line + 1) + ")");
        continue;
      }
      resource(entry{name, key.get(), value.get()});
    }
  }

  void resource(const entry& e) {
    resource_config r;
    r.name = e.name;
    const std::string label = "resource " + quote(e.name);
    bool name_ok = false;
    if (e.name == "$gateway") {
      error(e.key->mark,
            "the resource name '$gateway' is reserved for the built-in status "
            "resource");
    } else if (!iotmp::resource_pattern::parse(e.name)) {
      error(e.key->mark,
            "invalid resource name " + quote(e.name) + ": " + resource_name_problem(e.name));
    } else {
      name_ok = true;
    }
    if (e.value->is_null()) {
      error(e.key->mark, label + " has neither read nor write");
      return;
    }
    const auto s = read_map(e, label, label, resource_keys);
    if (!s) return;
    const std::string placeholders = placeholder_wildcards(e.name);
    const auto check_pairing = [&](const entry& t, const std::string& topic_text,
                                   std::string_view role) {
      const auto wildcards = topic_wildcards(topic_text);
      if (name_ok && wildcards != placeholders) {
        value_error(t, "the wildcards of " + std::string(role) + " " + quote(topic_text) + " (" +
                           wildcard_list(wildcards) + ") do not match the placeholders of " +
                           label + " (" + wildcard_list(placeholders) +
                           "): ':name' pairs with '+' and '*name' with '#', in order");
      }
    };
    for (const auto& f : s->entries) {
      if (f.name == "read") {
        if (auto v = topic(f, "read topic", true)) {
          check_pairing(f, *v, "read topic");
          r.read = *v;
        }
      } else if (f.name == "write") {
        // A write topic is a topic name whose '+' and '#' levels stand for the
        // placeholders; the wildcard rules say where such levels may be.
        if (auto v = topic(f, "write topic", true)) {
          check_pairing(f, *v, "write topic");
          r.write = *v;
        }
      } else if (f.name == "format") {
        if (auto v = one_of(f, format_choices)) r.format = *v;
      } else if (f.name == "qos") {
        if (auto v = integer(f, 0, 2)) r.qos = static_cast<unsigned>(*v);
      } else if (f.name == "retain") {
        if (auto v = boolean(f)) r.retain = *v;
      }
    }
    if (!s->find("read") && !s->find("write")) {
      error(e.key->mark, label + " has neither read nor write");
    }
    config_.resources.push_back(std::move(r));
  }

  void streams(const entry& e) {
    if (e.value->is_null()) return;
    if (!e.value->is_sequence()) {
      value_error(e, "streams must be a list");
      return;
    }
    // Exactly as many as listed: with thousands of topics, growth by doubling
    // would leave a third of this list's memory unused for the daemon's lifetime.
    config_.streams.reserve(config_.streams.size() + e.value->items.size());
    for (const auto& item : e.value->items) stream(*item);
  }

  void stream(const node& n) {
    if (!n.is_map()) {
      error(n.mark, "a stream must be a map with at least 'local'");
      return;
    }
    stream_config st;
    const auto s = read_map(n, n.mark, "stream", "a stream", stream_keys);
    std::optional<std::string> local;
    const entry* cloud_entry = nullptr;
    for (const auto& f : s->entries) {
      if (f.name == "local") {
        local = topic(f, "local topic filter", true);
        if (local) st.local = *local;
      } else if (f.name == "cloud") {
        cloud_entry = &f;
        if (auto v = topic(f, "cloud topic", true)) st.cloud = *v;
      } else if (f.name == "scope") {
        if (auto v = one_of(f, scope_choices)) st.scope = *v;
      } else if (f.name == "qos") {
        if (auto v = integer(f, 0, 2)) st.qos = static_cast<unsigned>(*v);
      } else if (f.name == "retained") {
        if (auto v = boolean(f)) st.retained = *v;
      } else if (f.name == "format") {
        if (auto v = one_of(f, format_choices)) st.format = *v;
      }
    }
    if (!s->find("local")) missing(*s, "local");
    if (!cloud_entry) st.cloud = st.local;
    if (local && cloud_entry && !st.cloud.empty()) {
      const auto lw = topic_wildcards(st.local);
      const auto cw = topic_wildcards(st.cloud);
      if (lw != cw) {
        value_error(*cloud_entry, "the wildcards of cloud topic " + quote(st.cloud) + " (" +
                                      wildcard_list(cw) + ") do not match those of local topic " +
                                      "filter " + quote(st.local) + " (" + wildcard_list(lw) +
                                      "): they pair in order");
      }
    }
    config_.streams.push_back(std::move(st));
  }

  void spool(const entry& e) {
    auto& sp = config_.spool;
    const auto s = read_map(e, "spool", "spool", spool_keys);
    if (!s) return;
    for (const auto& f : s->entries) {
      if (f.name == "dir") {
        if (auto v = path(f)) sp.dir = *v;
      } else if (f.name == "max_bytes") {
        if (auto v = size(f)) sp.max_bytes = *v;
      } else if (f.name == "max_age") {
        if (auto v = duration(f, 1, std::nullopt)) sp.max_age = *v;
      } else if (f.name == "sync_interval") {
        if (auto v = duration(f, 0, 3600)) sp.sync_interval = *v;
      }
    }
  }

  void log(const entry& e) {
    const auto s = read_map(e, "log", "log", log_keys);
    if (!s) return;
    if (const auto* f = s->find("level")) {
      if (auto v = one_of(*f, level_choices)) config_.log = *v;
    }
  }

  std::string file_;
  fs::path base_dir_;
  const load_options& options_;
  gateway_config config_;
  std::vector<diagnostic> diagnostics_;
};

}  // namespace

std::string to_string(const diagnostic& d) {
  if (!d.located()) return d.file + ": " + d.message;
  return d.file + ":" + std::to_string(d.line) + ":" + std::to_string(d.column) + ": " + d.message;
}

std::optional<std::string> process_environment(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (!v) return std::nullopt;
  return std::string(v);
}

load_result parse(std::string_view yaml_text, std::string_view file_name,
                  const load_options& options) {
  loader l(file_name, options);
  // yaml-cpp reports through exceptions; none may leave this API. Parser errors
  // are handled inside run(); anything else is a bug worth a message, not a crash.
  try {
    l.run(yaml_text);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    l.unlocated(std::string(file_name), std::string("internal error while loading: ") + e.what());
  }
  return l.finish();
}

load_result load_file(const std::string& path, const load_options& options) {
  const auto fail = [&](std::string message) {
    load_result r;
    r.diagnostics.push_back(diagnostic{path, 0, 0, std::move(message)});
    return r;
  };
  // Plain open/read rather than a stream: errno names the cause (missing,
  // permission). Not only regular files: `-c <(generate)` is a pipe.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return fail("cannot read the configuration: " + errno_text(errno));
  std::string text;
  std::optional<std::string> problem;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    problem = "cannot read the configuration: " + errno_text(errno);
  } else if (S_ISDIR(st.st_mode)) {
    problem = "cannot read the configuration: it is a directory";
  } else {
    char buffer[65536];
    while (true) {
      const auto n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        problem = "cannot read the configuration: " + errno_text(errno);
        break;
      }
      if (n == 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
      if (text.size() > max_config_bytes) {
        problem = "the configuration is larger than 16 MiB";
        break;
      }
    }
  }
  ::close(fd);
  if (problem) return fail(*problem);
  return parse(text, path, options);
}

std::string check_summary(const gateway_config& config) {
  return "ok: " + std::to_string(config.resources.size()) + " resources, " +
         std::to_string(config.streams.size()) + " streams";
}

}  // namespace iotgw::config
