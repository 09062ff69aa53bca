// The GCD stream merger: the pure schedule with a fake clock (examples and
// randomised properties), then the merger against a real registry and server
// with the hand-made device on loopback, asserting what the device sees on the
// wire. Sample times come from a fake clock the test advances, so periods of
// seconds take no time.
#include "iotmp_gateway/devserver/stream_merger.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "devserver/test_device.hpp"
#include "iotmp_gateway/devserver/registry.hpp"
#include "iotmp_gateway/devserver/server.hpp"
#include "iotmp_gateway/devserver/topic_table.hpp"
#include "support/loop.hpp"

using namespace devserver_test;
namespace ds = iotgw::devserver;
using ds::device_id;
using ds::interval_schedule;
using ds::request_status;
using ds::steady_time;
using ds::stream_merger;
using pson::object;
using pson::value;
using std::chrono::milliseconds;

namespace {

using key = interval_schedule::key;

// Far from the epoch, so that "never delivered" cannot pass for time zero.
const steady_time t0 = steady_time{} + std::chrono::hours(1);

milliseconds brute_gcd(const std::vector<milliseconds>& periods) {
  const auto smallest = std::min_element(periods.begin(), periods.end())->count();
  for (auto d = smallest; d > 1; --d) {
    if (std::all_of(periods.begin(), periods.end(),
                    [d](milliseconds p) { return p.count() % d == 0; }))
      return milliseconds(d);
  }
  return milliseconds(1);
}

// --- interval_schedule ------------------------------------------------------------

TEST(interval_schedule, six_and_nine_seconds_stream_at_three) {
  interval_schedule s;
  EXPECT_FALSE(s.interval());
  s.add(1, 6000ms);
  EXPECT_EQ(s.interval(), 6000ms);
  s.add(2, 9000ms);
  EXPECT_EQ(s.interval(), 3000ms);
  std::map<key, std::vector<int>> got;
  for (int i = 0; i <= 12; ++i) {
    for (const key k : s.on_sample(t0 + i * 3000ms)) got[k].push_back(i);
  }
  // The first sample goes to everybody, then A every 2nd, B every 3rd.
  EXPECT_EQ(got[1], (std::vector<int>{0, 2, 4, 6, 8, 10, 12}));
  EXPECT_EQ(got[2], (std::vector<int>{0, 3, 6, 9, 12}));
}

TEST(interval_schedule, keys_periods_and_invalid_periods) {
  interval_schedule s;
  EXPECT_TRUE(s.on_sample(t0).empty());  // nobody to serve
  s.add(7, 2000ms);
  s.add(3, 5000ms);
  EXPECT_EQ(s.keys(), (std::vector<key>{3, 7}));
  EXPECT_EQ(s.period(7), 2000ms);
  EXPECT_FALSE(s.period(8));
  EXPECT_EQ(s.interval(), 1000ms);
  s.add(3, 4000ms);  // a new period for an existing key
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.interval(), 2000ms);
  EXPECT_THROW(s.add(9, 0ms), std::invalid_argument);
  EXPECT_THROW(s.add(9, -5ms), std::invalid_argument);
  EXPECT_FALSE(s.contains(9));
  EXPECT_TRUE(s.remove(3));
  EXPECT_FALSE(s.remove(3));
  EXPECT_EQ(s.interval(), 2000ms);
  EXPECT_TRUE(s.remove(7));
  EXPECT_TRUE(s.empty());
  EXPECT_FALSE(s.interval());  // the merger STOPs the device stream
}

TEST(interval_schedule, property_interval_is_the_gcd) {
  std::mt19937 rng(20240501);
  std::uniform_int_distribution<int> count(1, 6);
  std::uniform_int_distribution<int> ms(1, 20000);
  std::uniform_int_distribution<int> seconds(1, 60);
  for (int round = 0; round < 300; ++round) {
    interval_schedule s;
    std::vector<milliseconds> periods;
    const int n = count(rng);
    for (int i = 0; i < n; ++i) {
      // Half the rounds in whole seconds (what the HTTP layer asks for), half anything.
      periods.emplace_back(round % 2 == 0 ? seconds(rng) * 1000 : ms(rng));
      s.add(static_cast<key>(i + 1), periods.back());
      ASSERT_EQ(s.interval(), brute_gcd(periods)) << "round " << round;
    }
    // Leaving recomputes too.
    while (periods.size() > 1) {
      s.remove(periods.size());
      periods.pop_back();
      ASSERT_EQ(s.interval(), brute_gcd(periods)) << "round " << round;
    }
  }
}

// Random sets of periods made of a base and small multiples, so that the
// device interval and the number of samples stay bounded.
std::vector<milliseconds> random_periods(std::mt19937& rng, int max_count) {
  static const int bases[] = {100, 250, 500, 1000, 1500};
  static const int factors[] = {1, 2, 3, 4, 5, 6, 8, 9, 12};
  std::uniform_int_distribution<int> count(1, max_count);
  std::uniform_int_distribution<std::size_t> base(0, std::size(bases) - 1);
  std::uniform_int_distribution<std::size_t> factor(0, std::size(factors) - 1);
  const int b = bases[base(rng)];
  std::vector<milliseconds> out;
  for (int i = count(rng); i > 0; --i) out.emplace_back(b * factors[factor(rng)]);
  return out;
}

// Samples at the device interval, each up to a quarter interval early or late:
// every consumer gets exactly every (period / interval)-th sample, its first
// sample at once.
TEST(interval_schedule, property_each_consumer_gets_its_period_despite_jitter) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    const auto periods = random_periods(rng, 5);
    interval_schedule s;
    for (std::size_t i = 0; i < periods.size(); ++i) s.add(i + 1, periods[i]);
    const auto d = *s.interval();
    ASSERT_EQ(d, brute_gcd(periods));
    const bool jitter = round % 2 == 1;
    std::uniform_int_distribution<std::int64_t> j(-d.count() / 4 + 1, d.count() / 4 - 1);
    const auto longest = *std::max_element(periods.begin(), periods.end());
    const int samples = static_cast<int>(4 * (longest / d)) + 1;
    std::map<key, std::vector<int>> got;
    for (int i = 0; i < samples; ++i) {
      const auto at = t0 + i * d + milliseconds(jitter && i > 0 ? j(rng) : 0);
      for (const key k : s.on_sample(at)) got[k].push_back(i);
    }
    for (std::size_t c = 0; c < periods.size(); ++c) {
      const auto& idx = got[c + 1];
      const int step = static_cast<int>(periods[c] / d);
      ASSERT_GE(idx.size(), 4u);
      EXPECT_EQ(idx.front(), 0);
      for (std::size_t i = 1; i < idx.size(); ++i) {
        ASSERT_EQ(idx[i] - idx[i - 1], step)
            << "round " << round << " period " << periods[c].count() << " interval " << d.count();
      }
    }
  }
}

// Consumers join and leave at random. After each change the device goes on at
// the old interval for a few samples (until it answers the re-START; the
// merger tells the schedule so), then restarts its timer at a random moment at
// the new GCD. The interval is always the GCD; once the device streams at it,
// every consumer's gaps equal its period; no gap is ever shorter than the
// period less half the interval the device streams at.
TEST(interval_schedule, property_joining_and_leaving_keeps_periods) {
  std::mt19937 rng(42);
  static const int factors[] = {1, 2, 3, 4, 6, 8, 12};
  std::uniform_int_distribution<std::size_t> factor(0, std::size(factors) - 1);
  for (int round = 0; round < 100; ++round) {
    const int base = round % 3 == 0 ? 1000 : 500;
    interval_schedule s;
    std::map<key, milliseconds> live;
    key next = 1;
    struct delivery {
      steady_time at;
      int stretch;             // odd: the device streams at the GCD
      milliseconds streaming;  // the shortest interval it may stream at
    };
    std::map<key, std::vector<delivery>> got;
    steady_time now = t0;
    std::optional<milliseconds> old;
    for (int epoch = 0; epoch < 12; ++epoch) {
      // One change: join, or leave while somebody stays (the merger tests
      // cover the STOP).
      const bool join = live.size() < 2 || (rng() % 2 == 0 && live.size() < 5);
      if (join) {
        const milliseconds p(base * factors[factor(rng)]);
        s.add(next, p);
        live.emplace(next++, p);
      } else {
        auto it = live.begin();
        std::advance(it, static_cast<long>(rng() % live.size()));
        s.remove(it->first);
        live.erase(it);
      }
      std::vector<milliseconds> periods;
      for (const auto& [k, p] : live) periods.push_back(p);
      const auto d = *s.interval();
      ASSERT_EQ(d, brute_gcd(periods));
      int stretch = 2 * epoch;
      if (old) {
        const auto streaming = std::min(*old, d);
        s.set_device_interval(streaming);
        for (int i = static_cast<int>(rng() % 3); i > 0; --i) {
          now += *old;
          for (const key k : s.on_sample(now)) got[k].push_back({now, stretch, streaming});
        }
      }
      s.set_device_interval(d);
      ++stretch;
      now += milliseconds(static_cast<std::int64_t>(rng() % static_cast<unsigned>(d.count())));
      const auto longest = *std::max_element(periods.begin(), periods.end());
      for (int i = static_cast<int>(3 * (longest / d)) + 2; i > 0; --i) {
        now += d;
        for (const key k : s.on_sample(now)) got[k].push_back({now, stretch, d});
      }
      for (const auto& [k, p] : live) {
        const auto& g = got[k];
        ASSERT_GE(std::count_if(g.begin(), g.end(),
                                [&](const delivery& x) { return x.stretch == stretch; }),
                  2)
            << "round " << round << " epoch " << epoch;
        for (std::size_t i = 1; i < g.size(); ++i) {
          const auto gap = g[i].at - g[i - 1].at;
          if (g[i].stretch == g[i - 1].stretch && g[i].stretch % 2 == 1) {
            ASSERT_EQ(gap, p) << "round " << round << " epoch " << epoch << " period " << p.count();
          } else {
            ASSERT_GE(gap, p - g[i].streaming / 2) << "round " << round << " epoch " << epoch;
          }
        }
      }
      old = d;
    }
  }
}

// When the GCD grows the device may keep streaming at the old, shorter
// interval until it processes the re-START: consumers must not take those
// samples early.
TEST(interval_schedule, old_interval_samples_after_the_gcd_grew) {
  interval_schedule s;
  s.add(1, 6000ms);
  s.add(2, 3000ms);
  std::vector<steady_time> a;
  for (int i = 0; i <= 4; ++i) {
    for (const key k : s.on_sample(t0 + i * 3000ms)) {
      if (k == 1) a.push_back(t0 + i * 3000ms);
    }
  }
  s.remove(2);
  EXPECT_EQ(s.interval(), 6000ms);
  // Still every 3 s until the device answers the re-START, then every 6 s.
  s.set_device_interval(3000ms);
  for (int i = 5; i <= 8; ++i) {
    for (const key k : s.on_sample(t0 + i * 3000ms)) {
      if (k == 1) a.push_back(t0 + i * 3000ms);
    }
  }
  s.set_device_interval(6000ms);
  for (int i = 1; i <= 3; ++i) {
    const auto at = t0 + 24000ms + i * 6000ms;
    for (const key k : s.on_sample(at)) {
      if (k == 1) a.push_back(at);
    }
  }
  ASSERT_EQ(a.size(), 8u);
  for (std::size_t i = 1; i < a.size(); ++i) EXPECT_EQ(a[i] - a[i - 1], 6000ms) << i;
}

// --- stream_merger on a real registry, server and device ----------------------------

class merger_test : public test_support::loop_test {
 protected:
  void SetUp() override {
    ds::server_options o;
    o.port = 0;
    o.allow_any = true;
    server_ = std::make_unique<ds::server>(loop_, registry_, o);
    const auto st = server_->start();
    ASSERT_TRUE(st.ok()) << st.message;
  }
  void TearDown() override {
    merger_.reset();  // before the registry, and its STOPs may still go out
    server_.reset();
    loop_test::TearDown();
  }

  // A device that answers every START_STREAM (OK, or ERROR when refuse says
  // so) and STOP_STREAM, and keeps them.
  std::unique_ptr<test_device> device(bool authenticate = true) {
    auto d = std::make_unique<test_device>(loop_, server_->port());
    test_device* raw = d.get();
    d->on_message = [this, raw](const message& m) {
      if (m.type == message_type::start_stream) {
        starts_.push_back(m);
        if (hold_) return;  // the test answers
        if (refuse_ && refuse_(m)) {
          raw->error(*m.stream_id);
        } else {
          raw->ok(*m.stream_id);
        }
      } else if (m.type == message_type::stop_stream) {
        stops_.push_back(m);
        raw->ok(*m.stream_id);
      }
    };
    if (authenticate) {
      EXPECT_TRUE(d->connect_and_authenticate(alice.user, alice.device)) << d->connect_error();
      EXPECT_TRUE(wait([&] { return registry_.connected(alice); }));
    }
    return d;
  }

  bool wait(const std::function<bool()>& cond, std::chrono::milliseconds deadline = 5s) {
    return test_support::run_until(loop_, cond, deadline);
  }

  // Everything the server sent before now has reached the device, and
  // everything the device sent before now has been handled: a KEEP_ALIVE
  // round trip on the same, ordered connection.
  void round_trip(test_device& d) {
    d.keep_alive();
    ASSERT_TRUE(d.next(message_type::keep_alive));
  }

  // One sample from the device, taken by the server at the fake time now_.
  void sample(test_device& d, std::uint16_t sid, std::int64_t v) {
    d.stream_data(sid, value(v));
    round_trip(d);
  }

  static std::optional<milliseconds> interval_of(const message& m) {
    if (!m.parameters) return std::nullopt;
    const value* i = m.parameters->find("interval");
    std::uint64_t ms = 0;
    if (i == nullptr || !i->get_unsigned(ms)) return std::nullopt;
    return milliseconds(ms);
  }

  // A consumer that keeps what it gets and when (fake time).
  struct probe {
    std::vector<std::int64_t> values;
    std::vector<steady_time> times;
    std::vector<request_status> ended;

    std::vector<milliseconds> gaps(std::size_t from = 0) const {
      std::vector<milliseconds> out;
      for (std::size_t i = from + 1; i < times.size(); ++i)
        out.push_back(std::chrono::duration_cast<milliseconds>(times[i] - times[i - 1]));
      return out;
    }
  };
  stream_merger::consumer_callbacks callbacks(probe& p) {
    stream_merger::consumer_callbacks cb;
    cb.on_sample = [this, &p](const value& v) {
      std::int64_t x = -1;
      v.get_signed(x);
      p.values.push_back(x);
      p.times.push_back(now_);
    };
    cb.on_ended = [&p](request_status why) { p.ended.push_back(why); };
    return cb;
  }

  stream_merger& merger() {
    if (!merger_) merger_ = std::make_unique<stream_merger>(registry_, [this] { return now_; });
    return *merger_;
  }

  ds::topic_table topics_;
  ds::device_registry registry_{topics_};
  std::unique_ptr<ds::server> server_;
  std::unique_ptr<stream_merger> merger_;
  steady_time now_ = t0;
  std::vector<message> starts_;
  std::vector<message> stops_;
  std::function<bool(const message&)> refuse_;
  bool hold_ = false;
  const device_id alice{"alice", "gw01"};
};

TEST_F(merger_test, gcd_stream_serves_each_consumer_at_its_period) {
  auto d = device();
  probe a, b;
  const auto ida = merger().add(alice, "temperature", 6000ms, callbacks(a));
  ASSERT_TRUE(wait([&] { return starts_.size() == 1; }));
  EXPECT_EQ(interval_of(starts_[0]), 6000ms);
  const auto idb = merger().add(alice, "temperature", 9000ms, callbacks(b));
  EXPECT_NE(ida, 0u);
  EXPECT_NE(idb, ida);
  // Re-STARTed on the same stream id at the GCD.
  ASSERT_TRUE(wait([&] { return starts_.size() == 2; }));
  EXPECT_EQ(starts_[1].stream_id, starts_[0].stream_id);
  EXPECT_EQ(interval_of(starts_[1]), 3000ms);
  ASSERT_TRUE(starts_[1].resource && starts_[1].resource->is_string());
  EXPECT_EQ(starts_[1].resource->as_string(), "temperature");
  const auto st = merger().state(alice, "temperature");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->interval, 3000ms);
  EXPECT_EQ(st->wanted_interval, 3000ms);
  EXPECT_EQ(st->interval_consumers, 2u);
  EXPECT_EQ(st->event_consumers, 0u);
  EXPECT_FALSE(st->event_stream);
  EXPECT_TRUE(st->device_connected);
  EXPECT_EQ(merger().consumers(), 2u);
  EXPECT_FALSE(merger().state(alice, "humidity"));
  EXPECT_EQ(registry_.find(alice)->server_streams, 1u);  // one device stream for both

  const auto sid = *starts_[0].stream_id;
  for (int i = 0; i <= 12; ++i) {
    if (i > 0) now_ += 3000ms;
    sample(*d, sid, i);
  }
  EXPECT_EQ(a.values, (std::vector<std::int64_t>{0, 2, 4, 6, 8, 10, 12}));
  EXPECT_EQ(b.values, (std::vector<std::int64_t>{0, 3, 6, 9, 12}));
  for (const auto g : a.gaps()) EXPECT_EQ(g, 6000ms);
  for (const auto g : b.gaps()) EXPECT_EQ(g, 9000ms);
  EXPECT_TRUE(a.ended.empty());
}

TEST_F(merger_test, joining_and_leaving_restart_or_stop_the_device_stream) {
  auto d = device();
  probe a, b, c;
  const auto ida = merger().add(alice, "t", 6000ms, callbacks(a));
  ASSERT_TRUE(wait([&] { return starts_.size() == 1; }));
  const auto sid = *starts_[0].stream_id;
  EXPECT_EQ(interval_of(starts_[0]), 6000ms);

  const auto idb = merger().add(alice, "t", 4000ms, callbacks(b));
  ASSERT_TRUE(wait([&] { return starts_.size() == 2; }));
  EXPECT_EQ(interval_of(starts_[1]), 2000ms);
  EXPECT_EQ(starts_[1].stream_id, sid);

  // gcd(6, 4, 8) is still 2: nothing goes to the device.
  const auto idc = merger().add(alice, "t", 8000ms, callbacks(c));
  round_trip(*d);
  EXPECT_EQ(starts_.size(), 2u);
  // gcd(6, 8) is still 2.
  merger().remove(idb);
  round_trip(*d);
  EXPECT_EQ(starts_.size(), 2u);
  EXPECT_EQ(merger().state(alice, "t")->interval_consumers, 2u);

  // A stays at 6 s, C at 8 s, on the shared 2 s stream.
  for (int i = 0; i <= 24; ++i) {
    if (i > 0) now_ += 2000ms;
    sample(*d, sid, i);
  }
  for (const auto g : a.gaps()) EXPECT_EQ(g, 6000ms);
  for (const auto g : c.gaps()) EXPECT_EQ(g, 8000ms);
  EXPECT_EQ(c.values.size(), 7u);

  merger().remove(idc);
  ASSERT_TRUE(wait([&] { return starts_.size() == 3; }));
  EXPECT_EQ(interval_of(starts_[2]), 6000ms);
  EXPECT_EQ(starts_[2].stream_id, sid);
  EXPECT_EQ(merger().state(alice, "t")->interval, 6000ms);
  // After the re-START the device streams at 6 s; A keeps its period.
  const auto before = a.times.size();
  for (int i = 25; i <= 30; ++i) {
    now_ += 6000ms;
    sample(*d, sid, i);
  }
  ASSERT_GE(a.times.size(), before + 5);
  for (const auto g : a.gaps(before)) EXPECT_EQ(g, 6000ms);

  merger().remove(ida);
  merger().remove(ida);  // idempotent
  ASSERT_TRUE(wait([&] { return stops_.size() == 1; }));
  EXPECT_EQ(stops_[0].stream_id, sid);
  EXPECT_FALSE(merger().state(alice, "t"));
  EXPECT_EQ(merger().consumers(), 0u);
  EXPECT_TRUE(wait([&] { return registry_.find(alice)->server_streams == 0; }));
  // Late data raced the STOP: nobody gets it.
  const auto got = a.values.size();
  sample(*d, sid, 99);
  EXPECT_EQ(a.values.size(), got);
}

// While a START awaits its answer, changes wait for it and coalesce into one
// re-START; samples the device still sends at the old, shorter interval do
// not reach consumers early.
TEST_F(merger_test, changes_while_a_start_is_out_coalesce_and_keep_periods) {
  auto d = device();
  hold_ = true;
  probe a, b, c;
  merger().add(alice, "t", 6000ms, callbacks(a));
  const auto idb = merger().add(alice, "t", 3000ms, callbacks(b));
  const auto idc = merger().add(alice, "t", 9000ms, callbacks(c));
  ASSERT_TRUE(wait([&] { return starts_.size() == 1; }));
  round_trip(*d);
  ASSERT_EQ(starts_.size(), 1u);  // nothing more until the device answers
  EXPECT_EQ(interval_of(starts_[0]), 6000ms);
  EXPECT_EQ(merger().state(alice, "t")->interval, 6000ms);
  EXPECT_EQ(merger().state(alice, "t")->wanted_interval, 3000ms);
  const auto sid = *starts_[0].stream_id;
  d->ok(sid);
  ASSERT_TRUE(wait([&] { return starts_.size() == 2; }));
  EXPECT_EQ(interval_of(starts_[1]), 3000ms);  // one re-START at the final GCD
  EXPECT_EQ(starts_[1].stream_id, sid);
  d->ok(sid);
  round_trip(*d);
  EXPECT_EQ(starts_.size(), 2u);

  for (int i = 0; i <= 6; ++i) {
    if (i > 0) now_ += 3000ms;
    sample(*d, sid, i);
  }
  // B and C leave: the device is asked for 6 s, but until it answers it goes
  // on at 3 s.
  merger().remove(idb);
  merger().remove(idc);
  ASSERT_TRUE(wait([&] { return starts_.size() == 3; }));
  EXPECT_EQ(interval_of(starts_[2]), 6000ms);
  for (int i = 7; i <= 10; ++i) {
    now_ += 3000ms;
    sample(*d, sid, i);
  }
  d->ok(sid);
  for (int i = 11; i <= 13; ++i) {
    now_ += 6000ms;
    sample(*d, sid, i);
  }
  EXPECT_EQ(a.values, (std::vector<std::int64_t>{0, 2, 4, 6, 8, 10, 11, 12, 13}));
  for (const auto g : a.gaps()) EXPECT_EQ(g, 6000ms);
  EXPECT_EQ(b.values, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(c.values, (std::vector<std::int64_t>{0, 3, 6}));
}

TEST_F(merger_test, periods_must_be_positive) {
  probe a;
  EXPECT_THROW(merger().add(alice, "t", 0ms, callbacks(a)), std::invalid_argument);
  EXPECT_THROW(merger().add(alice, "t", -1000ms, callbacks(a)), std::invalid_argument);
  EXPECT_EQ(merger().consumers(), 0u);
  EXPECT_FALSE(merger().state(alice, "t"));
}

TEST_F(merger_test, event_and_interval_consumers_share_the_resource) {
  auto d = device();
  probe e1, e2, a;
  const auto ide1 = merger().add(alice, "door", std::nullopt, callbacks(e1));
  const auto ide2 = merger().add(alice, "door", std::nullopt, callbacks(e2));
  const auto ida = merger().add(alice, "door", 5000ms, callbacks(a));
  ASSERT_TRUE(wait([&] { return starts_.size() == 2; }));
  round_trip(*d);
  ASSERT_EQ(starts_.size(), 2u);  // one event stream for both event consumers
  const auto event_sid = *starts_[0].stream_id;
  const auto interval_sid = *starts_[1].stream_id;
  EXPECT_FALSE(starts_[0].parameters);  // an event stream has no interval
  EXPECT_EQ(interval_of(starts_[1]), 5000ms);
  EXPECT_NE(event_sid, interval_sid);
  auto st = merger().state(alice, "door");
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->event_stream);
  EXPECT_EQ(st->interval, 5000ms);
  EXPECT_EQ(st->event_consumers, 2u);
  EXPECT_EQ(st->interval_consumers, 1u);

  // Events go to every event consumer, however close together.
  sample(*d, event_sid, 1);
  sample(*d, event_sid, 2);
  sample(*d, interval_sid, 10);
  EXPECT_EQ(e1.values, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(e2.values, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(a.values, (std::vector<std::int64_t>{10}));

  // The last interval consumer leaves: only its stream stops.
  merger().remove(ida);
  ASSERT_TRUE(wait([&] { return stops_.size() == 1; }));
  EXPECT_EQ(stops_[0].stream_id, interval_sid);
  st = merger().state(alice, "door");
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->interval);
  EXPECT_FALSE(st->wanted_interval);
  EXPECT_TRUE(st->event_stream);
  sample(*d, event_sid, 3);
  EXPECT_EQ(e1.values.back(), 3);
  EXPECT_EQ(e2.values.back(), 3);

  merger().remove(ide1);
  round_trip(*d);
  EXPECT_EQ(stops_.size(), 1u);  // e2 still listens
  sample(*d, event_sid, 4);
  EXPECT_EQ(e1.values.back(), 3);
  EXPECT_EQ(e2.values.back(), 4);
  merger().remove(ide2);
  ASSERT_TRUE(wait([&] { return stops_.size() == 2; }));
  EXPECT_EQ(stops_[1].stream_id, event_sid);
  EXPECT_FALSE(merger().state(alice, "door"));
}

TEST_F(merger_test, offline_consumers_wait_and_streams_reopen_after_reconnects) {
  probe a, b, e;
  merger().add(alice, "t", 4000ms, callbacks(a));
  merger().add(alice, "t", 6000ms, callbacks(b));
  merger().add(alice, "t", std::nullopt, callbacks(e));
  auto st = merger().state(alice, "t");
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->device_connected);
  EXPECT_FALSE(st->interval);
  EXPECT_FALSE(st->event_stream);
  EXPECT_EQ(st->wanted_interval, 2000ms);
  EXPECT_EQ(st->interval_consumers, 2u);

  for (int connection = 1; connection <= 3; ++connection) {
    starts_.clear();
    auto d = device();
    // Opened on connect: straight at the GCD.
    ASSERT_TRUE(wait([&] { return starts_.size() == 2; })) << connection;
    std::optional<std::uint16_t> interval_sid, event_sid;
    for (const auto& m : starts_) {
      if (interval_of(m)) {
        EXPECT_EQ(interval_of(m), 2000ms);
        interval_sid = m.stream_id;
      } else {
        event_sid = m.stream_id;
      }
    }
    ASSERT_TRUE(interval_sid && event_sid);
    st = merger().state(alice, "t");
    EXPECT_TRUE(st->device_connected);
    EXPECT_EQ(st->interval, 2000ms);
    EXPECT_TRUE(st->event_stream);

    const auto a_before = a.times.size();
    const auto b_before = b.times.size();
    for (int i = 0; i <= 12; ++i) {
      now_ += 2000ms;
      sample(*d, *interval_sid, i);
    }
    sample(*d, *event_sid, connection);
    EXPECT_EQ(e.values.back(), connection);
    // Gaps within the connection; the first one spans the reconnect.
    ASSERT_GE(a.times.size(), a_before + 6);
    ASSERT_GE(b.times.size(), b_before + 4);
    for (const auto g : a.gaps(a_before)) EXPECT_EQ(g, 4000ms) << connection;
    for (const auto g : b.gaps(b_before)) EXPECT_EQ(g, 6000ms) << connection;

    d->close();
    ASSERT_TRUE(wait([&] { return !registry_.connected(alice); }));
    st = merger().state(alice, "t");
    ASSERT_TRUE(st);  // the consumers are kept
    EXPECT_FALSE(st->device_connected);
    EXPECT_FALSE(st->interval);
    EXPECT_EQ(merger().consumers(), 3u);
    now_ += 60s;
  }
  EXPECT_TRUE(a.ended.empty());
  EXPECT_TRUE(e.ended.empty());
}

TEST_F(merger_test, a_replacing_connection_gets_the_streams) {
  auto first = device();
  probe a;
  merger().add(alice, "t", 1000ms, callbacks(a));
  ASSERT_TRUE(wait([&] { return starts_.size() == 1; }));
  auto second = device();  // the same device again: the first connection is dropped
  EXPECT_TRUE(first->wait_closed());
  ASSERT_TRUE(wait([&] { return starts_.size() == 2; }));
  EXPECT_EQ(interval_of(starts_[1]), 1000ms);
  const auto sid = *starts_[1].stream_id;
  sample(*second, sid, 1);
  now_ += 1000ms;
  sample(*second, sid, 2);
  EXPECT_EQ(a.values, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(registry_.find(alice)->server_streams, 1u);
}

TEST_F(merger_test, a_refused_stream_ends_its_consumers_only) {
  auto d = device();
  refuse_ = [](const message& m) { return interval_of(m).has_value(); };
  probe a, b, e;
  merger().add(alice, "t", std::nullopt, callbacks(e));
  merger().add(alice, "t", 2000ms, callbacks(a));
  merger().add(alice, "t", 3000ms, callbacks(b));
  EXPECT_TRUE(a.ended.empty());  // never from within add()
  ASSERT_TRUE(wait([&] { return !a.ended.empty() && !b.ended.empty(); }));
  EXPECT_EQ(a.ended, std::vector<request_status>{request_status::refused});
  EXPECT_EQ(b.ended, std::vector<request_status>{request_status::refused});
  EXPECT_EQ(merger().consumers(), 1u);
  auto st = merger().state(alice, "t");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->interval_consumers, 0u);
  EXPECT_FALSE(st->interval);
  EXPECT_TRUE(st->event_stream);
  const auto event_sid = *starts_[0].stream_id;
  EXPECT_FALSE(starts_[0].parameters);
  sample(*d, event_sid, 7);
  EXPECT_EQ(e.values, std::vector<std::int64_t>{7});

  // A refused event stream ends the event consumers; the resource is forgotten.
  refuse_ = [](const message&) { return true; };
  probe f;
  merger().add(alice, "u", std::nullopt, callbacks(f));
  ASSERT_TRUE(wait([&] { return !f.ended.empty(); }));
  EXPECT_EQ(f.ended, std::vector<request_status>{request_status::refused});
  EXPECT_FALSE(merger().state(alice, "u"));
}

TEST_F(merger_test, a_refused_restart_ends_the_interval_consumers) {
  auto d = device();
  probe a, b;
  merger().add(alice, "t", 6000ms, callbacks(a));
  ASSERT_TRUE(wait([&] { return starts_.size() == 1; }));
  refuse_ = [](const message& m) { return interval_of(m) == 2000ms; };
  merger().add(alice, "t", 4000ms, callbacks(b));
  ASSERT_TRUE(wait([&] { return !a.ended.empty() && !b.ended.empty(); }));
  EXPECT_EQ(starts_[1].stream_id, starts_[0].stream_id);
  EXPECT_EQ(merger().consumers(), 0u);
  EXPECT_FALSE(merger().state(alice, "t"));
}

TEST_F(merger_test, a_stream_stopped_by_the_device_ends_its_consumers) {
  auto d = device();
  probe a;
  merger().add(alice, "t", 1000ms, callbacks(a));
  ASSERT_TRUE(wait([&] { return starts_.size() == 1; }));
  d->send({message_type::stop_stream, *starts_[0].stream_id, {}, {}, {}});
  ASSERT_TRUE(wait([&] { return !a.ended.empty(); }));
  EXPECT_EQ(a.ended, std::vector<request_status>{request_status::stopped});
  EXPECT_EQ(merger().consumers(), 0u);
  round_trip(*d);
  EXPECT_EQ(starts_.size(), 1u);  // not asked again
}

TEST_F(merger_test, callbacks_may_add_and_remove_consumers) {
  auto d = device();
  probe b, late;
  stream_merger::consumer_id ida = 0, idc = 0;
  int a_calls = 0;
  int c_calls = 0;
  std::optional<stream_merger::consumer_id> added;
  stream_merger::consumer_callbacks cba;
  // A removes itself and C, and adds another consumer, from its first sample.
  cba.on_sample = [&](const value&) {
    ++a_calls;
    merger().remove(ida);
    merger().remove(idc);
    added = merger().add(alice, "t", 1000ms, callbacks(late));
  };
  stream_merger::consumer_callbacks cbc;
  cbc.on_sample = [&](const value&) { ++c_calls; };
  ida = merger().add(alice, "t", 1000ms, cba);
  merger().add(alice, "t", 1000ms, callbacks(b));
  idc = merger().add(alice, "t", 1000ms, cbc);
  ASSERT_TRUE(wait([&] { return !starts_.empty(); }));
  const auto sid = *starts_[0].stream_id;
  sample(*d, sid, 1);
  EXPECT_EQ(a_calls, 1);
  EXPECT_EQ(b.values, std::vector<std::int64_t>{1});
  EXPECT_EQ(c_calls, 0);  // removed before its turn
  ASSERT_TRUE(added);
  EXPECT_TRUE(late.values.empty());  // joined after this sample
  now_ += 1000ms;
  sample(*d, sid, 2);
  EXPECT_EQ(a_calls, 1);
  EXPECT_EQ(b.values, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(late.values, std::vector<std::int64_t>{2});
  EXPECT_EQ(merger().consumers(), 2u);

  // An on_ended callback removing another ended consumer: that one's never runs.
  refuse_ = [](const message&) { return true; };
  int x_ended = 0;
  int y_ended = 0;
  stream_merger::consumer_id idy = 0;
  stream_merger::consumer_callbacks cbx;
  cbx.on_ended = [&](request_status) {
    ++x_ended;
    merger().remove(idy);
  };
  stream_merger::consumer_callbacks cby;
  cby.on_ended = [&](request_status) { ++y_ended; };
  merger().add(alice, "v", 1000ms, cbx);
  idy = merger().add(alice, "v", 1000ms, cby);
  ASSERT_TRUE(wait([&] { return x_ended == 1; }));
  round_trip(*d);
  EXPECT_EQ(y_ended, 0);
}

TEST_F(merger_test, destroying_the_merger_stops_its_streams) {
  auto d = device();
  probe a, e;
  merger().add(alice, "t", 1000ms, callbacks(a));
  merger().add(alice, "t", std::nullopt, callbacks(e));
  merger().add(alice, "h", 2000ms, callbacks(a));
  ASSERT_TRUE(wait([&] { return starts_.size() == 3; }));
  merger_.reset();
  ASSERT_TRUE(wait([&] { return stops_.size() == 3; }));
  std::set<std::uint16_t> started, stopped;
  for (const auto& m : starts_) started.insert(*m.stream_id);
  for (const auto& m : stops_) stopped.insert(*m.stream_id);
  EXPECT_EQ(started, stopped);
  EXPECT_TRUE(a.ended.empty());
  EXPECT_TRUE(wait([&] { return registry_.find(alice)->server_streams == 0; }));
}

// Randomised sets of periods against the real device: the wire carries the GCD
// on one stream id, every consumer gets its period, leaving recomputes, and the
// last one leaving STOPs the stream.
TEST_F(merger_test, property_random_periods_on_the_wire) {
  auto d = device();
  std::mt19937 rng(1234);
  for (int round = 0; round < 6; ++round) {
    starts_.clear();
    stops_.clear();
    auto periods = random_periods(rng, 4);
    std::vector<std::unique_ptr<probe>> probes;
    std::vector<stream_merger::consumer_id> ids;
    std::vector<milliseconds> live;
    std::optional<milliseconds> expected;
    for (const auto p : periods) {
      probes.push_back(std::make_unique<probe>());
      ids.push_back(merger().add(alice, "r", p, callbacks(*probes.back())));
      live.push_back(p);
      const auto g = brute_gcd(live);
      if (g != expected) {
        ASSERT_TRUE(wait([&] { return !starts_.empty() && interval_of(starts_.back()) == g; }));
        expected = g;
      }
    }
    round_trip(*d);
    // Every START of the round is on one stream id, the last one at the GCD.
    const auto sid = *starts_[0].stream_id;
    for (const auto& m : starts_) EXPECT_EQ(m.stream_id, sid);
    EXPECT_EQ(interval_of(starts_.back()), brute_gcd(periods)) << "round " << round;
    EXPECT_EQ(merger().state(alice, "r")->interval, brute_gcd(periods));

    auto drive = [&](milliseconds dev, int count) {
      for (int i = 0; i < count; ++i) {
        now_ += dev;
        sample(*d, sid, i);
      }
    };
    const auto gcd = brute_gcd(periods);
    const auto longest = *std::max_element(periods.begin(), periods.end());
    drive(gcd, static_cast<int>(3 * (longest / gcd)) + 1);
    for (std::size_t i = 0; i < probes.size(); ++i) {
      ASSERT_GE(probes[i]->times.size(), 3u);
      for (const auto g : probes[i]->gaps()) EXPECT_EQ(g, periods[i]) << "round " << round;
    }

    // One leaves: the GCD of the others, re-STARTed when it changed.
    if (periods.size() > 1) {
      const std::size_t gone = rng() % periods.size();
      merger().remove(ids[gone]);
      std::vector<milliseconds> rest;
      for (std::size_t i = 0; i < periods.size(); ++i) {
        if (i != gone) rest.push_back(periods[i]);
      }
      const auto starts_before = starts_.size();
      round_trip(*d);
      const auto g2 = brute_gcd(rest);
      if (g2 != gcd) {
        ASSERT_EQ(starts_.size(), starts_before + 1);
        EXPECT_EQ(interval_of(starts_.back()), g2);
        EXPECT_EQ(starts_.back().stream_id, sid);
      } else {
        EXPECT_EQ(starts_.size(), starts_before);
      }
      std::vector<std::size_t> marks;
      for (const auto& p : probes) marks.push_back(p->times.size());
      const auto longest2 = *std::max_element(rest.begin(), rest.end());
      now_ += g2 / 3;  // the device restarts its timer somewhere
      drive(g2, static_cast<int>(3 * (longest2 / g2)) + 2);
      for (std::size_t i = 0; i < probes.size(); ++i) {
        if (i == gone) {
          EXPECT_EQ(probes[i]->times.size(), marks[i]);
          continue;
        }
        // Settled after the first sample past the change.
        ASSERT_GE(probes[i]->times.size(), marks[i] + 3);
        for (const auto g : probes[i]->gaps(marks[i]))
          EXPECT_EQ(g, periods[i]) << "round " << round;
      }
    }
    for (const auto id : ids) merger().remove(id);
    ASSERT_TRUE(wait([&] { return stops_.size() == 1; }));
    EXPECT_EQ(stops_[0].stream_id, sid);
    EXPECT_EQ(merger().consumers(), 0u);
    EXPECT_FALSE(merger().state(alice, "r"));
    round_trip(*d);  // the STOP's OK is in, so the stream id is free again
  }
}

}  // namespace
