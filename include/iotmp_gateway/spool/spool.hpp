// Store and forward for cloud-bound stream data (SPEC §7): one logical FIFO
// queue per publish stream, keyed by the stream's cloud topic so that it is
// found again after a restart, all kept in one append-only log of segment files
// under spool.dir (format: segment_format.hpp).
//
// - append() adds to a queue; records collect in one buffer that flush() hands
//   to the kernel with one write() (the daemon calls it once per loop turn).
// - fdatasync is batched: after sync_records records or sync_interval, whichever
//   comes first; the daemon runs it on the libuv threadpool (set_sync_executor).
// - front()/pop(): an entry leaves only when popped (after it was handed to the
//   cloud socket); pops become cursor records, written and synced in the same
//   batches. A crash replays at most the pops since the last synced cursor.
// - Bounded by max_bytes (the segment files, all queues together) and max_age:
//   the oldest go first, counted, logged at most once a minute.
// - Opening recovers: a torn last record is cut off, a damaged segment is
//   renamed *.corrupt; the rest is replayed.
// - Any I/O error (disk full, unwritable dir) falls back to a memory-bounded
//   queue with a log line; it never throws after construction, never crashes,
//   and tries the disk again a minute later.
//
// Loop thread only. Time is passed in through the clock (wall time: ages must
// survive a restart).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iotmp_gateway/spool/fifo.hpp"
#include "iotmp_gateway/string_index.hpp"
#include "iotmp_gateway/varint.hpp"

namespace iotgw::spool {

using clock = std::chrono::system_clock;

struct options {
  std::string dir;  // empty: memory only (the router's default, and tests)
  std::uint64_t max_bytes = 64ull << 20;
  std::chrono::seconds max_age{7 * 24 * 3600};
  std::chrono::milliseconds sync_interval{1000};
  std::uint32_t sync_records = 1000;     // fdatasync after this many records at most
  std::uint64_t memory_bytes = 4u << 20;  // the bound while not on disk
  std::uint64_t segment_bytes = 0;        // 0: max_bytes / 16 within [4 KiB, 4 MiB]
};

struct spool_stats {
  std::uint64_t appended = 0;       // entries taken in
  std::uint64_t sent = 0;           // entries popped (handed to the cloud)
  std::uint64_t dropped_full = 0;   // oldest dropped to stay within max_bytes / memory
  std::uint64_t dropped_age = 0;    // older than max_age
  std::uint64_t dropped_other = 0;  // too large, unreadable, refused stream
  std::uint64_t recovered = 0;      // entries found on disk at open
  std::uint64_t writes = 0;         // write() calls
  std::uint64_t syncs = 0;          // fdatasync calls started
  std::uint64_t io_errors = 0;
  std::uint64_t torn_tails = 0;         // segments cut back at open
  std::uint64_t corrupt_segments = 0;   // segments moved aside at open
  std::uint64_t dropped() const noexcept { return dropped_full + dropped_age + dropped_other; }
};

class spool {
 public:
  using queue_id = std::uint32_t;
  static constexpr queue_id no_queue = ~queue_id{0};
  using log_fn = std::function<void(int priority, std::string_view text)>;
  using clock_fn = std::function<clock::time_point()>;
  // fdatasync of a dup'd descriptor, which the executor closes when done.
  using sync_executor = std::function<void(int fd)>;
  // The buffer became non-empty (consumed: a pop made a cursor dirty). The
  // driver flushes at the end of the loop turn; on `consumed` it must flush
  // after the cloud link wrote its frames.
  using dirty_listener = std::function<void(bool consumed)>;

  explicit spool(options o, log_fn log = {}, clock_fn now = [] { return clock::now(); });
  ~spool();
  spool(const spool&) = delete;
  spool& operator=(const spool&) = delete;

  // Finds or creates the queue of key (recovered queues exist already).
  queue_id queue(std::string_view key);
  // The queue of key if it exists, else no_queue.
  queue_id find(std::string_view key) const { return by_key_.find(key); }
  const std::string& key_of(queue_id q) const { return queues_[q].key; }
  // Keys holding entries, oldest first (to reopen the streams of a restart).
  std::vector<std::string> waiting_keys() const;

  // False when dropped (larger than the spool can hold).
  bool append(queue_id q, std::span<const std::uint8_t> payload);
  bool empty(queue_id q) const noexcept { return queues_[q].entries.empty(); }
  std::size_t size(queue_id q) const noexcept { return queues_[q].entries.size(); }
  // Sequence of the oldest entry (order across queues); only when not empty.
  std::uint64_t front_sequence(queue_id q) const { return queues_[q].entries.front().sequence; }
  // The oldest entry that is not too old, or nullptr; valid until the next call.
  const byte_buffer* front(queue_id q);
  void pop(queue_id q);
  // Drops every entry of q (a stream the server refused), counted.
  void drop_all(queue_id q);
  // Moves every entry of `from` behind those of `to` (a stream renamed by a reload).
  void move_all(queue_id from, queue_id to);

  // Writes what is buffered (one write()) and syncs when sync_records is reached.
  void flush();
  // Syncs when sync_interval passed, drops what is older than max_age, logs
  // drops, retries the disk. Call every sync_interval or so.
  void tick();
  // Flushes and syncs synchronously (shutdown); the spool stays usable.
  void flush_and_sync();

  void set_limits(std::uint64_t max_bytes, std::chrono::seconds max_age);
  void set_sync_executor(sync_executor e) { sync_ = std::move(e); }
  void on_dirty(dirty_listener l) { dirty_ = std::move(l); }

  bool on_disk() const noexcept { return disk_ok_; }
  const options& config() const noexcept { return options_; }
  const spool_stats& stats() const noexcept { return stats_; }
  std::uint64_t entries() const noexcept { return entries_; }
  std::uint64_t payload_bytes() const noexcept { return payload_bytes_; }
  std::uint64_t disk_bytes() const noexcept { return disk_bytes_; }
  std::size_t segment_count() const noexcept { return segments_.size(); }
  std::size_t buffered_bytes() const noexcept { return pending_.size(); }
  bool sync_pending() const noexcept { return unsynced_records_ > 0; }

 private:
  static constexpr std::uint32_t in_memory = ~std::uint32_t{0};
  struct entry {
    std::uint64_t sequence;
    std::uint32_t time_s;
    std::uint32_t segment;  // in_memory: the payload is the queue's next `memory` item
    std::uint32_t offset;   // of the payload in the segment file
    std::uint32_t size;
  };
  struct queue_state {
    std::string key;
    fifo<entry> entries;
    fifo<byte_buffer> memory;
    std::uint64_t cursor = 0;  // the newest sequence that left
    std::uint32_t defined_in = in_memory;  // the active segment its key record is in
    std::uint32_t last_segment = 0;        // the newest segment with a record of it
    bool cursor_dirty = false;
  };
  struct segment {
    int fd = -1;
    std::uint64_t size = 0;  // bytes in the file, with the pending ones if active
    std::uint64_t live = 0;  // entries still in a queue
  };

  void say(int priority, const std::string& text) const;
  // Creates and opens spool.dir; false (and in fallback) when it cannot.
  bool make_dir();
  void open_dir();
  void recover_segment(std::uint32_t number, const std::string& path);
  bool start_segment();
  void rotate();
  void remove_segment(std::uint32_t number);
  void drop_segment_entries(std::uint32_t number);
  void define(queue_id q);
  void account(std::size_t pending_before);
  std::uint64_t capacity() const noexcept;
  // Takes the oldest entry of q out, counted in counter (sent or a drop).
  void leave(queue_id q, std::uint64_t& counter);
  void write_pending();
  void write_failed(const std::string& what, int err);
  void note_record();
  void sync_now();
  void enter_fallback(const std::string& what, int err);
  void enforce_limits();
  void expire(queue_id q, std::uint32_t now_s);
  void note_drops();
  void request_flush(bool consumed);
  std::uint32_t now_s() const;
  std::string segment_path(std::uint32_t number) const;

  options options_;
  log_fn log_;
  clock_fn now_;
  sync_executor sync_;
  dirty_listener dirty_;
  spool_stats stats_;

  // A deque: one queue per stream, thousands of them, without a vector's spare capacity.
  std::deque<queue_state> queues_;
  struct key_of_queue {
    const std::deque<queue_state>* queues;
    const std::string& operator()(queue_id q) const { return (*queues)[q].key; }
  };
  // Queue ids by key, the key kept once (in its queue).
  string_index<queue_id, key_of_queue, no_queue> by_key_{key_of_queue{&queues_}};
  std::map<std::uint32_t, segment> segments_;  // by file number, oldest first
  std::uint32_t active_ = in_memory;
  std::uint32_t next_segment_ = 1;
  bool disk_ok_ = false;
  int dir_fd_ = -1;
  std::uint64_t next_sequence_ = 1;
  std::uint64_t entries_ = 0;
  std::uint64_t payload_bytes_ = 0;
  std::uint64_t memory_bytes_ = 0;
  std::uint64_t disk_bytes_ = 0;

  byte_buffer pending_;  // records not yet written to the active segment
  std::uint64_t written_ = 0;  // bytes of the active segment in the file
  std::vector<queue_id> dirty_cursors_;
  bool data_flush_requested_ = false;
  bool cursor_flush_requested_ = false;
  std::uint32_t unsynced_records_ = 0;
  clock::time_point last_sync_{};
  clock::time_point first_unsynced_{};
  clock::time_point retry_disk_at_{};
  byte_buffer scratch_;

  std::uint64_t unlogged_full_ = 0;
  std::uint64_t unlogged_age_ = 0;
  clock::time_point last_drop_log_{};
  bool drop_logged_ = false;
};

}  // namespace iotgw::spool
