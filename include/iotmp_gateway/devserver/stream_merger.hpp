// Several consumers of one device resource share one device stream (SPEC §8,
// the seed's "Different streaming interval"): the device streams at the GCD of
// the consumers' periods and each consumer receives samples at its own period
// (6 s and 9 s: the device streams at 3 s, the first consumer gets every 2nd
// sample, the second every 3rd). Consumers joining or leaving re-START the
// device stream on the same stream id, or STOP it when the last one leaves.
// Event consumers (no period) share a separate event stream on the resource.
//
// interval_schedule is the pure part (which consumers a sample goes to, what
// interval the device must stream at); stream_merger drives the registry.
//
// Which samples a consumer gets is decided from time, not by counting samples:
// a consumer gets a sample when at least its period, less half a device
// interval of tolerance for jitter, has passed since its last one (its first
// sample always). A counter ("every k-th") would be wrong for a while each time
// the GCD changes, since k changes with it and the device restarts its timer
// (and samples at the old interval may still come before the device answers);
// with time a consumer keeps its period across re-STARTs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iotmp_gateway/devserver/registry.hpp"
#include "iotmp_gateway/pson/value.hpp"

namespace iotgw::devserver {

// Pure scheduling core, no registry, no I/O: which consumers get a sample, and
// what the device interval must be. Time is passed in.
class interval_schedule {
 public:
  using key = std::uint64_t;
  using duration = std::chrono::milliseconds;

  // Adds a consumer, or changes the period of one (its history is kept).
  // period > 0; otherwise std::invalid_argument.
  void add(key k, duration period);
  // False when k was not there.
  bool remove(key k);
  bool contains(key k) const { return consumers_.contains(k); }
  std::optional<duration> period(key k) const;
  std::size_t size() const noexcept { return consumers_.size(); }
  bool empty() const noexcept { return consumers_.empty(); }
  std::vector<key> keys() const;

  // The interval the device must stream at: the GCD of the periods; nullopt
  // without consumers.
  std::optional<duration> interval() const noexcept { return interval_; }

  // The interval the device may be streaming at right now, when the caller
  // knows it differs from interval(): after a re-START to a longer interval
  // the device goes on at the old, shorter one until it answers, and half the
  // new one as tolerance would let consumers take those samples too early.
  // nullopt: as interval().
  void set_device_interval(std::optional<duration> d) noexcept { device_interval_ = d; }
  std::optional<duration> device_interval() const noexcept { return device_interval_; }

  // A device sample arrived at now: the consumers it goes to, in key order,
  // each marked as served at now. A consumer gets it when it never got one,
  // or when at least its period less a tolerance of half the device interval
  // (the shorter of interval() and device_interval()) has passed since its
  // last one: samples up to a quarter interval early or late still make each
  // consumer get exactly every (period / interval)-th one.
  std::vector<key> on_sample(steady_time now);

 private:
  struct consumer {
    duration period{};
    std::optional<steady_time> last;  // last sample it got
  };
  void recompute();

  std::map<key, consumer> consumers_;
  std::optional<duration> interval_;
  std::optional<duration> device_interval_;
};

// Merges the consumers of device resources into device streams on a
// device_registry. Runs on the loop thread, like the registry.
//
// Consumer callbacks never run from within add() or remove(); they may call
// add() and remove() (a consumer may remove itself), but must not destroy the
// merger. Consumers of an offline device are kept: their stream opens when the
// device connects, and opens again after every reconnect (streams end with
// their connection). A device that refuses a stream (or stops it) ends that
// stream's consumers: each gets on_ended with why, and is gone.
class stream_merger {
 public:
  using consumer_id = std::uint64_t;  // never 0
  using clock_fn = std::function<steady_time()>;
  struct consumer_callbacks {
    std::function<void(const pson::value& sample)> on_sample;
    // The device refused (refused) or stopped (stopped) the stream; the
    // consumer is gone.
    std::function<void(request_status why)> on_ended;
  };
  struct stream_state {
    // The interval the device-side interval stream runs at or was asked for
    // (the latest START_STREAM); nullopt when none is open, e.g. offline.
    std::optional<std::chrono::milliseconds> interval;
    bool event_stream = false;  // an event stream is open/asked for
    std::size_t interval_consumers = 0;
    std::size_t event_consumers = 0;
    bool device_connected = false;
    // The GCD of the interval consumers' periods, open or not.
    std::optional<std::chrono::milliseconds> wanted_interval;
  };

  explicit stream_merger(
      device_registry& registry, clock_fn now = [] { return std::chrono::steady_clock::now(); });
  // Stops every device stream it opened, removes its registry listener; no
  // consumer callback runs. Must go before the registry.
  ~stream_merger();
  stream_merger(const stream_merger&) = delete;
  stream_merger& operator=(const stream_merger&) = delete;

  // period: nullopt = event consumer; otherwise > 0 ms (std::invalid_argument
  // otherwise: the caller validates what people type).
  consumer_id add(const device_id& device, std::string_view resource,
                  std::optional<std::chrono::milliseconds> period, consumer_callbacks cb);
  // Idempotent; callbacks of id never run afterwards.
  void remove(consumer_id id);

  // nullopt when the resource has no consumers.
  std::optional<stream_state> state(const device_id& device, std::string_view resource) const;
  std::size_t consumers() const noexcept { return consumers_.size(); }

 private:
  using group_key = std::pair<device_id, std::string>;

  struct consumer {
    group_key group;
    std::optional<std::chrono::milliseconds> period;
    // Shared so that a callback survives its consumer removing itself.
    std::shared_ptr<consumer_callbacks> callbacks;
  };

  // One device stream (interval or event) of a group.
  struct device_side {
    stream_handle handle;
    // Tells the callbacks of a replaced stream from the current one's.
    std::uint64_t generation = 0;
    // Interval streams: the latest interval asked for, the shortest one the
    // device may still be streaming at, and whether a START awaits its answer.
    std::optional<std::chrono::milliseconds> asked;
    std::optional<std::chrono::milliseconds> floor;
    bool awaiting_answer = false;
  };

  // The consumers of one device resource and the streams serving them.
  struct group {
    interval_schedule schedule;    // the interval consumers
    std::set<consumer_id> events;  // the event consumers
    device_side interval_stream;
    device_side event_stream;
  };

  void on_event(const device_event& ev);
  // Makes the device streams of a group match its consumers: start, re-START,
  // STOP; forgets a group without consumers.
  void sync(const group_key& key);
  void sync_interval(const group_key& key, group& g, bool connected);
  void sync_events(const group_key& key, group& g, bool connected);
  stream_callbacks callbacks_for(const group_key& key, bool interval, std::uint64_t generation);
  group* current(const group_key& key, bool interval, std::uint64_t generation);
  void on_sample(const group_key& key, bool interval, std::uint64_t generation,
                 const pson::value& v);
  // The device refused or stopped the stream: its consumers end.
  void end_consumers(const group_key& key, bool interval, std::uint64_t generation,
                     request_status why);
  // Takes a consumer out without a callback; the caller syncs its group.
  std::shared_ptr<consumer_callbacks> forget(consumer_id id);
  // Forgets a stream that ended.
  static void reset(group& g, bool interval);
  static device_side& side_of(group& g, bool interval) {
    return interval ? g.interval_stream : g.event_stream;
  }

  device_registry& registry_;
  clock_fn now_;
  device_registry::listener_id listener_ = 0;
  std::map<consumer_id, consumer> consumers_;
  std::map<group_key, group> groups_;
  // Consumers whose on_ended is being delivered: remove() takes them out, so
  // that it holds for them too.
  std::set<consumer_id> ending_;
  consumer_id next_id_ = 1;
  std::uint64_t next_generation_ = 1;
};

}  // namespace iotgw::devserver
