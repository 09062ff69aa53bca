// A connected byte stream (plain TCP or TLS), as the IOTMP session and the dev
// server see it.
//
// Outgoing data is bounded: queued_bytes() counts what write() accepted but the
// socket has not taken yet. Crossing high_water above makes the stream
// unwritable, coming back to low_water or below makes it writable again, each
// reported once through on_writable_changed. Producers stop on false and resume
// on true; writes still succeed while unwritable, up to hard_limit, beyond which
// they fail with errc::write_limit and queue nothing. Memory therefore never
// grows because a peer reads slowly.
//
// Callbacks run on the loop thread. Set them before returning to the loop:
// reading starts when the stream is created. on_close reports the end of the
// stream caused by the peer or an error, exactly once; it is not called after
// the owner's own close(), nor from within write(): a write that fails with io
// or tls leaves the stream closed and its status is the report. Any callback
// may close the stream or drop the last reference to it, but on_data must not
// replace on_data while it runs.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "iotmp_gateway/net/status.hpp"
#include "iotmp_gateway/varint.hpp"

namespace iotgw::net {

struct write_limits {
  std::size_t low_water = 64 * 1024;
  std::size_t high_water = 256 * 1024;
  std::size_t hard_limit = 4 * 1024 * 1024;
};

class stream {
 public:
  using data_callback = std::function<void(byte_view data)>;  // valid during the call only
  using close_callback = std::function<void(const status& reason)>;
  using writable_callback = std::function<void(bool writable)>;

  stream() = default;
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  virtual ~stream() = default;

  // All buffers in order, in one socket write where the transport allows. All or
  // nothing: on failure (write_limit, closed) none of them is queued. May report
  // on_writable_changed(false) before returning.
  virtual status write(std::vector<byte_buffer>&& buffers) = 0;
  status write(byte_buffer&& buffer);
  status write(byte_view data);  // copies

  // Drops unsent data and closes now; idempotent; on_close is not called.
  virtual void close() noexcept = 0;
  virtual bool is_open() const noexcept = 0;

  // Stops delivering on_data (the kernel then pushes back on the peer) and
  // starts again. resume_reading may deliver already-decrypted TLS data before
  // it returns.
  virtual void pause_reading() noexcept = 0;
  virtual void resume_reading() noexcept = 0;

  virtual std::size_t queued_bytes() const noexcept = 0;
  // The far end for messages, e.g. "127.0.0.1:25204".
  virtual const std::string& peer_name() const noexcept = 0;

  bool writable() const noexcept { return writable_; }
  const write_limits& limits() const noexcept { return limits_; }
  // Throws std::invalid_argument unless low_water <= high_water <= hard_limit.
  virtual void set_limits(const write_limits& limits);

  void on_data(data_callback cb) { data_cb_ = std::move(cb); }
  void on_close(close_callback cb) { close_cb_ = std::move(cb); }
  void on_writable_changed(writable_callback cb) { writable_cb_ = std::move(cb); }

 protected:
  // Compares queued_bytes() with the marks and reports a crossing. Implementations
  // call it whenever queued_bytes() may have changed.
  void update_writable();
  status limit_error(std::size_t wanted) const;
  static status closed_error();

  data_callback data_cb_;
  close_callback close_cb_;
  writable_callback writable_cb_;

 private:
  write_limits limits_;
  bool writable_ = true;
};

}  // namespace iotgw::net
