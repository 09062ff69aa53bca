// Write cost of the spool: 100-byte records appended the way the router does
// while the cloud is down (a batch per loop turn, one write() per batch),
// fdatasync batched by count, or after every batch. bench/spool_vs_sqlite.py
// runs the same load through SQLite (WAL) for comparison.
//
//   spool_bench --benchmark_counters_tabular=true
//   SPOOL_BENCH_DIR=/var/tmp spool_bench    (default: $TMPDIR or /tmp)
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "iotmp_gateway/spool/spool.hpp"

namespace fs = std::filesystem;
using namespace iotgw;

namespace {

constexpr std::size_t record_size = 100;
constexpr int batch = 64;  // records per loop turn

fs::path bench_dir() {
  const char* base = std::getenv("SPOOL_BENCH_DIR");
  fs::path p = base ? fs::path(base) : fs::temp_directory_path();
  p /= "iotmp-spool-bench-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
  return p;
}

// Appends state.iterations() records to one queue, flushing every `batch`.
// sync_records: fdatasync after that many records; 0 = after every batch.
void append_load(benchmark::State& state, std::uint32_t sync_records) {
  const auto dir = bench_dir();
  {
    spool::options o;
    o.dir = dir.string();
    o.max_bytes = 1ull << 30;
    o.sync_interval = sync_records == 0 ? std::chrono::milliseconds(0) : std::chrono::milliseconds(1000);
    o.sync_records = sync_records == 0 ? 1 : sync_records;
    spool::spool s(o);
    const auto q = s.queue("gw01/bench");
    byte_buffer payload(record_size, 'x');
    int in_batch = 0;
    for (auto _ : state) {
      s.append(q, payload);
      if (++in_batch == batch) {
        s.flush();
        in_batch = 0;
      }
    }
    s.flush_and_sync();
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(record_size));
    state.counters["writes"] = static_cast<double>(s.stats().writes);
    state.counters["fdatasyncs"] = static_cast<double>(s.stats().syncs);
    state.counters["disk_MiB"] = static_cast<double>(s.disk_bytes()) / (1 << 20);
  }
  fs::remove_all(dir);
}

void BM_spool_append_sync_every_1000(benchmark::State& state) { append_load(state, 1000); }
void BM_spool_append_sync_every_batch(benchmark::State& state) { append_load(state, 0); }
// The daemon's path: fdatasync once a second on the threadpool, off this
// thread; what the loop pays is the append and the write().
void BM_spool_append_sync_off_thread(benchmark::State& state) { append_load(state, ~0u); }

// Replay: reading back and popping (cursor records written per batch).
void BM_spool_replay(benchmark::State& state) {
  const auto dir = bench_dir();
  {
    spool::options o;
    o.dir = dir.string();
    o.max_bytes = 1ull << 30;
    spool::spool s(o);
    const auto q = s.queue("gw01/bench");
    byte_buffer payload(record_size, 'x');
    for (std::int64_t i = 0; i < state.max_iterations; ++i) s.append(q, payload);
    s.flush_and_sync();
    int in_batch = 0;
    for (auto _ : state) {
      benchmark::DoNotOptimize(s.front(q));
      s.pop(q);
      if (++in_batch == batch) {
        s.flush();
        in_batch = 0;
      }
    }
    s.flush_and_sync();
    state.SetItemsProcessed(state.iterations());
  }
  fs::remove_all(dir);
}

}  // namespace

BENCHMARK(BM_spool_append_sync_every_1000)->Iterations(200'000)->UseRealTime()->Unit(benchmark::kNanosecond);
BENCHMARK(BM_spool_append_sync_every_batch)->Iterations(50'000)->UseRealTime()->Unit(benchmark::kNanosecond);
BENCHMARK(BM_spool_append_sync_off_thread)->Iterations(200'000)->UseRealTime()->Unit(benchmark::kNanosecond);
BENCHMARK(BM_spool_replay)->Iterations(200'000)->UseRealTime()->Unit(benchmark::kNanosecond);

BENCHMARK_MAIN();
