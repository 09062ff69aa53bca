#include "iotmp_gateway/iotmp/resource_registry.hpp"

#include <algorithm>

#include "iotmp_gateway/pson/codec.hpp"

namespace iotgw::iotmp {

namespace {

// Calls f(segment) for each '/'-separated segment of s.
template <typename F>
void for_each_segment(std::string_view s, F&& f) {
  std::size_t start = 0;
  while (true) {
    const auto slash = s.find('/', start);
    f(s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) return;
    start = slash + 1;
  }
}

}  // namespace

std::optional<resource_pattern> resource_pattern::parse(std::string_view text) {
  if (text.empty()) return std::nullopt;
  resource_pattern p;
  p.text_ = std::string(text);
  bool ok = true;
  bool rest_seen = false;
  for_each_segment(text, [&](std::string_view seg) {
    if (seg.empty() || rest_seen) ok = false;
    if (!seg.empty() && (seg[0] == ':' || seg[0] == '*')) {
      if (seg.size() == 1) ok = false;
      p.placeholders_ = true;
      rest_seen = seg[0] == '*';
    }
    p.segments_.emplace_back(seg);
  });
  if (!ok) return std::nullopt;
  return p;
}

bool resource_pattern::match(std::string_view path, captures& out) const {
  out.clear();
  if (!placeholders_) return path == text_;
  std::size_t pos = 0;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    const std::string& seg = segments_[i];
    if (pos > path.size()) return false;
    if (seg[0] == '*') {
      const auto rest = path.substr(pos);
      if (rest.empty()) return false;
      out.emplace_back(seg.substr(1), std::string(rest));
      return true;
    }
    const auto slash = path.find('/', pos);
    const auto part = path.substr(pos, slash == std::string_view::npos ? std::string_view::npos
                                                                        : slash - pos);
    if (seg[0] == ':') {
      if (part.empty()) return false;
      out.emplace_back(seg.substr(1), std::string(part));
    } else if (part != seg) {
      return false;
    }
    const bool last = i + 1 == segments_.size();
    if (last) return slash == std::string_view::npos;
    if (slash == std::string_view::npos) return false;
    pos = slash + 1;
  }
  return false;
}

bool resource::append_sample(const resource_call& call, byte_buffer& out) {
  const auto v = sample(call);
  if (!v) return false;
  pson::encode(*v, out);
  return true;
}

bool resource_registry::add(std::string_view pattern, std::shared_ptr<resource> r) {
  auto parsed = resource_pattern::parse(pattern);
  if (!parsed) return false;
  for (auto& e : entries_) {
    if (e.pattern.text() == pattern) {
      e.target = std::move(r);
      return true;
    }
  }
  entries_.push_back(entry{std::move(*parsed), std::move(r)});
  reindex();
  return true;
}

bool resource_registry::remove(std::string_view pattern) {
  const auto it = std::find_if(entries_.begin(), entries_.end(),
                               [&](const entry& e) { return e.pattern.text() == pattern; });
  if (it == entries_.end()) return false;
  entries_.erase(it);
  reindex();
  return true;
}

void resource_registry::clear() {
  entries_.clear();
  exact_.clear();
}

void resource_registry::reindex() {
  exact_.clear();
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (!entries_[i].pattern.has_placeholders()) exact_.emplace(entries_[i].pattern.text(), i);
  }
}

std::optional<resource_registry::match_result> resource_registry::find(std::string_view path) const {
  if (const auto it = exact_.find(std::string(path)); it != exact_.end()) {
    return match_result{entries_[it->second].target.get(), {}};
  }
  captures caps;
  for (const auto& e : entries_) {
    if (e.pattern.has_placeholders() && e.pattern.match(path, caps)) {
      return match_result{e.target.get(), std::move(caps)};
    }
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, resource_io>> resource_registry::listing() const {
  std::vector<std::pair<std::string, resource_io>> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.emplace_back(e.pattern.text(), e.target->io());
  return out;
}

}  // namespace iotgw::iotmp
