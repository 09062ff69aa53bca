// The value rules of the configuration (SPEC §3) that do not depend on YAML:
// MQTT topic filters, the pairing of wildcards with resource placeholders,
// sizes and durations. The loader applies them; the bridge may reuse them.
#pragma once

#include "iotmp_gateway/utf8.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iotgw::config {

// Longest topic MQTT 3.1.1 can carry: the length prefix is 16 bits.
inline constexpr std::size_t max_topic_bytes = 65535;

// Why `filter` is not a valid MQTT 3.1.1 topic filter, or nullopt when it is:
// non-empty, valid UTF-8 without NUL, at most 65535 bytes, '+' alone in its
// level, '#' alone in the last level.
std::optional<std::string> topic_filter_problem(std::string_view filter);

// As topic_filter_problem, and no wildcard at all: a topic one can publish to.
std::optional<std::string> topic_name_problem(std::string_view name);

// The wildcard levels of a topic filter, in order, one character each: "a/+/b/#"
// gives "+#". Levels that are not exactly "+" or "#" are ignored.
std::string topic_wildcards(std::string_view filter);

// The wildcard each placeholder of a resource name pairs with, in order: ':x' is
// '+', '*x' is '#'. "rooms/:room/*rest" gives "+#".
std::string placeholder_wildcards(std::string_view resource_name);

// Why resource_pattern::parse refuses `name`, for a message; generic when the
// reason is none of the known ones.
std::string resource_name_problem(std::string_view name);

// "64MiB", "512 KiB", "100B", "4096" (bytes). Units: B, KiB, MiB, GiB.
// nullopt on bad syntax or overflow.
std::optional<std::uint64_t> parse_size(std::string_view text);

// "90", "90s", "15m", "2h", "7d" (no unit: seconds). nullopt on bad syntax or
// overflow.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

// Why `uri` is not an MQTT broker address of the form tcp://HOST:PORT or
// ssl://HOST:PORT (HOST may be a bracketed IPv6 literal), or nullopt when it is.
// The problem never quotes the uri: it could carry a password.
std::optional<std::string> mqtt_uri_problem(std::string_view uri);

// Well-formed UTF-8, as MQTT requires of every string.
using iotgw::valid_utf8;

}  // namespace iotgw::config
