#include "mqtt_wire.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace bench::mqtt_wire {

namespace {

void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}
void put_string(std::string& out, std::string_view s) {
  put_u16(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
}
void put_length(std::string& out, std::size_t n) {
  do {
    auto byte = static_cast<std::uint8_t>(n % 128);
    n /= 128;
    if (n > 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (n > 0);
}
std::uint16_t get_u16(std::string_view s, std::size_t at) noexcept {
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(s[at]) << 8) |
                                    static_cast<std::uint8_t>(s[at + 1]));
}

sockaddr_in address_of(const std::string& host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    throw std::runtime_error("not an IPv4 address: " + host);
  }
  return a;
}

}  // namespace

void append_connect(std::string& out, std::string_view client_id, std::uint16_t keepalive_s) {
  std::string body;
  put_string(body, "MQTT");
  body.push_back(4);     // 3.1.1
  body.push_back(0x02);  // clean session
  put_u16(body, keepalive_s);
  put_string(body, client_id);
  out.push_back(static_cast<char>(0x10));
  put_length(out, body.size());
  out += body;
}

void append_publish(std::string& out, std::string_view topic, std::string_view payload, int qos,
                    std::uint16_t packet_id, bool retain) {
  out.push_back(static_cast<char>(0x30 | (qos << 1) | (retain ? 1 : 0)));
  put_length(out, 2 + topic.size() + (qos > 0 ? 2 : 0) + payload.size());
  put_string(out, topic);
  if (qos > 0) put_u16(out, packet_id);
  out.append(payload);
}

void append_subscribe(std::string& out, std::uint16_t packet_id,
                      const std::vector<std::string>& filters, int qos) {
  std::size_t size = 2;
  for (const auto& f : filters) size += 2 + f.size() + 1;
  out.push_back(static_cast<char>(0x82));
  put_length(out, size);
  put_u16(out, packet_id);
  for (const auto& f : filters) {
    put_string(out, f);
    out.push_back(static_cast<char>(qos));
  }
}

void append_puback(std::string& out, std::uint16_t packet_id) {
  out.push_back(static_cast<char>(0x40));
  out.push_back(2);
  put_u16(out, packet_id);
}

void append_disconnect(std::string& out) {
  out.push_back(static_cast<char>(0xe0));
  out.push_back(0);
}

void reader::feed(const char* data, std::size_t size) {
  if (pos_ > 0) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  buffer_.append(data, size);
}

bool reader::next(packet& p) {
  const std::size_t avail = buffer_.size() - pos_;
  if (avail < 2) return false;
  std::size_t length = 0;
  std::size_t i = 1;
  for (unsigned shift = 0;; shift += 7, ++i) {
    if (i >= avail || i > 4) return false;  // incomplete (a broker never sends > 4)
    const auto byte = static_cast<std::uint8_t>(buffer_[pos_ + i]);
    length |= static_cast<std::size_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) break;
  }
  const std::size_t header = i + 1;
  if (avail < header + length) return false;
  const auto first = static_cast<std::uint8_t>(buffer_[pos_]);
  p.type = first >> 4;
  p.flags = first & 0x0f;
  p.body = std::string_view(buffer_).substr(pos_ + header, length);
  pos_ += header + length;
  return true;
}

bool parse_publish(const packet& p, publish_view& out) noexcept {
  if (p.type != publish || p.body.size() < 2) return false;
  const std::size_t topic_len = get_u16(p.body, 0);
  out.qos = (p.flags >> 1) & 3;
  std::size_t at = 2 + topic_len;
  if (p.body.size() < at + (out.qos > 0 ? 2 : 0)) return false;
  out.topic = p.body.substr(2, topic_len);
  out.packet_id = 0;
  if (out.qos > 0) {
    out.packet_id = get_u16(p.body, at);
    at += 2;
  }
  out.payload = p.body.substr(at);
  return true;
}

std::uint16_t packet_id_of(const packet& p) noexcept {
  return p.body.size() >= 2 ? get_u16(p.body, 0) : 0;
}

connection::connection(const std::string& host, int port, const std::string& client_id) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  const auto a = address_of(host, port);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd_);
    throw std::runtime_error("connect to port " + std::to_string(port) + ": " + why);
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string out;
  append_connect(out, client_id, 0);
  write_all(out);
  packet p;
  while (!reader_.next(p)) {
    if (!read_some(10'000)) {
      ::close(fd_);
      throw std::runtime_error("no CONNACK from port " + std::to_string(port));
    }
  }
  if (p.type != connack || p.body.size() < 2 || p.body[1] != 0) {
    ::close(fd_);
    throw std::runtime_error("CONNECT refused by port " + std::to_string(port));
  }
}

connection::~connection() {
  if (fd_ >= 0) {
    std::string out;
    append_disconnect(out);
    [[maybe_unused]] auto n = ::write(fd_, out.data(), out.size());
    ::close(fd_);
  }
}

void connection::set_nonblocking() {
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

void connection::write_all(std::string_view bytes) {
  if (!mqtt_wire::write_all(fd_, bytes))
    throw std::runtime_error("write: " + std::string(std::strerror(errno)));
}

bool connection::read_some(int timeout_ms) {
  if (timeout_ms >= 0) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) <= 0) return false;
  }
  char buf[65536];
  const auto n = ::read(fd_, buf, sizeof buf);
  if (n <= 0) return n < 0 && (errno == EAGAIN || errno == EINTR);
  reader_.feed(buf, static_cast<std::size_t>(n));
  return true;
}

void connection::subscribe(const std::vector<std::string>& filters, int qos) {
  std::string out;
  append_subscribe(out, 1, filters, qos);
  write_all(out);
  packet p;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    while (reader_.next(p)) {
      if (p.type == suback) return;
    }
    read_some(100);
  }
  throw std::runtime_error("no SUBACK");
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd pfd{fd, POLLOUT, 0};
        ::poll(&pfd, 1, 1000);
        continue;
      }
      return false;
    }
    if (n == 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool wait_for_port(const std::string& host, int port, int timeout_ms) {
  const auto a = address_of(host, port);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::vector<int> free_ports(int n) {
  std::vector<int> fds, ports;
  for (int i = 0; i < n; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto a = address_of("127.0.0.1", 0);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ports.push_back(ntohs(a.sin_port));
    fds.push_back(fd);  // held until all are picked, so they differ
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

}  // namespace bench::mqtt_wire
