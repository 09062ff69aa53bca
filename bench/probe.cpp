#include "probe.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>

namespace bench {

std::uint64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::string make_probe(std::uint64_t seq, std::uint64_t t_ns, std::size_t size) {
  std::string s = "{\"seq\":" + std::to_string(seq) + ",\"t\":" + std::to_string(t_ns) + ",\"pad\":\"";
  const std::size_t tail = 2;  // "}
  if (s.size() + tail < size) s.append(size - s.size() - tail, 'x');
  s += "\"}";
  return s;
}

namespace {
bool number_after(std::string_view text, std::string_view key, std::uint64_t& out) noexcept {
  const auto at = text.find(key);
  if (at == std::string_view::npos) return false;
  const char* first = text.data() + at + key.size();
  const auto r = std::from_chars(first, text.data() + text.size(), out);
  return r.ec == std::errc();
}
}  // namespace

bool parse_probe(std::string_view text, std::uint64_t& seq, std::uint64_t& t_ns) noexcept {
  return number_after(text, "\"seq\":", seq) && number_after(text, "\"t\":", t_ns);
}

void receipts::add(std::uint64_t seq, std::uint64_t t_ns, std::uint64_t at) {
  if (seq >= warmup_seq) {
    if (warmups++ == 0) warmup_first_ns = at;
    return;
  }
  if (count == 0) first_ns = at;
  last_ns = at;
  ++count;
  latency_ns.push_back(static_cast<std::int64_t>(at - t_ns));
}

latency_summary summarize(std::vector<std::int64_t> v) {
  latency_summary s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return static_cast<double>(v[std::min(i, v.size() - 1)]) / 1000.0;
  };
  s.p50_us = at(0.50);
  s.p99_us = at(0.99);
  s.max_us = static_cast<double>(v.back()) / 1000.0;
  return s;
}

}  // namespace bench
