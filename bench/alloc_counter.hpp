// Counts heap allocations in the benchmark process (global operator new), so
// benchmarks can report allocations per operation.
#pragma once

#include <cstdint>

namespace bench_support {
std::uint64_t allocations() noexcept;
}
