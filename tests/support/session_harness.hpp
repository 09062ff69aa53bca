// Plays the server's side of a device_session in unit tests: decodes what the
// session wrote, and feeds it frames built with the codec.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "iotmp_gateway/iotmp/device_session.hpp"

namespace test_support {

class fake_server {
 public:
  explicit fake_server(iotgw::iotmp::device_session& s) : session_(s) {}

  // Everything the session wrote since the last call, decoded.
  std::vector<iotgw::iotmp::message> sent() {
    iotgw::iotmp::frame_decoder d;
    d.feed(session_.output());
    session_.output().clear();
    std::vector<iotgw::iotmp::message> out;
    iotgw::iotmp::message_view v;
    while (d.next(v) == iotgw::iotmp::frame_decoder::status::frame) {
      out.push_back(iotgw::iotmp::message::from_view(v));
    }
    EXPECT_EQ(d.buffered(), 0u);
    return out;
  }

  void send(const iotgw::iotmp::message& m, iotgw::iotmp::time_point now = {}) {
    const auto bytes = iotgw::iotmp::encode(m);
    session_.on_data(bytes, now);
  }

  // Connects and answers CONNECT with OK; returns the frames sent after it.
  std::vector<iotgw::iotmp::message> authenticate(iotgw::iotmp::time_point now = {}) {
    session_.on_connected(now);
    auto frames = sent();
    EXPECT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames.at(0).type, iotgw::iotmp::message_type::connect);
    send({iotgw::iotmp::message_type::ok, frames.at(0).stream_id, {}, {}, {}}, now);
    EXPECT_EQ(session_.state(), iotgw::iotmp::session_state::ready);
    return sent();
  }

 private:
  iotgw::iotmp::device_session& session_;
};

}  // namespace test_support
