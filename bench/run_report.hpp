// One result line per run, `RESULT key=value ...`, which scripts/run-bench
// turns into the tables of bench/README.md.
#pragma once

#include <cstdint>
#include <string>

#include "probe.hpp"
#include "proc_stat.hpp"

namespace bench {

struct run_report {
  std::string kind;   // tput | lat | rev | scale | wire | idle
  std::string label;  // B0 | B1 | B2 | G | ...
  int qos = 0;
  double rate = 0;    // paced rate, 0 = full speed
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  double seconds = 0;  // first send to last arrival
  proc_sample relay_before, relay_after;    // the relaying processes
  proc_sample broker_before, broker_after;  // the mosquittos around them
  latency_summary latency;
  std::string extra;  // more key=value pairs

  void print() const;
};

}  // namespace bench
