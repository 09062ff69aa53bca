// Running the libuv loop in tests: until a condition holds or a deadline passes
// (never a fixed sleep), and a fixture whose loop must close cleanly.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>

#include "iotmp_gateway/net/uv_loop.hpp"
#include "iotmp_gateway/net/uv_timer.hpp"

namespace test_support {

// Runs the loop until done() or the deadline; true when done() held.
inline bool run_until(iotgw::uv::loop& loop, const std::function<bool()>& done,
                      std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  bool expired = false;
  auto timer = iotgw::uv::timer::create(loop);
  timer->start(deadline, [&] { expired = true; });
  while (!done() && !expired) loop.run(UV_RUN_ONCE);
  timer->close();
  return done();
}

// A loop that must close cleanly at the end of every test.
class loop_test : public ::testing::Test {
 protected:
  void TearDown() override { EXPECT_TRUE(loop_.close()) << "handles left open"; }
  iotgw::uv::loop loop_;
};

}  // namespace test_support
