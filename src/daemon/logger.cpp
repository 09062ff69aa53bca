#include "iotmp_gateway/daemon/logger.hpp"

#include <string>

namespace iotgw::daemon {

void logger::log(int priority, std::string_view text) const {
  if (priority > max_) return;
  // One write per line, so lines from a restart or another thread never interleave.
  std::string line;
  line.reserve(text.size() + 5);
  line += '<';
  line += static_cast<char>('0' + (priority & 7));
  line += '>';
  for (char c : text) line += (c == '\n' ? ' ' : c);  // a newline would forge a new record
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace iotgw::daemon
