#include "proc_stat.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace bench {

proc_sample read_proc(pid_t pid) {
  proc_sample s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return s;
  // The command name may hold spaces: fields are counted after its ')'.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14) utime = std::stoul(field);
    if (i == 15) {
      stime = std::stoul(field);
      break;
    }
  }
  s.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) s.vm_hwm_kib = std::stol(line.substr(6));
    if (line.rfind("VmRSS:", 0) == 0) s.vm_rss_kib = std::stol(line.substr(6));
  }
  s.ok = true;
  return s;
}

proc_sample read_procs(const std::vector<pid_t>& pids) {
  proc_sample total;
  total.ok = !pids.empty();
  for (auto pid : pids) {
    const auto s = read_proc(pid);
    total.ok = total.ok && s.ok;
    total.cpu_s += s.cpu_s;
    total.vm_hwm_kib += s.vm_hwm_kib;
    total.vm_rss_kib += s.vm_rss_kib;
  }
  return total;
}

std::vector<pid_t> parse_pids(const std::string& text) {
  std::vector<pid_t> out;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(static_cast<pid_t>(std::stol(item)));
  }
  return out;
}

}  // namespace bench
