#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <thread>

#include "iotmp_gateway/net/uv_async.hpp"
#include "iotmp_gateway/net/uv_signal.hpp"
#include "iotmp_gateway/net/uv_tcp.hpp"
#include "iotmp_gateway/net/uv_timer.hpp"
#include "net_support.hpp"

using namespace net_test;

namespace {

class uv_layer : public loop_test {};

TEST_F(uv_layer, timer_fires_once_and_repeats) {
  int once = 0;
  int repeats = 0;
  auto t1 = uv::timer::create(loop_);
  auto t2 = uv::timer::create(loop_);
  t1->start(1ms, [&] { ++once; });
  t2->start(1ms, 1ms, [&] {
    if (++repeats == 3) t2->stop();
  });
  EXPECT_TRUE(run_until(loop_, [&] { return once == 1 && repeats == 3; }));
  t1->close();
  t2->close();
}

TEST_F(uv_layer, handle_outlives_its_last_user_reference_until_closed) {
  std::weak_ptr<uv::timer> weak;
  int fired = 0;
  {
    auto t = uv::timer::create(loop_);
    weak = t;
    t->start(1ms, [&] { ++fired; });
  }
  // Nobody holds it, yet it is alive and running: it owns itself until uv_close.
  ASSERT_FALSE(weak.expired());
  EXPECT_TRUE(run_until(loop_, [&] { return fired == 1; }));
  weak.lock()->close();
  EXPECT_FALSE(weak.expired());  // libuv still owns the memory until the close callback
  EXPECT_TRUE(run_until(loop_, [&] { return weak.expired(); }));
}

TEST_F(uv_layer, close_from_inside_own_callback) {
  bool fired = false;
  std::weak_ptr<uv::timer> weak;
  {
    auto t = uv::timer::create(loop_);
    weak = t;
    t->start(1ms, [&, raw = t.get()] {
      fired = true;
      raw->close();
    });
  }
  EXPECT_TRUE(run_until(loop_, [&] { return fired && weak.expired(); }));
}

TEST_F(uv_layer, async_wakes_the_loop_from_another_thread) {
  std::atomic<int> sent{0};
  int received = 0;
  auto a = uv::async::create(loop_, [&] { received = sent.load(); });
  std::thread producer([&] {
    for (int i = 0; i < 100; ++i) {
      ++sent;
      a->send();
    }
  });
  // Sends coalesce: what matters is that the last one is seen.
  EXPECT_TRUE(run_until(loop_, [&] { return received == 100; }));
  producer.join();
  a->close();
}

TEST_F(uv_layer, signal_runs_on_the_loop) {
  int seen = 0;
  auto s = uv::signal::create(loop_);
  ASSERT_EQ(s->start(SIGUSR2, [&](int signum) { seen = signum; }), 0);
  ASSERT_EQ(::raise(SIGUSR2), 0);
  EXPECT_TRUE(run_until(loop_, [&] { return seen == SIGUSR2; }));
  s->close();
}

TEST(uv_loop, close_closes_handles_still_open_and_frees_them) {
  std::weak_ptr<uv::timer> timer;
  std::weak_ptr<uv::tcp> tcp;
  std::weak_ptr<uv::async> async;
  {
    uv::loop loop;
    auto t = uv::timer::create(loop);
    t->start(1h, [] {});
    timer = t;
    tcp = uv::tcp::create(loop);
    async = uv::async::create(loop, [] {});
    // A foreign handle, not made by our wrappers, is closed too.
    uv_idle_t idle;
    uv_idle_init(loop.raw(), &idle);
    uv_idle_start(&idle, [](uv_idle_t*) {});
    EXPECT_TRUE(loop.close());
    EXPECT_TRUE(loop.closed());
  }
  EXPECT_TRUE(timer.expired());
  EXPECT_TRUE(tcp.expired());
  EXPECT_TRUE(async.expired());
}

TEST(uv_loop, destructor_closes_a_loop_with_open_handles) {
  std::weak_ptr<uv::timer> timer;
  {
    uv::loop loop;
    timer = uv::timer::create(loop);
  }
  EXPECT_TRUE(timer.expired());
}

}  // namespace
