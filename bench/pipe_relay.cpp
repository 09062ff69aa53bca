// B3: the least one more process on the path can cost. It subscribes to
// `bench/#` on a broker with the raw client of mqtt_wire, and passes every
// PUBLISH straight to one subscriber that connects to it as if it were a broker
// (it answers CONNECT and SUBSCRIBE, ignores the subscriber's PUBACKs).
// No library, no event loop, no copy beyond one buffer per read: what B3 adds
// over B0 is the wake-up and the socket hop of an extra process, which every
// relay (the gateway's MQTT -> IOTMP path included) pays at least.
//
//   pipe_relay BROKER_PORT LISTEN_PORT     runs until SIGTERM/SIGINT
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

#include "mqtt_wire.hpp"

using namespace bench;

namespace {

volatile sig_atomic_t stopping = 0;
void on_signal(int) {
  stopping = 1;
}

int listen_on(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4) != 0) {
    std::fprintf(stderr, "pipe_relay: cannot listen on %d: %s\n", port, std::strerror(errno));
    std::exit(1);
  }
  return fd;
}

// The subscriber's side: a broker only as far as mqtt_wire::connection needs.
struct downstream {
  int fd = -1;
  mqtt_wire::reader in;

  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    in = mqtt_wire::reader{};
  }
  // Reads what the subscriber sent; answers CONNECT and SUBSCRIBE.
  void on_readable() {
    char buf[4096];
    const auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) return;
      close();
      return;
    }
    in.feed(buf, static_cast<std::size_t>(n));
    std::string out;
    mqtt_wire::packet p;
    while (in.next(p)) {
      if (p.type == mqtt_wire::connect)
        out += std::string("\x20\x02\x00\x00", 4);                 // CONNECT -> CONNACK accepted
      if (p.type == mqtt_wire::subscribe && p.body.size() >= 2) {  // SUBSCRIBE -> SUBACK, QoS 1
        out += std::string("\x90\x03", 2);
        out += p.body.substr(0, 2);
        out += '\x01';
      }
      if (p.type == mqtt_wire::disconnect) {
        close();
        return;
      }
    }
    if (!out.empty() && !mqtt_wire::write_all(fd, out)) close();
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: pipe_relay BROKER_PORT LISTEN_PORT\n");
    return 2;
  }
  ::signal(SIGTERM, on_signal);
  ::signal(SIGINT, on_signal);
  ::signal(SIGPIPE, SIG_IGN);
  try {
    const int listener = listen_on(std::atoi(argv[2]));
    mqtt_wire::connection up("127.0.0.1", std::atoi(argv[1]), "bench-pipe-relay");
    up.subscribe({"bench/#"}, 1);
    downstream down;
    std::string forward, acks;
    mqtt_wire::packet p;
    mqtt_wire::publish_view pub;
    while (!stopping) {
      pollfd fds[3] = {{up.fd(), POLLIN, 0}, {listener, POLLIN, 0}, {down.fd, POLLIN, 0}};
      if (::poll(fds, down.fd >= 0 ? 3 : 2, 500) < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error("poll: " + std::string(std::strerror(errno)));
      }
      if (fds[0].revents != 0) {
        if (!up.read_some()) throw std::runtime_error("the broker closed the connection");
        forward.clear();
        acks.clear();
        while (up.in().next(p)) {
          if (!mqtt_wire::parse_publish(p, pub)) continue;
          mqtt_wire::append_publish(forward, pub.topic, pub.payload, pub.qos, pub.packet_id);
          if (pub.qos > 0) mqtt_wire::append_puback(acks, pub.packet_id);
        }
        // Forward first: the acknowledgement is not on the measured path.
        if (down.fd >= 0 && !forward.empty() && !mqtt_wire::write_all(down.fd, forward))
          down.close();
        if (!acks.empty()) up.write_all(acks);
      }
      if (down.fd >= 0 && fds[2].revents != 0) down.on_readable();
      // Accepted last: fds[2] belongs to the subscriber polled above.
      if (fds[1].revents != 0) {
        const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          down.close();  // one subscriber at a time: the newest run's
          down.fd = fd;
          const int one = 1;
          ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pipe_relay: %s\n", e.what());
    return 1;
  }
  return 0;
}
