#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "paho_nodelay.hpp"

namespace bench {

namespace {

// The addresses host resolves to (numeric lookups only for literals; a name is
// resolved through the system resolver, which for "localhost" reads /etc/hosts).
std::vector<sockaddr_storage> addresses_of(std::string_view host) {
  std::vector<sockaddr_storage> out;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const std::string name(host);
  if (getaddrinfo(name.c_str(), nullptr, &hints, &list) != 0) return out;
  for (auto* ai = list; ai != nullptr; ai = ai->ai_next) {
    sockaddr_storage s{};
    std::memcpy(&s, ai->ai_addr, ai->ai_addrlen);
    out.push_back(s);
  }
  freeaddrinfo(list);
  return out;
}

bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in&>(b).sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    return std::memcmp(&reinterpret_cast<const sockaddr_in6&>(a).sin6_addr,
                       &reinterpret_cast<const sockaddr_in6&>(b).sin6_addr, sizeof(in6_addr)) == 0;
  }
  return false;
}

int port_of(const sockaddr_storage& s) {
  if (s.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(s).sin_port);
  if (s.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(s).sin6_port);
  return -1;
}

}  // namespace

int set_nodelay_on_sockets_to(std::string_view host, int port) {
  const auto wanted = addresses_of(host);
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  int changed = 0;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    struct stat st {};
    if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    if (port_of(peer) != port) continue;
    bool match = false;
    for (const auto& w : wanted) match = match || same_address(w, peer);
    if (!match) continue;
    int one = 1;
    if (setsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) ++changed;
  }
  closedir(dir);
  return changed;
}

}  // namespace bench
