#include "run_report.hpp"

#include <cstdio>

namespace bench {

namespace {
std::string per_100k(const proc_sample& a, const proc_sample& b, std::uint64_t n) {
  if (!a.ok || !b.ok || n == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", (b.cpu_s - a.cpu_s) * 100'000.0 / static_cast<double>(n));
  return buf;
}
}  // namespace

void run_report::print() const {
  const double msgs = seconds > 0 ? static_cast<double>(received) / seconds : 0;
  std::printf(
      "RESULT kind=%s label=%s qos=%d rate=%.0f sent=%llu recv=%llu secs=%.3f msgs=%.0f "
      "relay_cpu=%s broker_cpu=%s relay_hwm_kib=%ld relay_rss_kib=%ld p50=%.0f p99=%.0f max=%.0f "
      "n=%zu %s\n",
      kind.c_str(), label.c_str(), qos, rate, static_cast<unsigned long long>(sent),
      static_cast<unsigned long long>(received), seconds, msgs,
      per_100k(relay_before, relay_after, received).c_str(),
      per_100k(broker_before, broker_after, received).c_str(),
      relay_after.ok ? relay_after.vm_hwm_kib : -1L, relay_after.ok ? relay_after.vm_rss_kib : -1L,
      latency.p50_us, latency.p99_us, latency.max_us, latency.n, extra.c_str());
  std::fflush(stdout);
}

}  // namespace bench
