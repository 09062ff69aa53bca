#include "iotmp_gateway/net/tls_stream.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <limits>
#include <stdexcept>
#include <utility>

#include "iotmp_gateway/net/endpoint.hpp"

namespace iotgw::net {

namespace {

// Upper bound of what TLS adds to n plaintext bytes: per record of up to 16 KiB,
// header + IV + MAC/tag + padding (TLS 1.2 CBC with SHA-384 is the worst case,
// under 100 bytes).
std::size_t ciphertext_bound(std::size_t n) {
  return n + (n / 16384 + 1) * 128;
}

}  // namespace

void tls_stream::ssl_deleter::operator()(SSL* ssl) const noexcept {
  SSL_free(ssl);
}

tls_stream::tls_stream(key, std::shared_ptr<tls_context> ctx, std::shared_ptr<stream> transport)
    : ctx_(std::move(ctx)), transport_(std::move(transport)) {
  if (!ctx_ || !transport_ || !transport_->is_open()) {
    throw std::invalid_argument("TLS: needs a context and an open transport");
  }
  ssl_.reset(SSL_new(ctx_->raw()));
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  if (!ssl_ || !rbio_ || !wbio_) {
    BIO_free(rbio_);
    BIO_free(wbio_);
    throw std::bad_alloc();
  }
  // An empty input BIO means "wait for more", not end of file.
  BIO_set_mem_eof_return(rbio_, -1);
  BIO_set_mem_eof_return(wbio_, -1);
  SSL_set_bio(ssl_.get(), rbio_, wbio_);
}

tls_stream::~tls_stream() {
  shut_down();
}

std::shared_ptr<tls_stream> tls_stream::client(std::shared_ptr<tls_context> ctx,
                                               std::shared_ptr<stream> transport,
                                               std::string_view server_name,
                                               const write_limits& limits) {
  if (!ctx || ctx->is_server()) throw std::invalid_argument("TLS client: needs a client context");
  const std::string name(server_name);
  if (name.empty() && ctx->verifies_peer()) {
    throw std::invalid_argument("TLS client: a server name is needed to verify the certificate");
  }
  auto s = std::make_shared<tls_stream>(key{}, std::move(ctx), std::move(transport));
  SSL* ssl = s->ssl_.get();
  SSL_set_connect_state(ssl);
  if (is_ip_literal(name)) {
    // RFC 6066: SNI carries host names only; an address is checked against IP SANs.
    if (s->ctx_->verifies_peer() &&
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) != 1) {
      throw std::invalid_argument("TLS client: cannot check certificate against " + name);
    }
  } else if (!name.empty()) {
    if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
      throw std::invalid_argument("TLS client: invalid server name " + name);
    }
    if (s->ctx_->verifies_peer()) {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (SSL_set1_host(ssl, name.c_str()) != 1) {
        throw std::invalid_argument("TLS client: invalid server name " + name);
      }
    }
  }
  s->who_ = name.empty() ? s->transport_->peer_name() : name;
  s->attach(limits);
  s->handshake_step();  // the ClientHello
  return s;
}

std::shared_ptr<tls_stream> tls_stream::server(std::shared_ptr<tls_context> ctx,
                                               std::shared_ptr<stream> transport,
                                               const write_limits& limits) {
  if (!ctx || !ctx->is_server()) throw std::invalid_argument("TLS server: needs a server context");
  auto s = std::make_shared<tls_stream>(key{}, std::move(ctx), std::move(transport));
  SSL_set_accept_state(s->ssl_.get());
  s->who_ = s->transport_->peer_name();
  s->attach(limits);
  return s;
}

void tls_stream::set_limits(const write_limits& limits) {
  stream::set_limits(limits);  // validates first
  // The transport reports its crossings of our marks; the hard limit is ours.
  transport_->set_limits(
      {limits.low_water, limits.high_water, std::numeric_limits<std::size_t>::max()});
}

void tls_stream::attach(const write_limits& limits) {
  set_limits(limits);
  std::weak_ptr<tls_stream> weak = weak_from_this();
  transport_->on_data([weak](byte_view data) {
    if (auto self = weak.lock()) self->on_transport_data(data);
  });
  transport_->on_close([weak](const status& reason) {
    if (auto self = weak.lock()) self->on_transport_close(reason);
  });
  transport_->on_writable_changed([weak](bool) {
    if (auto self = weak.lock()) self->update_writable();
  });
}

std::string tls_stream::protocol() const {
  return state_ == state::open ? SSL_get_version(ssl_.get()) : "";
}

std::string tls_stream::requested_server_name() const {
  const char* name = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
  return name ? name : "";
}

std::size_t tls_stream::queued_bytes() const noexcept {
  return pending_bytes_ + transport_->queued_bytes();
}

void tls_stream::on_transport_data(byte_view data) {
  if (state_ == state::closed) return;
  // A memory BIO takes everything (it grows); the reads below drain it.
  if (BIO_write(rbio_, data.data(), static_cast<int>(data.size())) !=
      static_cast<int>(data.size())) {
    return fail({errc::tls, 0, "TLS with " + who_ + ": out of memory"});
  }
  if (state_ == state::handshaking && !handshake_step()) return;
  read_records();
}

void tls_stream::on_transport_close(const status& reason) {
  if (state_ == state::closed) return;
  if (state_ == state::handshaking) {
    return fail(
        {reason.code, reason.uv_code, "TLS handshake with " + who_ + ": " + reason.message});
  }
  fail(reason);
}

bool tls_stream::handshake_step() {
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_.get());
  if (rc == 1) {
    if (auto st = flush_output(); !st.ok()) {
      fail(std::move(st));
      return false;
    }
    state_ = state::open;
    if (!pending_.empty()) {
      auto held = std::exchange(pending_, {});
      pending_bytes_ = pending_cost_ = 0;
      if (auto st = encrypt(std::move(held)); !st.ok()) {
        fail(std::move(st));
        return false;
      }
    }
    update_writable();
    if (auto cb = std::move(handshake_cb_); cb && state_ == state::open) cb();
    return state_ == state::open;
  }
  const int err = SSL_get_error(ssl_.get(), rc);
  // Send what the step produced: the next flight, or the alert telling the peer why.
  auto flushed = flush_output();
  if (err == SSL_ERROR_WANT_READ && flushed.ok()) return false;
  fail(err == SSL_ERROR_WANT_READ ? std::move(flushed) : handshake_error());
  return false;
}

status tls_stream::handshake_error() {
  const long verify = SSL_get_verify_result(ssl_.get());
  if (ctx_->verifies_peer() && verify != X509_V_OK) {
    ERR_clear_error();
    return {errc::tls_verify, 0,
            "TLS handshake with " + who_ +
                ": certificate verify failed: " + X509_verify_cert_error_string(verify)};
  }
  return {errc::tls, 0, "TLS handshake with " + who_ + ": " + take_openssl_error("failed")};
}

void tls_stream::read_records() {
  if (reading_) return;  // re-entered from a callback: the loop below carries on
  reading_ = true;
  std::array<std::uint8_t, 16 * 1024> buf;  // one record; delivered before the next read
  while (state_ == state::open && !paused_) {
    ERR_clear_error();
    const int n = SSL_read(ssl_.get(), buf.data(), static_cast<int>(buf.size()));
    if (n > 0) {
      if (data_cb_) data_cb_(byte_view(buf.data(), static_cast<std::size_t>(n)));
      continue;
    }
    const int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_READ) break;
    if (err == SSL_ERROR_ZERO_RETURN) {
      // close_notify: answer it, then report an orderly end.
      SSL_shutdown(ssl_.get());
      flush_output();
      fail({errc::eof, 0, who_ + ": connection closed by peer"});
    } else {
      fail({errc::tls, 0, "TLS read from " + who_ + ": " + take_openssl_error("failed")});
    }
    break;
  }
  reading_ = false;
  // Reading can produce records to send (key update, post-handshake messages).
  if (state_ == state::open) {
    if (auto st = flush_output(); !st.ok()) fail(std::move(st));
  }
}

status tls_stream::write(std::vector<byte_buffer>&& buffers) {
  if (state_ == state::closed) return closed_error();
  std::size_t bytes = 0;
  for (const auto& b : buffers) bytes += b.size();
  if (bytes == 0) return {};
  const std::size_t cost = ciphertext_bound(bytes);
  if (pending_cost_ + transport_->queued_bytes() + cost > limits().hard_limit) {
    return limit_error(bytes);
  }
  if (state_ == state::handshaking) {
    for (auto& b : buffers) pending_.push_back(std::move(b));
    pending_bytes_ += bytes;
    pending_cost_ += cost;
    update_writable();
    return {};
  }
  status st = encrypt(std::move(buffers));
  if (!st.ok()) {
    // The returned status is the report: on_close is not called from within write().
    shut_down();
    return st;
  }
  update_writable();
  return st;
}

status tls_stream::encrypt(std::vector<byte_buffer>&& buffers) {
  // One plaintext run per batch: one record per 16 KiB instead of one per buffer.
  byte_buffer joined;
  const byte_buffer* plain = &buffers.front();
  if (buffers.size() > 1) {
    std::size_t total = 0;
    for (const auto& b : buffers) total += b.size();
    joined.reserve(total);
    for (const auto& b : buffers) joined.insert(joined.end(), b.begin(), b.end());
    plain = &joined;
  }
  ERR_clear_error();
  std::size_t written = 0;
  // Without partial writes and with a growing output BIO, this succeeds whole or fails.
  if (SSL_write_ex(ssl_.get(), plain->data(), plain->size(), &written) != 1) {
    return {errc::tls, 0, "TLS write to " + who_ + ": " + take_openssl_error("failed")};
  }
  return flush_output();
}

status tls_stream::flush_output() {
  const std::size_t n = BIO_ctrl_pending(wbio_);
  if (n == 0) return {};
  byte_buffer out(n);
  BIO_read(wbio_, out.data(), static_cast<int>(n));
  return transport_->write(std::move(out));
}

void tls_stream::fail(status reason) {
  if (state_ == state::closed) return;
  shut_down();
  if (auto cb = std::move(close_cb_)) cb(reason);
}

void tls_stream::shut_down() noexcept {
  if (state_ == state::closed) return;
  state_ = state::closed;
  pending_.clear();
  pending_bytes_ = pending_cost_ = 0;
  transport_->close();
}

void tls_stream::close() noexcept {
  if (state_ == state::open) {
    // Best effort: libuv writes at once when the socket takes it, before the close.
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
    flush_output();
  }
  shut_down();
}

void tls_stream::pause_reading() noexcept {
  if (state_ == state::closed || paused_) return;
  paused_ = true;
  transport_->pause_reading();
}

void tls_stream::resume_reading() noexcept {
  if (state_ == state::closed || !paused_) return;
  auto keep = shared_from_this();  // on_data may drop the caller's reference
  paused_ = false;
  transport_->resume_reading();
  // Records already buffered would otherwise wait for the next packet.
  if (state_ == state::open) read_records();
}

}  // namespace iotgw::net
