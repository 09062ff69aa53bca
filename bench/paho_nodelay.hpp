// Paho C never sets TCP_NODELAY and has no option for it: at low rates QoS 1
// then waits for Nagle + delayed ACK (tens of ms per message). The B2 relay
// sets it from outside so that it measures the relay, not Nagle.
#pragma once

#include <string_view>

namespace bench {

// Sets TCP_NODELAY on this process's TCP sockets connected to `port` on a
// loopback or the given address; returns how many it set.
int set_nodelay_on_sockets_to(std::string_view host, int port);

}  // namespace bench
