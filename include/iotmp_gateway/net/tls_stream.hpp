// TLS over any net::stream (in practice a tcp_stream), with OpenSSL driven
// through a pair of memory BIOs: ciphertext from the transport's on_data goes
// into one, ciphertext for the transport comes out of the other. OpenSSL never
// sees a socket, so the loop stays in charge of all I/O.
//
// Plaintext written before the handshake completes is held and sent after it.
// queued_bytes() is that held plaintext plus the ciphertext the transport has
// not sent yet; the hard limit is checked against an upper bound of the
// ciphertext a write will produce, so queued_bytes() stays under it.
//
// A failed handshake ends the stream through on_close: tls_verify with
// OpenSSL's verify text ("certificate verify failed: hostname mismatch"), or
// tls, eof, io.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "iotmp_gateway/net/stream.hpp"
#include "iotmp_gateway/net/tls_context.hpp"

typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace iotgw::net {

class tls_stream final : public stream, public std::enable_shared_from_this<tls_stream> {
  struct key {
    explicit key() = default;
  };

 public:
  using handshake_callback = std::function<void()>;

  // server_name is what the certificate must match: a DNS name (sent as SNI,
  // checked with SSL_set1_host) or an IP literal (checked against the IP SANs,
  // no SNI). Starts the handshake; should the transport refuse the ClientHello,
  // the stream comes back already closed (is_open() false). Throws
  // std::invalid_argument for a server name that cannot be checked, a closed
  // transport or a server context.
  static std::shared_ptr<tls_stream> client(std::shared_ptr<tls_context> ctx,
                                            std::shared_ptr<stream> transport,
                                            std::string_view server_name,
                                            const write_limits& limits = {});
  // Waits for the client's hello. Throws std::invalid_argument as above.
  static std::shared_ptr<tls_stream> server(std::shared_ptr<tls_context> ctx,
                                            std::shared_ptr<stream> transport,
                                            const write_limits& limits = {});

  tls_stream(key, std::shared_ptr<tls_context> ctx, std::shared_ptr<stream> transport);
  ~tls_stream() override;

  // Called once when the handshake succeeds (a failure goes to on_close).
  void on_handshake(handshake_callback cb) { handshake_cb_ = std::move(cb); }
  bool handshake_done() const noexcept { return state_ == state::open; }
  std::string protocol() const;  // "TLSv1.3", once the handshake is done
  // Server side: the SNI name the client asked for ("" without SNI).
  std::string requested_server_name() const;

  using stream::write;
  status write(std::vector<byte_buffer>&& buffers) override;
  void set_limits(const write_limits& limits) override;
  // Sends close_notify when it can, then closes the transport.
  void close() noexcept override;
  bool is_open() const noexcept override { return state_ != state::closed; }
  void pause_reading() noexcept override;
  void resume_reading() noexcept override;
  std::size_t queued_bytes() const noexcept override;
  const std::string& peer_name() const noexcept override { return transport_->peer_name(); }

 private:
  enum class state { handshaking, open, closed };

  void attach(const write_limits& limits);
  void on_transport_data(byte_view data);
  void on_transport_close(const status& reason);
  bool handshake_step();
  void read_records();
  status encrypt(std::vector<byte_buffer>&& buffers);
  status flush_output();
  status handshake_error();
  void fail(status reason);
  void shut_down() noexcept;

  struct ssl_deleter {
    void operator()(SSL* ssl) const noexcept;
  };

  std::shared_ptr<tls_context> ctx_;
  std::shared_ptr<stream> transport_;
  std::unique_ptr<SSL, ssl_deleter> ssl_;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;
  std::string who_;  // server name or peer address, for messages
  handshake_callback handshake_cb_;
  std::vector<byte_buffer> pending_;  // plaintext written before the handshake completed
  std::size_t pending_bytes_ = 0;
  std::size_t pending_cost_ = 0;  // its ciphertext upper bound
  state state_ = state::handshaking;
  bool paused_ = false;
  bool reading_ = false;  // guards read_records against re-entry from callbacks
};

}  // namespace iotgw::net
