// OpenSSL configuration shared by many connections: one per configured server
// (client side) or listener (server side). Built once at startup or reload, so
// problems are configuration errors and throw tls_config_error.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;

namespace iotgw::net {

class tls_config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct tls_client_options {
  std::string ca_file;  // PEM bundle; empty: the system store
  // Accepts any certificate and skips the name check. For tests and lab setups
  // only; the caller logs a warning when it is set.
  bool insecure_skip_verify = false;
  // A client certificate (PEM chain) and its key, for brokers that ask for one.
  std::string cert_file;
  std::string key_file;
};

struct tls_server_options {
  std::string cert_file;  // PEM, leaf first then intermediates
  std::string key_file;
};

class tls_context {
  struct key {
    explicit key() = default;
  };

 public:
  // TLS 1.2 minimum; the peer is verified unless insecure_skip_verify.
  static std::shared_ptr<tls_context> client(const tls_client_options& options);
  static std::shared_ptr<tls_context> server(const tls_server_options& options);

  tls_context(key, SSL_CTX* ctx, bool is_server, bool verify) noexcept
      : ctx_(ctx), is_server_(is_server), verify_(verify) {}
  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  SSL_CTX* raw() const noexcept { return ctx_; }
  bool is_server() const noexcept { return is_server_; }
  bool verifies_peer() const noexcept { return verify_; }

 private:
  SSL_CTX* ctx_;
  bool is_server_;
  bool verify_;
};

// The text of the oldest error on OpenSSL's thread queue (cleared), or fallback.
std::string take_openssl_error(const char* fallback);

}  // namespace iotgw::net
