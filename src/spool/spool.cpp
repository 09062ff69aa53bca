#include "iotmp_gateway/spool/spool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "iotmp_gateway/spool/segment_format.hpp"

namespace iotgw::spool {

namespace {

constexpr std::uint64_t kib = 1024;
// A write() per loop turn, but never a buffer larger than this in memory.
constexpr std::size_t max_pending = 256 * kib;
constexpr auto retry_disk_after = std::chrono::seconds(60);
constexpr auto drop_log_period = std::chrono::seconds(60);

std::string errno_text(int err) {
  return std::strerror(err);
}

std::string size_text(std::uint64_t n) {
  if (n >= (1u << 20) && n % (1u << 20) == 0) return std::to_string(n >> 20) + " MiB";
  if (n >= 1024 && n % 1024 == 0) return std::to_string(n >> 10) + " KiB";
  return std::to_string(n) + " B";
}

// "0000002a.seg" -> 42; nullopt for any other name.
std::optional<std::uint32_t> segment_number(std::string_view name) {
  if (name.size() != 12 || name.substr(8) != ".seg") return std::nullopt;
  std::uint32_t n = 0;
  for (char c : name.substr(0, 8)) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    n = n << 4 | static_cast<std::uint32_t>(v);
  }
  return n;
}

bool read_all(int fd, byte_buffer& out, std::size_t size) {
  out.resize(size);
  std::size_t done = 0;
  while (done < size) {
    const auto n = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

spool::spool(options o, log_fn log, clock_fn now)
    : options_(std::move(o)), log_(std::move(log)), now_(std::move(now)) {
  if (options_.segment_bytes == 0) {
    options_.segment_bytes = std::clamp<std::uint64_t>(options_.max_bytes / 16, 4 * kib, 4096 * kib);
  }
  last_sync_ = last_drop_log_ = now_();
  if (!options_.dir.empty()) open_dir();
}

spool::~spool() {
  flush_and_sync();
  for (auto& [n, s] : segments_) ::close(s.fd);
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

std::string spool::segment_path(std::uint32_t number) const {
  char name[16];
  std::snprintf(name, sizeof name, "%08x.seg", number);
  return options_.dir + "/" + name;
}

std::uint32_t spool::now_s() const {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(now_().time_since_epoch()).count();
  return static_cast<std::uint32_t>(std::clamp<std::int64_t>(s, 0, UINT32_MAX));
}

void spool::say(int priority, const std::string& text) const {
  if (log_) log_(priority, "spool: " + text);
}

// ------------------------------------------------------------------ opening

bool spool::make_dir() {
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  if (ec) {
    enter_fallback("cannot create " + options_.dir, ec.value());
    return false;
  }
  dir_fd_ = ::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) {
    enter_fallback("cannot open " + options_.dir, errno);
    return false;
  }
  return true;
}

void spool::open_dir() {
  if (!make_dir()) return;
  std::map<std::uint32_t, std::string> files;
  if (DIR* d = ::opendir(options_.dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      if (auto n = segment_number(e->d_name)) files.emplace(*n, options_.dir + "/" + e->d_name);
    }
    ::closedir(d);
  }
  for (const auto& [number, path] : files) {
    next_segment_ = std::max(next_segment_, number + 1);
    recover_segment(number, path);
  }
  // Cursors may come from a later file than the entries they cover.
  for (auto& q : queues_) {
    while (!q.entries.empty() && q.entries.front().sequence <= q.cursor) {
      const auto& e = q.entries.front();
      --segments_[e.segment].live;
      payload_bytes_ -= e.size;
      --entries_;
      q.entries.pop_front();
    }
  }
  stats_.recovered = entries_;
  // The new segment's checkpoint holds every cursor still needed; only once it
  // is on disk may the files with nothing left in them go.
  if (!start_segment()) return;
  write_pending();
  if (disk_ok_ && ::fdatasync(segments_[active_].fd) != 0) {
    write_failed("cannot sync " + segment_path(active_), errno);
  }
  std::vector<std::uint32_t> empty;
  for (const auto& [n, s] : segments_) {
    if (s.live == 0 && n != active_) empty.push_back(n);
  }
  for (auto n : empty) remove_segment(n);
  if (entries_ > 0) {
    std::size_t streams = 0;
    for (const auto& q : queues_) streams += q.entries.empty() ? 0 : 1;
    say(LOG_INFO, std::to_string(entries_) + " entries (" + size_text(payload_bytes_) + ") of " +
                      std::to_string(streams) + " streams recovered from " + options_.dir);
  }
  enforce_limits();
}

void spool::recover_segment(std::uint32_t number, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  struct stat st {};
  byte_buffer bytes;
  if (fd < 0 || ::fstat(fd, &st) != 0 || !read_all(fd, bytes, static_cast<std::size_t>(st.st_size))) {
    say(LOG_ERR, "cannot read " + path + ": " + errno_text(errno) + "; left as it is");
    ++stats_.io_errors;
    if (fd >= 0) ::close(fd);
    return;
  }
  struct found_entry {
    queue_id q;
    entry e;
  };
  std::vector<found_entry> found;
  std::vector<std::pair<queue_id, std::uint64_t>> cursors;
  std::unordered_map<std::uint32_t, queue_id> keys;
  bool unnamed = false;
  auto r = scan_segment(bytes, [&](const record& rec) {
    if (rec.type == record_type::key) {
      keys[rec.key] = queue(rec.name);
      return;
    }
    const auto k = keys.find(rec.key);
    if (k == keys.end()) {
      unnamed = true;
      return;
    }
    next_sequence_ = std::max(next_sequence_, rec.sequence + 1);
    if (rec.type == record_type::cursor) {
      cursors.emplace_back(k->second, rec.sequence);
    } else if (!unnamed) {
      found.push_back({k->second, entry{rec.sequence, rec.time_s, number,
                                        static_cast<std::uint32_t>(rec.payload_offset),
                                        static_cast<std::uint32_t>(rec.payload_size)}});
    }
  });
  if (unnamed && r.end == scan_end::clean) {
    r.end = scan_end::corrupt;
    r.reason = "a record names a key that was never defined";
  }
  if (r.end == scan_end::corrupt) {
    ::close(fd);
    const std::string aside = path + ".corrupt";
    const bool moved = ::rename(path.c_str(), aside.c_str()) == 0;
    ++stats_.corrupt_segments;
    stats_.dropped_other += found.size();
    say(LOG_ERR, "segment " + path + " is damaged (" + r.reason + "): " +
                     (moved ? "moved aside as " + aside : "could not move it aside: " + errno_text(errno)) +
                     "; its " + std::to_string(found.size()) +
                     " readable entries are not replayed, the rest of the spool is");
    return;
  }
  if (r.end == scan_end::torn) {
    ++stats_.torn_tails;
    if (r.valid_bytes < segment_magic.size()) {
      ::close(fd);
      ::unlink(path.c_str());
      say(LOG_WARNING, "removed " + path + ": " + r.reason + " (cut off by a crash)");
      return;
    }
    if (::ftruncate(fd, static_cast<off_t>(r.valid_bytes)) != 0 || ::fdatasync(fd) != 0) {
      say(LOG_ERR, "cannot cut " + path + " back to " + std::to_string(r.valid_bytes) +
                       " bytes: " + errno_text(errno));
      ++stats_.io_errors;
    }
    say(LOG_WARNING, path + ": cut off a torn last record (" + r.reason + "), kept " +
                         std::to_string(found.size()) + " entries before it");
  }
  auto& seg = segments_[number];
  seg.fd = fd;
  seg.size = r.valid_bytes;
  seg.live = found.size();
  disk_bytes_ += seg.size;
  for (const auto& f : found) {
    auto& q = queues_[f.q];
    q.entries.push_back(f.e);
    q.last_segment = number;
    payload_bytes_ += f.e.size;
    ++entries_;
  }
  for (const auto& [q, seq] : cursors) queues_[q].cursor = std::max(queues_[q].cursor, seq);
}

// ----------------------------------------------------------------- segments

bool spool::start_segment() {
  const std::uint32_t number = next_segment_++;
  const auto path = segment_path(number);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    enter_fallback("cannot create " + path, errno);
    return false;
  }
  // The new name must survive a power cut as well as what is written into it.
  if (dir_fd_ >= 0) ::fsync(dir_fd_);
  segments_[number] = segment{fd, 0, 0};
  active_ = number;
  written_ = 0;
  disk_ok_ = true;
  // resize + memcpy rather than insert(): GCC 12 -O2 reports the insert into a
  // cleared vector as an overflow (-Wstringop-overflow false positive).
  pending_.resize(segment_magic.size());
  std::memcpy(pending_.data(), segment_magic.data(), segment_magic.size());
  // Checkpoint: the cursor of every queue whose records may still be in an
  // older file, so that any older file can be deleted without losing a cursor.
  const std::uint32_t oldest = segments_.begin()->first;
  for (queue_id q = 0; q < queues_.size(); ++q) {
    auto& qs = queues_[q];
    if (qs.cursor == 0 || qs.last_segment < oldest) continue;
    define(q);
    append_cursor(pending_, q, qs.cursor);
    qs.cursor_dirty = false;
    note_record();
  }
  account(0);
  request_flush(false);
  return true;
}

void spool::account(std::size_t before) {
  const auto grown = pending_.size() - before;
  segments_[active_].size += grown;
  disk_bytes_ += grown;
}

void spool::rotate() {
  write_pending();
  if (!disk_ok_) return;
  sync_now();
  const auto old = active_;
  active_ = in_memory;
  if (segments_[old].live == 0) remove_segment(old);
  start_segment();
}

void spool::remove_segment(std::uint32_t number) {
  auto it = segments_.find(number);
  if (it == segments_.end() || number == active_) return;
  ::close(it->second.fd);
  ::unlink(segment_path(number).c_str());
  disk_bytes_ -= it->second.size;
  segments_.erase(it);
}

void spool::define(queue_id q) {
  auto& qs = queues_[q];
  if (qs.defined_in == active_) return;
  append_key(pending_, q, qs.key);
  qs.defined_in = active_;
  note_record();
}

// ------------------------------------------------------------------- queues

spool::queue_id spool::queue(std::string_view key) {
  if (const auto found = by_key_.find(key); found != no_queue) return found;
  const auto id = static_cast<queue_id>(queues_.size());
  queues_.push_back(queue_state{});
  queues_.back().key = std::string(key);
  by_key_.insert(id);
  return id;
}

std::vector<std::string> spool::waiting_keys() const {
  std::vector<const queue_state*> waiting;
  for (const auto& q : queues_) {
    if (!q.entries.empty()) waiting.push_back(&q);
  }
  std::sort(waiting.begin(), waiting.end(), [](auto* a, auto* b) {
    return a->entries.front().sequence < b->entries.front().sequence;
  });
  std::vector<std::string> keys;
  for (auto* q : waiting) keys.push_back(q->key);
  return keys;
}

std::uint64_t spool::capacity() const noexcept {
  return disk_ok_ ? options_.max_bytes : std::min(options_.max_bytes, options_.memory_bytes);
}

bool spool::append(queue_id q, std::span<const std::uint8_t> payload) {
  const std::size_t size = payload.size();
  if (size + data_body_prefix > max_record_body ||
      data_record_size(size) + segment_magic.size() > capacity()) {
    ++stats_.dropped_other;
    return false;
  }
  auto& qs = queues_[q];
  entry e{next_sequence_++, now_s(), in_memory, 0, static_cast<std::uint32_t>(size)};
  if (disk_ok_) {
    const auto& seg = segments_[active_];
    if (seg.live > 0 && seg.size + data_record_size(size) > options_.segment_bytes) rotate();
  }
  if (disk_ok_) {
    const std::size_t before = pending_.size();
    define(q);
    e.offset = static_cast<std::uint32_t>(written_ + append_data(pending_, q, e.sequence, e.time_s, payload));
    e.segment = active_;
    account(before);
    ++segments_[active_].live;
    qs.last_segment = active_;
    note_record();
    request_flush(false);
  } else {
    qs.memory.emplace_back(payload.begin(), payload.end());
    memory_bytes_ += size;
  }
  qs.entries.push_back(e);
  ++entries_;
  payload_bytes_ += size;
  ++stats_.appended;
  if (pending_.size() >= max_pending) write_pending();
  enforce_limits();
  return true;
}

const byte_buffer* spool::front(queue_id q) {
  auto& qs = queues_[q];
  const std::uint32_t now = now_s();
  while (true) {
    expire(q, now);
    if (qs.entries.empty()) return nullptr;
    const entry& e = qs.entries.front();
    if (e.segment == in_memory) return &qs.memory.front();
    if (e.segment == active_ && e.offset + e.size > written_) {
      // Still in the buffer: write it out first. On failure the entry moves to
      // memory (or is dropped for room): look again.
      write_pending();
      continue;
    }
    const auto seg = segments_.find(e.segment);
    scratch_.resize(e.size);
    std::size_t done = 0;
    int err = EIO;
    while (seg != segments_.end() && done < e.size) {
      const auto n = ::pread(seg->second.fd, scratch_.data() + done, e.size - done,
                             static_cast<off_t>(e.offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = n < 0 ? errno : EIO;
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    if (done == e.size) return &scratch_;
    ++stats_.io_errors;
    say(LOG_ERR, "cannot read an entry back from " + segment_path(e.segment) + ": " +
                     errno_text(err) + "; dropped");
    leave(q, stats_.dropped_other);
  }
}

void spool::pop(queue_id q) {
  if (queues_[q].entries.empty()) return;
  leave(q, stats_.sent);
}

void spool::leave(queue_id q, std::uint64_t& counter) {
  auto& qs = queues_[q];
  const entry e = qs.entries.front();
  qs.entries.pop_front();
  --entries_;
  payload_bytes_ -= e.size;
  ++counter;
  if (e.segment == in_memory) {
    memory_bytes_ -= qs.memory.front().size();
    qs.memory.pop_front();
    return;
  }
  qs.cursor = e.sequence;
  if (!qs.cursor_dirty) {
    qs.cursor_dirty = true;
    dirty_cursors_.push_back(q);
  }
  request_flush(true);
  auto seg = segments_.find(e.segment);
  if (seg != segments_.end() && --seg->second.live == 0 && e.segment != active_) {
    remove_segment(e.segment);
  }
}

void spool::drop_all(queue_id q) {
  const auto before = stats_.dropped_other;
  while (!queues_[q].entries.empty()) leave(q, stats_.dropped_other);
  if (stats_.dropped_other > before) {
    say(LOG_WARNING, "dropped " + std::to_string(stats_.dropped_other - before) +
                         " entries for " + queues_[q].key + ": the cloud refused that stream");
  }
}

void spool::move_all(queue_id from, queue_id to) {
  if (from == to) return;
  byte_buffer copy;
  while (const byte_buffer* p = front(from)) {
    copy.assign(p->begin(), p->end());
    append(to, copy);
    pop(from);
  }
}

void spool::expire(queue_id q, std::uint32_t now) {
  auto& qs = queues_[q];
  const auto max_age = options_.max_age.count();
  while (!qs.entries.empty() &&
         static_cast<std::int64_t>(now) - qs.entries.front().time_s > max_age) {
    leave(q, stats_.dropped_age);
    ++unlogged_age_;
  }
  if (unlogged_age_ > 0) note_drops();
}

// ------------------------------------------------------------------- limits

void spool::enforce_limits() {
  bool dropped = false;
  while (disk_ok_ && disk_bytes_ > options_.max_bytes) {
    const auto oldest = segments_.begin()->first;
    if (oldest == active_) {
      // Everything is in the active file: start another so this one can go.
      if (segments_[active_].live == 0) break;
      rotate();
      continue;
    }
    drop_segment_entries(oldest);
    remove_segment(oldest);
    dropped = true;
  }
  const auto memory_cap = std::min(options_.max_bytes, options_.memory_bytes);
  while (memory_bytes_ > memory_cap) {
    // The oldest entry held in memory, whichever queue it is in.
    queue_id victim = no_queue;
    for (queue_id q = 0; q < queues_.size(); ++q) {
      const auto& qs = queues_[q];
      if (qs.memory.empty()) continue;
      if (victim == no_queue || qs.entries.front().sequence < queues_[victim].entries.front().sequence) {
        victim = q;
      }
    }
    if (victim == no_queue) break;
    auto& qs = queues_[victim];
    const auto it = std::find_if(qs.entries.begin(), qs.entries.end(),
                                 [](const entry& e) { return e.segment == in_memory; });
    payload_bytes_ -= it->size;
    memory_bytes_ -= qs.memory.front().size();
    qs.entries.erase(it);
    qs.memory.pop_front();
    --entries_;
    ++stats_.dropped_full;
    ++unlogged_full_;
    dropped = true;
  }
  if (dropped) note_drops();
}

void spool::drop_segment_entries(std::uint32_t number) {
  auto& seg = segments_[number];
  for (queue_id q = 0; q < queues_.size() && seg.live > 0; ++q) {
    auto& qs = queues_[q];
    // Oldest file, so its entries lead their queues (only entries held in
    // memory during a disk failure can come before them).
    while (!qs.entries.empty() && qs.entries.front().segment == number) {
      leave(q, stats_.dropped_full);
      ++unlogged_full_;
    }
    if (!qs.entries.empty() && qs.entries.front().segment == in_memory) {
      const auto n = qs.entries.remove_if([&](const entry& e) {
        if (e.segment != number) return false;
        payload_bytes_ -= e.size;
        qs.cursor = std::max(qs.cursor, e.sequence);
        return true;
      });
      entries_ -= n;
      seg.live -= n;
      if (n > 0 && !qs.cursor_dirty) {
        qs.cursor_dirty = true;
        dirty_cursors_.push_back(q);
        request_flush(true);
      }
      stats_.dropped_full += n;
      unlogged_full_ += n;
    }
  }
}

void spool::set_limits(std::uint64_t max_bytes, std::chrono::seconds max_age) {
  options_.max_bytes = max_bytes;
  options_.max_age = max_age;
  enforce_limits();
  for (queue_id q = 0; q < queues_.size(); ++q) expire(q, now_s());
}

void spool::note_drops() {
  if (unlogged_full_ + unlogged_age_ == 0) return;
  const auto now = now_();
  if (drop_logged_ && now - last_drop_log_ < drop_log_period && now >= last_drop_log_) return;
  std::string text = "dropped";
  if (unlogged_full_ > 0) {
    text += " " + std::to_string(unlogged_full_) + " oldest entries (max_bytes " +
            size_text(capacity()) + (disk_ok_ ? "" : " in memory") + ")";
  }
  if (unlogged_age_ > 0) {
    text += std::string(unlogged_full_ > 0 ? " and" : "") + " " + std::to_string(unlogged_age_) +
            " entries older than max_age " + std::to_string(options_.max_age.count()) + " s";
  }
  say(LOG_WARNING, text + (drop_logged_ ? " in the last minute" : "") +
                       " (reported at most once a minute)");
  unlogged_full_ = unlogged_age_ = 0;
  last_drop_log_ = now;
  drop_logged_ = true;
}

// ---------------------------------------------------------------------- I/O

void spool::request_flush(bool consumed) {
  if (consumed) {
    if (cursor_flush_requested_) return;
    cursor_flush_requested_ = true;
  } else {
    if (data_flush_requested_) return;
    data_flush_requested_ = true;
  }
  if (dirty_) dirty_(consumed);
}

void spool::flush() {
  data_flush_requested_ = cursor_flush_requested_ = false;
  if (disk_ok_ && !dirty_cursors_.empty()) {
    const std::size_t before = pending_.size();
    for (const auto q : dirty_cursors_) {
      auto& qs = queues_[q];
      if (!qs.cursor_dirty) continue;
      define(q);
      append_cursor(pending_, q, qs.cursor);
      qs.cursor_dirty = false;
      note_record();
    }
    account(before);
  }
  for (const auto q : dirty_cursors_) queues_[q].cursor_dirty = false;
  dirty_cursors_.clear();
  write_pending();
  if (disk_ok_ && (unsynced_records_ >= options_.sync_records || options_.sync_interval.count() == 0)) {
    sync_now();
  }
}

void spool::write_pending() {
  if (!disk_ok_ || pending_.empty()) return;
  const int fd = segments_[active_].fd;
  std::size_t done = 0;
  while (done < pending_.size()) {
    const auto n = ::write(fd, pending_.data() + done, pending_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      write_failed("cannot write " + segment_path(active_), errno);
      return;
    }
    done += static_cast<std::size_t>(n);
  }
  ++stats_.writes;
  written_ += pending_.size();
  pending_.clear();
}

void spool::write_failed(const std::string& what, int err) {
  auto& seg = segments_[active_];
  // Whatever part of the batch made it in is cut off again, so the file ends
  // on a whole record; the batch's entries move to memory, in order.
  if (::ftruncate(seg.fd, static_cast<off_t>(written_)) != 0) {
    say(LOG_ERR, "cannot cut " + segment_path(active_) + " back: " + errno_text(errno));
  }
  for (auto& qs : queues_) {
    auto it = qs.entries.end();
    while (it != qs.entries.begin() && std::prev(it)->segment == active_ &&
           std::prev(it)->offset >= written_) {
      --it;
    }
    for (; it != qs.entries.end(); ++it) {
      const auto at = pending_.begin() + static_cast<std::ptrdiff_t>(it->offset - written_);
      qs.memory.emplace_back(at, at + it->size);
      memory_bytes_ += it->size;
      it->segment = in_memory;
      --seg.live;
    }
  }
  disk_bytes_ -= seg.size - written_;
  seg.size = written_;
  pending_.clear();
  const auto old = active_;
  active_ = in_memory;
  if (segments_[old].live == 0) remove_segment(old);
  enter_fallback(what, err);
  enforce_limits();
}

void spool::enter_fallback(const std::string& what, int err) {
  disk_ok_ = false;
  active_ = in_memory;
  pending_.clear();
  retry_disk_at_ = now_() + retry_disk_after;
  ++stats_.io_errors;
  say(LOG_ERR, what + ": " + errno_text(err) + "; holding at most " +
                   size_text(std::min(options_.max_bytes, options_.memory_bytes)) +
                   " in memory (oldest dropped first) and trying the disk again in a minute");
}

void spool::note_record() {
  if (unsynced_records_++ == 0) first_unsynced_ = now_();
}

void spool::sync_now() {
  write_pending();
  if (!disk_ok_) return;
  last_sync_ = now_();
  if (unsynced_records_ == 0) return;
  unsynced_records_ = 0;
  ++stats_.syncs;
  const int fd = ::fcntl(segments_[active_].fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    ::fdatasync(segments_[active_].fd);
    return;
  }
  if (sync_) {
    sync_(fd);
  } else {
    ::fdatasync(fd);
    ::close(fd);
  }
}

void spool::tick() {
  const auto now = now_();
  // Batched by time: the oldest record not yet synced waits sync_interval at most.
  if (disk_ok_ && unsynced_records_ > 0 &&
      (now - first_unsynced_ >= options_.sync_interval || now < first_unsynced_)) {
    sync_now();
  }
  const auto now_secs = now_s();
  for (queue_id q = 0; q < queues_.size(); ++q) expire(q, now_secs);
  note_drops();
  if (!disk_ok_ && !options_.dir.empty() && now >= retry_disk_at_) {
    retry_disk_at_ = now + retry_disk_after;
    if (dir_fd_ < 0) {
      // The directory was never usable: make it now, after whatever is in it.
      if (!make_dir()) return;
      if (DIR* d = ::opendir(options_.dir.c_str())) {
        while (const dirent* e = ::readdir(d)) {
          if (auto n = segment_number(e->d_name)) next_segment_ = std::max(next_segment_, *n + 1);
        }
        ::closedir(d);
      }
    }
    // On failure enter_fallback() logs why, once a minute.
    if (start_segment()) say(LOG_INFO, "writing to " + options_.dir + " again");
  }
}

void spool::flush_and_sync() {
  flush();
  if (!disk_ok_) return;
  if (unsynced_records_ > 0 && ::fdatasync(segments_[active_].fd) == 0) {
    unsynced_records_ = 0;
    ++stats_.syncs;
  }
  last_sync_ = now_();
}

}  // namespace iotgw::spool
