// Helpers for the cloud link tests: device resources whose behaviour a test
// sets, a recording observer for device-opened streams, a scripted raw IOTMP
// server that keeps every byte the device sends (for the golden-vector
// comparisons), and byte-level frame helpers that do not go through the codec
// under test.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "iotmp_gateway/iotmp/device_session.hpp"
#include "iotmp_gateway/iotmp/resource_registry.hpp"
#include "iotmp_gateway/net/listener.hpp"
#include "iotmp_gateway/net/uv_loop.hpp"
#include "iotmp_gateway/pson/value.hpp"
#include "iotmp_gateway/varint.hpp"
#include "support/hex.hpp"
#include "support/loop.hpp"
#include "support/vectors.hpp"

namespace cloud_test {

namespace iotmp = iotgw::iotmp;
namespace net = iotgw::net;
namespace pson = iotgw::pson;
using iotgw::byte_buffer;
using iotgw::byte_view;
using namespace std::chrono_literals;

// A device resource with a settable latest value; RUN with input stores the
// input as the latest value (what a write-then-read resource looks like).
class test_resource : public iotmp::resource {
 public:
  explicit test_resource(iotmp::resource_io io, std::optional<pson::value> latest = std::nullopt,
                         pson::value example = {})
      : io_(io), latest(std::move(latest)), example(std::move(example)) {}

  iotmp::resource_io io() const override { return io_; }
  void run(const iotmp::resource_call& call, iotmp::reply r) override {
    ++runs;
    last_path = std::string(call.path);
    last_captures = call.placeholders;
    if (call.input) {
      last_input = *call.input;
      if (iotmp::gives_output(io_)) latest = *call.input;
    }
    // A placeholder resource answers with what its placeholders took, so the
    // test can see the concrete path reached it.
    if (!call.placeholders.empty()) {
      pson::object captured;
      for (const auto& [name, text] : call.placeholders) captured.insert_or_assign(name, text);
      r.ok(pson::value(std::move(captured)));
      return;
    }
    r.ok(iotmp::gives_output(io_) ? latest : std::nullopt);
  }
  std::optional<pson::value> sample(const iotmp::resource_call&) override { return latest; }
  pson::value example_input() const override { return example; }

  iotmp::resource_io io_;
  std::optional<pson::value> latest;
  pson::value example;
  int runs = 0;
  std::string last_path;
  iotmp::captures last_captures;
  std::optional<pson::value> last_input;
};

// What the link passes on about device-opened streams.
struct recording_observer : iotmp::session_observer {
  void on_authenticated() override { ++authenticated; }
  void on_device_stream_open(iotmp::device_stream_id id, const pson::value*) override {
    opened.push_back(id);
  }
  void on_device_stream_refused(iotmp::device_stream_id id) override { refused.push_back(id); }
  void on_device_stream_data(iotmp::device_stream_id id, const pson::value& data) override {
    data_in.emplace_back(id, data);
  }
  void on_device_stream_closed(iotmp::device_stream_id id) override { closed.push_back(id); }

  int authenticated = 0;
  std::vector<iotmp::device_stream_id> opened, refused, closed;
  std::vector<std::pair<iotmp::device_stream_id, pson::value>> data_in;
};

// --- frames as bytes -------------------------------------------------------------

// Reads one varint at pos; nullopt when the bytes end first.
inline std::optional<std::uint64_t> take_varint(byte_view in, std::size_t& pos) {
  std::uint64_t v = 0;
  for (unsigned shift = 0; pos < in.size() && shift < 64; shift += 7) {
    const std::uint8_t b = in[pos++];
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
  return std::nullopt;
}

// Cuts whole frames (header included) off the front of buf; what is left is an
// incomplete frame. Reads the header by hand: the decoder is what is under test.
inline std::vector<byte_buffer> cut_frames(byte_buffer& buf) {
  std::vector<byte_buffer> out;
  std::size_t start = 0;
  while (true) {
    std::size_t pos = start;
    const auto type = take_varint(buf, pos);
    const auto size = type ? take_varint(buf, pos) : std::nullopt;
    if (!size || buf.size() - pos < *size) break;
    const std::size_t end = pos + static_cast<std::size_t>(*size);
    out.emplace_back(buf.begin() + static_cast<std::ptrdiff_t>(start),
                     buf.begin() + static_cast<std::ptrdiff_t>(end));
    start = end;
  }
  buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(start));
  return out;
}

inline std::uint8_t frame_type(const byte_buffer& frame) {
  return frame.empty() ? 0 : frame[0];
}

// The stream id of a frame whose first field is the stream id (field 1, wire
// type 0: key 0x08), as our encoder and the non-"@linux_order" rows put it.
inline std::optional<std::uint16_t> leading_stream_id(const byte_buffer& frame) {
  std::size_t pos = 0;
  if (!take_varint(frame, pos) || !take_varint(frame, pos)) return std::nullopt;
  if (pos >= frame.size() || frame[pos] != 0x08) return std::nullopt;
  ++pos;
  const auto sid = take_varint(frame, pos);
  if (!sid || *sid > 0xffff) return std::nullopt;
  return static_cast<std::uint16_t>(*sid);
}

// A golden frame with its leading stream id field replaced by sid, and the
// size in the header adjusted; every other byte is the golden one.
inline byte_buffer with_stream_id(const byte_buffer& golden, std::uint16_t sid) {
  std::size_t pos = 0;
  const auto type = take_varint(golden, pos);
  const auto size = take_varint(golden, pos);
  EXPECT_TRUE(type && size && pos < golden.size() && golden[pos] == 0x08)
      << "golden frame does not start with a stream id field";
  ++pos;
  EXPECT_TRUE(take_varint(golden, pos).has_value());
  byte_buffer body{0x08};
  iotgw::write_varint(sid, body);
  body.insert(body.end(), golden.begin() + static_cast<std::ptrdiff_t>(pos), golden.end());
  byte_buffer out;
  iotgw::write_varint(type.value_or(0), out);
  iotgw::write_varint(body.size(), out);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// The bytes of one row of vectors.tsv (columns: name, description, hex).
inline byte_buffer golden(const std::string& name) {
  static const auto rows = test_support::read_tsv(test_support::vectors_dir() + "/vectors.tsv");
  for (const auto& row : rows) {
    if (row.columns.size() >= 3 && row.columns[0] == name) {
      return test_support::from_hex(row.columns[2]);
    }
  }
  ADD_FAILURE() << "no row " << name << " in vectors.tsv";
  return {};
}

inline std::string hex(const byte_buffer& b) {
  return test_support::to_hex(b);
}

// A server that answers nothing by itself: it keeps every frame the device
// sends, as raw bytes, and writes exactly the bytes a test gives it.
class raw_server {
 public:
  explicit raw_server(iotgw::uv::loop& loop) : loop_(loop) {
    listener_ =
        net::listener::create(loop, [this](net::status st, std::shared_ptr<net::tcp_stream> s) {
          if (!st.ok()) return;
          if (stream_) stream_->close();
          stream_ = s;
          pending_.clear();
          ++accepted_;
          s->on_data([this](byte_view data) {
            pending_.insert(pending_.end(), data.begin(), data.end());
            for (auto& f : cut_frames(pending_)) frames_.push_back({std::move(f), false});
          });
          s->on_close([this](const net::status&) { closed_ = true; });
        });
    const auto st = listener_->listen({});
    EXPECT_TRUE(st.ok()) << st.message;
  }
  ~raw_server() {
    if (stream_) stream_->close();
    listener_->close();
  }
  raw_server(const raw_server&) = delete;
  raw_server& operator=(const raw_server&) = delete;

  std::uint16_t port() const { return listener_->port(); }
  int accepted() const { return accepted_; }
  bool closed() const { return closed_; }

  void send(const byte_buffer& bytes) {
    ASSERT_TRUE(stream_ && stream_->is_open());
    ASSERT_TRUE(stream_->write(byte_view(bytes)).ok());
  }

  // The next not yet taken frame of a type, waiting up to deadline.
  std::optional<byte_buffer> next(std::uint8_t type, std::chrono::milliseconds deadline = 5s) {
    auto find = [&]() -> std::optional<std::size_t> {
      for (std::size_t i = 0; i < frames_.size(); ++i) {
        if (!frames_[i].second && frame_type(frames_[i].first) == type) return i;
      }
      return std::nullopt;
    };
    test_support::run_until(
        loop_, [&] { return find().has_value(); }, deadline);
    const auto i = find();
    if (!i) return std::nullopt;
    frames_[*i].second = true;
    last_taken_ = *i;
    return frames_[*i].first;
  }
  std::size_t frame_count() const { return frames_.size(); }
  // Where the frame next() returned last stands among all frames received.
  std::size_t last_taken() const { return last_taken_; }

 private:
  iotgw::uv::loop& loop_;
  std::shared_ptr<net::listener> listener_;
  std::shared_ptr<net::tcp_stream> stream_;
  byte_buffer pending_;
  std::vector<std::pair<byte_buffer, bool>> frames_;  // (bytes, taken)
  std::size_t last_taken_ = 0;
  int accepted_ = 0;
  bool closed_ = false;
};

}  // namespace cloud_test
