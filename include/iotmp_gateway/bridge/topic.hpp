// MQTT topic filters with wildcard captures, and the positional mapping between
// wildcards ('+', '#') and resource placeholders (':x', '*x') of SPEC §3.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iotgw::bridge {

// What a wildcard or placeholder took from a concrete topic or path, in order.
// A '#' capture may hold several levels ("a/b") or none ("").
using wildcard_values = std::vector<std::string>;

// A parsed MQTT topic filter (MQTT 3.1.1 §4.7).
class topic_filter {
 public:
  // nullopt when the text is not a valid filter.
  static std::optional<topic_filter> parse(std::string_view text);

  bool match(std::string_view topic, wildcard_values* captures = nullptr) const;
  bool has_wildcards() const noexcept { return wildcards_ > 0; }
  // The wildcards in order, e.g. "+#" for "a/+/b/#".
  const std::string& signature() const noexcept;
  const std::string& text() const noexcept { return text_; }
  // The concrete topic with each wildcard replaced by its value; nullopt when the
  // values do not fit (count, or a '+' value holding '/' or being empty).
  std::optional<std::string> fill(const wildcard_values& values) const;

 private:
  // The split form only wildcard filters need, shared by copies. A gateway
  // maps thousands of exact topics, each parsed twice (local and cloud side):
  // they carry just the text.
  struct wildcard_form {
    std::vector<std::string> levels;
    std::string signature;
  };
  std::string text_;
  std::shared_ptr<const wildcard_form> wild_;  // null without wildcards
  unsigned wildcards_ = 0;
};

// A resource path pattern's placeholders as a wildcard signature: ':' -> '+', '*' -> '#'.
std::string placeholder_signature(std::string_view resource_pattern);

// The concrete resource path for a pattern and the values of its placeholders,
// or nullopt when they do not fit (a ':' value empty or with '/', a '*' value empty).
std::optional<std::string> fill_placeholders(std::string_view resource_pattern,
                                             const wildcard_values& values);

// True for a valid topic name to publish to: non-empty, no wildcards, no NUL.
bool valid_topic_name(std::string_view topic);

// True when every topic that the filter `inner` matches is also matched by the
// filter `outer` (both valid filters); a filter covers itself.
bool filter_covers(std::string_view outer, std::string_view inner);

}  // namespace iotgw::bridge
