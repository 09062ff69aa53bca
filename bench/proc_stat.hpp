// CPU time and memory of a process, read from /proc: what each relay costs.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace bench {

struct proc_sample {
  double cpu_s = 0;  // utime + stime
  long vm_hwm_kib = 0;  // peak resident set
  long vm_rss_kib = 0;
  bool ok = false;
};

proc_sample read_proc(pid_t pid);
// The sum over several processes (memory fields: the sum too).
proc_sample read_procs(const std::vector<pid_t>& pids);
// "12,34" -> {12, 34}; empty text -> {}.
std::vector<pid_t> parse_pids(const std::string& text);

}  // namespace bench
