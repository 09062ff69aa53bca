#include "iotmp_gateway/net/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <system_error>

namespace iotgw::net {

namespace {

void use_certificate(SSL_CTX* ctx, const std::string& cert_file, const std::string& key_file) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    throw tls_config_error("TLS certificate " + cert_file + ": " + take_openssl_error("cannot load"));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw tls_config_error("TLS key " + key_file + ": " + take_openssl_error("cannot load"));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    throw tls_config_error("TLS key " + key_file + " does not match certificate " + cert_file);
  }
}

struct ctx_deleter {
  void operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }
};
using ctx_ptr = std::unique_ptr<SSL_CTX, ctx_deleter>;

ctx_ptr new_context(const SSL_METHOD* method) {
  ERR_clear_error();
  ctx_ptr ctx(SSL_CTX_new(method));
  if (!ctx) throw tls_config_error("TLS: " + take_openssl_error("cannot create context"));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Idle connections (most of them, on a gateway) should not hold 2×34 KiB of record buffers.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

}  // namespace

std::string take_openssl_error(const char* fallback) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return fallback;
  // OpenSSL 3 files errno values under a "system library" code without a text.
  if (ERR_SYSTEM_ERROR(e)) return std::generic_category().message(ERR_GET_REASON(e));
  if (const char* reason = ERR_reason_error_string(e)) return reason;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::shared_ptr<tls_context> tls_context::client(const tls_client_options& options) {
  auto ctx = new_context(TLS_client_method());
  const bool verify = !options.insecure_skip_verify;
  if (verify) {
    if (!options.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) != 1) {
        throw tls_config_error("TLS CA file " + options.ca_file + ": " +
                               take_openssl_error("cannot load"));
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      throw tls_config_error("TLS system CA store: " + take_openssl_error("cannot load"));
    }
  }
  SSL_CTX_set_verify(ctx.get(), verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (!options.cert_file.empty() || !options.key_file.empty()) {
    // Without a key file the key is looked for in the certificate file.
    use_certificate(ctx.get(), options.cert_file,
                    options.key_file.empty() ? options.cert_file : options.key_file);
  }
  return std::make_shared<tls_context>(key{}, ctx.release(), false, verify);
}

std::shared_ptr<tls_context> tls_context::server(const tls_server_options& options) {
  auto ctx = new_context(TLS_server_method());
  use_certificate(ctx.get(), options.cert_file, options.key_file);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  return std::make_shared<tls_context>(key{}, ctx.release(), true, false);
}

tls_context::~tls_context() {
  SSL_CTX_free(ctx_);
}

}  // namespace iotgw::net
