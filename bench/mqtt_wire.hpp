// Just enough MQTT 3.1.1 over a plain socket for a load generator and a
// subscriber that cost the broker and the CPU as little as possible: packets
// are built into one buffer and written in batches, read back in bulk. No
// Paho here, so the clients are never what a relay is measured against.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bench::mqtt_wire {

enum packet_type : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  subscribe = 8,
  suback = 9,
  pingresp = 13,
  disconnect = 14,
};

void append_connect(std::string& out, std::string_view client_id, std::uint16_t keepalive_s);
void append_publish(std::string& out, std::string_view topic, std::string_view payload, int qos,
                    std::uint16_t packet_id, bool retain = false);
// One SUBSCRIBE with every filter at the same QoS.
void append_subscribe(std::string& out, std::uint16_t packet_id,
                      const std::vector<std::string>& filters, int qos);
void append_puback(std::string& out, std::uint16_t packet_id);
void append_disconnect(std::string& out);

struct packet {
  std::uint8_t type = 0;
  std::uint8_t flags = 0;
  std::string_view body;  // valid until the next feed()
};

// Splits a byte stream into packets.
class reader {
 public:
  // Bytes read from the socket; call next() until it returns false.
  void feed(const char* data, std::size_t size);
  bool next(packet& p);

 private:
  std::string buffer_;
  std::size_t pos_ = 0;
};

struct publish_view {
  std::string_view topic;
  std::string_view payload;
  int qos = 0;
  std::uint16_t packet_id = 0;
};
bool parse_publish(const packet& p, publish_view& out) noexcept;
std::uint16_t packet_id_of(const packet& p) noexcept;  // PUBACK, SUBACK

// A blocking TCP connection to 127.0.0.1:port (TCP_NODELAY on), with an MQTT
// session: CONNECT sent and CONNACK read. Throws std::runtime_error.
class connection {
 public:
  connection(const std::string& host, int port, const std::string& client_id);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  int fd() const noexcept { return fd_; }
  // Writes everything (blocking).
  void write_all(std::string_view bytes);
  // One read(2) into the reader; false at EOF or error. With a timeout (ms),
  // false also when nothing came.
  bool read_some(int timeout_ms = -1);
  reader& in() noexcept { return reader_; }
  // SUBSCRIBE and wait for its SUBACK.
  void subscribe(const std::vector<std::string>& filters, int qos);
  void set_nonblocking();

 private:
  int fd_ = -1;
  reader reader_;
};

// Writes everything to a blocking or non-blocking socket; false on an error or EOF.
bool write_all(int fd, std::string_view bytes);

// Tries to connect to host:port until it works or timeout_ms passed.
bool wait_for_port(const std::string& host, int port, int timeout_ms);
// Ports the kernel picked for a moment; the caller binds them soon after.
std::vector<int> free_ports(int n);

}  // namespace bench::mqtt_wire
