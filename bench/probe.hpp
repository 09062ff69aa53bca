// What every benchmark message carries: a sequence number and the send time
// (CLOCK_MONOTONIC, the same clock in every process on the host), padded to
// the payload size as a JSON object, so that the gateway's JSON conversion and
// a plain MQTT relay both carry it, and latency is measured where it arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

std::uint64_t now_ns() noexcept;

// {"seq":N,"t":T,"pad":"xx.."} of exactly `size` bytes (at least the bare object).
std::string make_probe(std::uint64_t seq, std::uint64_t t_ns, std::size_t size);
bool parse_probe(std::string_view text, std::uint64_t& seq, std::uint64_t& t_ns) noexcept;

// Sequence numbers at or above this one are warm-up messages, not counted.
constexpr std::uint64_t warmup_seq = 1ull << 60;

// Arrivals of one run, written by one thread at a time.
struct receipts {
  std::uint64_t expected = 0;
  std::uint64_t count = 0;       // distinct measured messages that arrived
  std::uint64_t warmups = 0;     // warm-up messages that arrived
  std::uint64_t warmup_first_ns = 0;
  std::uint64_t first_ns = 0;    // first arrival
  std::uint64_t last_ns = 0;     // last arrival
  std::vector<std::int64_t> latency_ns;  // one per arrival, in arrival order

  // Records one arrival at `at` of a message sent at t_ns.
  void add(std::uint64_t seq, std::uint64_t t_ns, std::uint64_t at);
  std::uint64_t first_warmup_ns() const noexcept { return warmup_first_ns; }
};

struct latency_summary {
  double p50_us = 0, p99_us = 0, max_us = 0;
  std::size_t n = 0;
};
latency_summary summarize(std::vector<std::int64_t> latency_ns);

}  // namespace bench
