#include "iotmp_gateway/bridge/topic.hpp"

namespace iotgw::bridge {

namespace {

std::vector<std::string_view> split_levels(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const auto slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

constexpr std::size_t max_topic_length = 65535;

}  // namespace

std::optional<topic_filter> topic_filter::parse(std::string_view text) {
  if (text.empty() || text.size() > max_topic_length) return std::nullopt;
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  topic_filter f;
  f.text_ = std::string(text);
  wildcard_form form;
  const auto levels = split_levels(text);
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const auto level = levels[i];
    const bool has_plus = level.find('+') != std::string_view::npos;
    const bool has_hash = level.find('#') != std::string_view::npos;
    if (has_plus && level != "+") return std::nullopt;
    if (has_hash && (level != "#" || i + 1 != levels.size())) return std::nullopt;
    if (has_plus || has_hash) {
      form.signature.push_back(level[0]);
      ++f.wildcards_;
    }
    form.levels.emplace_back(level);
  }
  if (f.wildcards_ > 0) f.wild_ = std::make_shared<const wildcard_form>(std::move(form));
  return f;
}

const std::string& topic_filter::signature() const noexcept {
  static const std::string none;
  return wild_ ? wild_->signature : none;
}

bool topic_filter::match(std::string_view topic, wildcard_values* captures) const {
  if (captures) captures->clear();
  if (wildcards_ == 0) return topic == text_;
  const auto& levels = wild_->levels;
  // Topics starting with '$' are not matched by a leading wildcard (MQTT §4.7.2).
  if (!topic.empty() && topic[0] == '$' && (levels[0] == "+" || levels[0] == "#")) return false;
  std::size_t pos = 0;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const std::string& level = levels[i];
    if (level == "#") {
      // "a/#" also matches "a" itself: the capture is then empty.
      if (captures) captures->emplace_back(pos <= topic.size() ? topic.substr(pos) : "");
      return true;
    }
    if (pos > topic.size()) {
      return false;
    }
    const auto slash = topic.find('/', pos);
    const auto part =
        topic.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (level == "+") {
      if (captures) captures->emplace_back(part);
    } else if (part != level) {
      return false;
    }
    const bool last = i + 1 == levels.size();
    if (slash == std::string_view::npos) {
      if (last) return true;
      // "a/#" after this level: the topic ended exactly at the parent level.
      if (i + 2 == levels.size() && levels[i + 1] == "#") {
        if (captures) captures->emplace_back();
        return true;
      }
      return false;
    }
    if (last) return false;
    pos = slash + 1;
  }
  return false;
}

std::optional<std::string> topic_filter::fill(const wildcard_values& values) const {
  if (values.size() != wildcards_) return std::nullopt;
  if (wildcards_ == 0) return valid_topic_name(text_) ? std::optional<std::string>(text_) : std::nullopt;
  const auto& levels = wild_->levels;
  std::string out;
  std::size_t next = 0;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const std::string& level = levels[i];
    if (level == "+") {
      const auto& v = values[next++];
      if (v.empty() || v.find('/') != std::string::npos) return std::nullopt;
      if (i > 0) out.push_back('/');
      out += v;
    } else if (level == "#") {
      const auto& v = values[next++];
      if (v.empty()) {
        if (i == 0) return std::nullopt;  // "#" alone with nothing: no topic at all
      } else {
        if (i > 0) out.push_back('/');
        out += v;
      }
    } else {
      if (i > 0) out.push_back('/');
      out += level;
    }
  }
  if (!valid_topic_name(out)) return std::nullopt;
  return out;
}

std::string placeholder_signature(std::string_view resource_pattern) {
  std::string sig;
  for (const auto segment : split_levels(resource_pattern)) {
    if (!segment.empty() && segment[0] == ':') sig.push_back('+');
    if (!segment.empty() && segment[0] == '*') sig.push_back('#');
  }
  return sig;
}

std::optional<std::string> fill_placeholders(std::string_view resource_pattern,
                                             const wildcard_values& values) {
  std::string out;
  std::size_t next = 0;
  bool first = true;
  for (const auto segment : split_levels(resource_pattern)) {
    if (!first) out.push_back('/');
    first = false;
    if (!segment.empty() && (segment[0] == ':' || segment[0] == '*')) {
      if (next >= values.size()) return std::nullopt;
      const auto& v = values[next++];
      if (v.empty() || (segment[0] == ':' && v.find('/') != std::string::npos)) {
        return std::nullopt;
      }
      out += v;
    } else {
      out += segment;
    }
  }
  if (next != values.size()) return std::nullopt;
  return out;
}

bool valid_topic_name(std::string_view topic) {
  return !topic.empty() && topic.size() <= max_topic_length &&
         topic.find_first_of(std::string_view("+#\0", 3)) == std::string_view::npos;
}

bool filter_covers(std::string_view outer, std::string_view inner) {
  const auto o = split_levels(outer);
  const auto i = split_levels(inner);
  // A leading wildcard does not match '$' topics, which a literal level may name.
  if ((o[0] == "+" || o[0] == "#") && !i[0].empty() && i[0][0] == '$') return false;
  for (std::size_t k = 0;; ++k) {
    if (k == o.size()) return k == i.size();
    if (o[k] == "#") return true;  // the rest, whatever it is ("a/#" also takes "a")
    if (k == i.size()) return false;
    if (i[k] == "#") return false;  // inner takes more levels than this one level
    if (o[k] == "+") continue;
    if (i[k] == "+" || o[k] != i[k]) return false;
  }
}

}  // namespace iotgw::bridge
