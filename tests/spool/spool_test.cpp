// The spool on a real directory with a fake clock: order, restart, crash
// leftovers (torn and damaged files), bounds, fsync batching, failing disks.
#include "iotmp_gateway/spool/spool.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <syslog.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>

#include "iotmp_gateway/spool/crc32c.hpp"
#include "iotmp_gateway/spool/segment_format.hpp"

using namespace iotgw;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

byte_buffer bytes(std::string_view s) {
  return byte_buffer(s.begin(), s.end());
}
std::string text(const byte_buffer* b) {
  return b ? std::string(b->begin(), b->end()) : std::string("<none>");
}

class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("iotmp-spool-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::vector<fs::path> files_in(const fs::path& dir, std::string_view ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ext) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class spool_test : public ::testing::Test {
 protected:
  spool::options opts(std::uint64_t max_bytes = 1 << 20) const {
    spool::options o;
    o.dir = (dir.path() / "spool").string();
    o.max_bytes = max_bytes;
    o.max_age = 3600s;
    o.sync_interval = 1000ms;
    o.sync_records = 1000;
    return o;
  }
  std::unique_ptr<spool::spool> open(const spool::options& o) {
    return std::make_unique<spool::spool>(
        o, [this](int p, std::string_view t) { log.push_back({p, std::string(t)}); },
        [this] { return now; });
  }
  std::unique_ptr<spool::spool> open() { return open(opts()); }
  // Every entry of a queue, popped, in order.
  static std::vector<std::string> drain(spool::spool& s, std::string_view key) {
    std::vector<std::string> out;
    const auto q = s.queue(key);
    while (const auto* p = s.front(q)) {
      out.push_back(text(p));
      s.pop(q);
    }
    return out;
  }
  bool logged(std::string_view part) const {
    return std::any_of(log.begin(), log.end(),
                       [&](const auto& l) { return l.second.find(part) != std::string::npos; });
  }

  temp_dir dir;
  spool::clock::time_point now{std::chrono::seconds(1'700'000'000)};
  std::vector<std::pair<int, std::string>> log;
};

TEST(crc32c, matches_the_standard_check_value) {
  const std::string s = "123456789";
  EXPECT_EQ(spool::crc32c({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}), 0xE3069283u);
  // In parts, as the record writer may.
  const auto a = spool::crc32c({reinterpret_cast<const std::uint8_t*>(s.data()), 4});
  EXPECT_EQ(spool::crc32c({reinterpret_cast<const std::uint8_t*>(s.data()) + 4, 5}, a), 0xE3069283u);
}

TEST_F(spool_test, round_trip_in_order) {
  auto s = open();
  ASSERT_TRUE(s->on_disk());
  const auto q = s->queue("gw01/alerts");
  for (const char* m : {"one", "two", "three"}) ASSERT_TRUE(s->append(q, bytes(m)));
  EXPECT_EQ(s->size(q), 3u);
  EXPECT_EQ(s->payload_bytes(), 11u);
  EXPECT_EQ(drain(*s, "gw01/alerts"), (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_TRUE(s->empty(q));
  EXPECT_EQ(s->stats().appended, 3u);
  EXPECT_EQ(s->stats().sent, 3u);
  EXPECT_EQ(s->stats().dropped(), 0u);
}

TEST_F(spool_test, order_is_kept_per_stream_and_oldest_first_across_streams) {
  auto s = open();
  const auto a = s->queue("a");
  const auto b = s->queue("b");
  s->append(b, bytes("b1"));
  s->append(a, bytes("a1"));
  s->append(b, bytes("b2"));
  s->append(a, bytes("a2"));
  EXPECT_EQ(s->waiting_keys(), (std::vector<std::string>{"b", "a"}));
  EXPECT_LT(s->front_sequence(b), s->front_sequence(a));
  EXPECT_EQ(drain(*s, "a"), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(drain(*s, "b"), (std::vector<std::string>{"b1", "b2"}));
}

TEST_F(spool_test, a_restart_replays_what_was_not_sent) {
  {
    auto s = open();
    const auto q = s->queue("gw01/t");
    for (int i = 0; i < 5; ++i) s->append(q, bytes("m" + std::to_string(i)));
    s->append(s->queue("other"), bytes("x"));
    s->flush();
    ASSERT_NE(s->front(q), nullptr);
    s->pop(q);
    s->pop(q);  // m0 and m1 went to the cloud
  }  // destroyed: flushed and synced, as on SIGTERM
  auto s = open();
  EXPECT_EQ(s->stats().recovered, 4u);
  EXPECT_TRUE(logged("4 entries"));
  EXPECT_EQ(s->waiting_keys(), (std::vector<std::string>{"gw01/t", "other"}));
  EXPECT_EQ(drain(*s, "gw01/t"), (std::vector<std::string>{"m2", "m3", "m4"}));
  EXPECT_EQ(drain(*s, "other"), (std::vector<std::string>{"x"}));
}

TEST_F(spool_test, sequences_keep_growing_across_restarts_when_everything_was_sent) {
  {
    auto s = open();
    const auto q = s->queue("k");
    for (int i = 0; i < 3; ++i) s->append(q, bytes("old"));
    drain(*s, "k");
  }
  {
    auto s = open();
    EXPECT_EQ(s->entries(), 0u);
    EXPECT_EQ(s->segment_count(), 1u) << "files with nothing left are removed";
    s->append(s->queue("k"), bytes("new"));
  }
  // A new entry must not fall under the cursor of the old ones.
  auto s = open();
  EXPECT_EQ(drain(*s, "k"), (std::vector<std::string>{"new"}));
}

TEST_F(spool_test, a_crash_replays_the_unacknowledged_window_and_loses_nothing) {
  auto s = open();
  const auto q = s->queue("k");
  for (int i = 0; i < 5; ++i) s->append(q, bytes(std::to_string(i)));
  s->flush();
  s->pop(q);
  s->flush();  // the cursor after "0" is written
  s->pop(q);   // "1" handed over, its cursor still in memory
  // What a kill -9 leaves: the files as they are now.
  const auto copy = dir.path() / "crashed";
  fs::copy(dir.path() / "spool", copy);
  auto o = opts();
  o.dir = copy.string();
  auto after = open(o);
  EXPECT_EQ(drain(*after, "k"), (std::vector<std::string>{"1", "2", "3", "4"}))
      << "at most the unacknowledged pop comes again; nothing is lost";
}

TEST_F(spool_test, a_torn_last_record_is_cut_off) {
  {
    auto s = open();
    const auto q = s->queue("k");
    for (const char* m : {"first", "second", "third-and-torn"}) s->append(q, bytes(m));
  }
  const auto seg = files_in(dir.path() / "spool", ".seg").at(0);
  const auto full = fs::file_size(seg);
  fs::resize_file(seg, full - 5);  // the power went mid-write
  auto s = open();
  EXPECT_EQ(s->stats().torn_tails, 1u);
  EXPECT_TRUE(logged("torn"));
  // The file was cut back to whole records and serves again.
  EXPECT_LT(fs::file_size(seg), full - 5);
  EXPECT_EQ(drain(*s, "k"), (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(s->stats().dropped(), 0u);
}

TEST_F(spool_test, a_last_record_with_flipped_bytes_or_a_zero_tail_is_cut_off) {
  {
    auto s = open();
    const auto q = s->queue("k");
    for (const char* m : {"first", "second", "third"}) s->append(q, bytes(m));
  }
  const auto seg = files_in(dir.path() / "spool", ".seg").at(0);
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(seg)) - 2);
    f.put('X');  // in "third"
    f.seekp(0, std::ios::end);
    const std::string zeros(4096, '\0');  // and a tail the file system extended with zeros
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  auto s = open();
  EXPECT_EQ(s->stats().torn_tails, 1u);
  EXPECT_EQ(drain(*s, "k"), (std::vector<std::string>{"first", "second"}));
}

TEST_F(spool_test, a_damaged_segment_is_moved_aside_and_the_rest_replays) {
  auto o = opts();
  o.segment_bytes = 1024;  // several files
  {
    auto s = open(o);
    const auto q = s->queue("k");
    for (int i = 0; i < 40; ++i) s->append(q, bytes("entry-" + std::to_string(i) + std::string(60, '.')));
  }
  auto segs = files_in(dir.path() / "spool", ".seg");
  ASSERT_GE(segs.size(), 3u);
  {
    // A flipped byte in the middle of the first file, valid records after it.
    std::fstream f(segs[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x7f');
  }
  auto s = open(o);
  EXPECT_EQ(s->stats().corrupt_segments, 1u);
  EXPECT_TRUE(fs::exists(segs[0].string() + ".corrupt"));
  EXPECT_TRUE(logged("damaged"));
  const auto left = drain(*s, "k");
  ASSERT_FALSE(left.empty());
  EXPECT_EQ(left.back().substr(0, 9), "entry-39.");
  // What is left is the tail of the sequence, in order.
  const int first = std::stoi(left.front().substr(6));
  for (std::size_t i = 0; i < left.size(); ++i) {
    EXPECT_EQ(std::stoi(left[i].substr(6)), first + static_cast<int>(i));
  }
  EXPECT_GT(first, 0);
}

TEST_F(spool_test, max_bytes_drops_the_oldest_and_counts_them) {
  auto s = open(opts(64 * 1024));
  const auto a = s->queue("a");
  const auto b = s->queue("b");
  const std::string pad(90, 'p');
  for (int i = 0; i < 2000; ++i) {
    s->append(i % 2 ? b : a, bytes(std::to_string(i) + pad));
    s->flush();
  }
  EXPECT_LE(s->disk_bytes(), 64u * 1024);
  const auto& st = s->stats();
  EXPECT_GT(st.dropped_full, 0u);
  EXPECT_EQ(st.dropped_full + s->entries(), 2000u);
  EXPECT_TRUE(logged("oldest entries"));
  // The newest are kept, the oldest went: what is left is a suffix per queue.
  const auto left_a = drain(*s, "a");
  const auto left_b = drain(*s, "b");
  ASSERT_FALSE(left_a.empty());
  ASSERT_FALSE(left_b.empty());
  EXPECT_EQ(std::stoi(left_a.back()), 1998);
  EXPECT_EQ(std::stoi(left_b.back()), 1999);
  for (std::size_t i = 1; i < left_a.size(); ++i) {
    EXPECT_EQ(std::stoi(left_a[i]), std::stoi(left_a[i - 1]) + 2);
  }
  // The drop is persisted: after a restart the dropped do not come back.
  s.reset();
  auto again = open(opts(64 * 1024));
  EXPECT_EQ(again->entries(), 0u);
}

TEST_F(spool_test, max_age_drops_and_logs_at_most_once_a_minute) {
  auto o = opts();
  o.max_age = 600s;
  auto s = open(o);
  const auto q = s->queue("k");
  s->append(q, bytes("old-1"));
  s->append(q, bytes("old-2"));
  now += 300s;
  s->append(q, bytes("younger"));
  now += 301s;  // the first two are 601 s old
  s->tick();
  EXPECT_EQ(s->stats().dropped_age, 2u);
  EXPECT_EQ(std::count_if(log.begin(), log.end(),
                          [](const auto& l) { return l.second.find("max_age") != std::string::npos; }),
            1);
  now += 300s;
  s->tick();  // "younger" goes too, but the log waits for the minute
  EXPECT_EQ(s->stats().dropped_age, 3u);
  EXPECT_EQ(s->front(q), nullptr);
  const auto lines = [&] {
    return std::count_if(log.begin(), log.end(), [](const auto& l) {
      return l.second.find("max_age") != std::string::npos;
    });
  };
  EXPECT_EQ(lines(), 2) << "300 s later: the next report";
  s->append(q, bytes("a"));
  now += 10s;
  s->append(q, bytes("b"));
  now += 591s;
  s->tick();  // "a" is too old
  EXPECT_EQ(lines(), 3);
  now += 10s;
  s->tick();  // "b" too, 10 s after the last report: counted, not logged yet
  EXPECT_EQ(s->stats().dropped_age, 5u);
  EXPECT_EQ(lines(), 3);
  now += 50s;
  s->tick();
  EXPECT_EQ(lines(), 4) << "reported with the next minute";
  EXPECT_NE(log.back().second.find("dropped 1 entries older than max_age"), std::string::npos)
      << log.back().second;
}

TEST_F(spool_test, fsync_is_batched_by_count) {
  auto o = opts();
  o.sync_records = 10;
  auto s = open(o);
  int syncs = 0;
  s->set_sync_executor([&](int fd) {
    ++syncs;
    ::close(fd);
  });
  s->flush();  // the new segment's header and checkpoint
  syncs = 0;
  const auto q = s->queue("k");
  for (int i = 0; i < 25; ++i) {
    s->append(q, bytes("x"));
    s->flush();  // one write() per loop turn, each a record here
  }
  // 25 data records plus the key record: two full batches of 10.
  EXPECT_EQ(syncs, 2);
  EXPECT_EQ(s->stats().writes, 26u);
}

TEST_F(spool_test, fsync_is_batched_by_time) {
  auto s = open();
  int syncs = 0;
  s->set_sync_executor([&](int fd) {
    ++syncs;
    ::close(fd);
  });
  now += 10s;  // idle: nothing to sync
  s->tick();
  EXPECT_EQ(syncs, 0);
  s->append(s->queue("k"), bytes("x"));
  s->flush();
  EXPECT_EQ(syncs, 0) << "one record: not yet";
  now += 500ms;
  s->tick();
  EXPECT_EQ(syncs, 0);
  s->append(s->queue("k"), bytes("y"));  // joins the batch
  s->flush();
  now += 500ms;
  s->tick();
  EXPECT_EQ(syncs, 1) << "a second after the first unsynced record";
  now += 5s;
  s->tick();
  EXPECT_EQ(syncs, 1) << "nothing new: no sync";
}

TEST_F(spool_test, sync_interval_zero_syncs_every_write) {
  auto o = opts();
  o.sync_interval = 0ms;
  auto s = open(o);
  int syncs = 0;
  s->set_sync_executor([&](int fd) {
    ++syncs;
    ::close(fd);
  });
  s->append(s->queue("k"), bytes("x"));
  s->flush();
  EXPECT_EQ(syncs, 1);
}

TEST_F(spool_test, an_unwritable_dir_falls_back_to_memory_with_a_clear_log_line) {
  std::ofstream(dir.path() / "a-file") << "not a directory";
  auto o = opts();
  o.dir = (dir.path() / "a-file" / "spool").string();
  o.memory_bytes = 1000;
  auto s = open(o);
  EXPECT_FALSE(s->on_disk());
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log[0].first, LOG_ERR);
  EXPECT_NE(log[0].second.find("cannot create " + o.dir), std::string::npos) << log[0].second;
  EXPECT_NE(log[0].second.find("in memory"), std::string::npos) << log[0].second;
  const auto q = s->queue("k");
  for (int i = 0; i < 20; ++i) s->append(q, bytes(std::to_string(i) + std::string(98, '.')));
  EXPECT_LE(s->payload_bytes(), 1000u);
  EXPECT_GT(s->stats().dropped_full, 0u);
  const auto left = drain(*s, "k");
  ASSERT_FALSE(left.empty());
  EXPECT_EQ(std::stoi(left.back()), 19);
  // A minute later it tries again (and fails again, saying so).
  log.clear();
  now += 61s;
  s->tick();
  EXPECT_FALSE(s->on_disk());
  EXPECT_TRUE(logged("cannot"));
}

TEST_F(spool_test, a_write_error_mid_run_keeps_every_entry_in_memory) {
  auto s = open();
  const auto q = s->queue("k");
  s->append(q, bytes("on-disk"));
  s->flush();
  // The disk is full from now on: RLIMIT_FSIZE makes write() fail with EFBIG.
  const auto previous = std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  ::getrlimit(RLIMIT_FSIZE, &old);
  rlimit small = old;
  small.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  for (int i = 0; i < 10; ++i) s->append(q, bytes("pending-" + std::to_string(i) + std::string(40, '.')));
  s->flush();
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
  std::signal(SIGXFSZ, previous);
  EXPECT_FALSE(s->on_disk());
  EXPECT_TRUE(logged("cannot write"));
  EXPECT_GE(s->stats().io_errors, 1u);
  s->append(q, bytes("after"));
  const auto left = drain(*s, "k");
  ASSERT_EQ(left.size(), 12u) << "none lost";
  EXPECT_EQ(left[0], "on-disk");
  EXPECT_EQ(left[1].substr(0, 9), "pending-0");
  EXPECT_EQ(left[11], "after");
  // A minute later the disk works again.
  now += 61s;
  s->tick();
  EXPECT_TRUE(s->on_disk());
  s->append(q, bytes("back on disk"));
  s.reset();
  auto again = open();
  EXPECT_EQ(drain(*again, "k"), (std::vector<std::string>{"back on disk"}));
}

TEST_F(spool_test, drop_all_and_move_all) {
  auto s = open();
  const auto a = s->queue("a");
  const auto b = s->queue("b");
  s->append(a, bytes("a1"));
  s->append(a, bytes("a2"));
  s->append(b, bytes("b1"));
  s->move_all(a, b);
  EXPECT_TRUE(s->empty(a));
  s->drop_all(s->queue("none"));
  EXPECT_EQ(s->stats().dropped(), 0u);
  s.reset();
  auto again = open();
  EXPECT_EQ(drain(*again, "b"), (std::vector<std::string>{"b1", "a1", "a2"}));
  again->append(again->queue("c"), bytes("c1"));
  again->drop_all(again->queue("c"));
  EXPECT_EQ(again->stats().dropped_other, 1u);
}

TEST_F(spool_test, oversized_entries_are_refused_and_counted) {
  auto s = open(opts(4096));
  EXPECT_FALSE(s->append(s->queue("k"), byte_buffer(5000, 1)));
  EXPECT_EQ(s->stats().dropped_other, 1u);
  EXPECT_EQ(s->entries(), 0u);
}

TEST(segment_format, scan_reports_clean_torn_and_corrupt) {
  byte_buffer f(spool::segment_magic.begin(), spool::segment_magic.end());
  spool::append_key(f, 1, "k");
  spool::append_data(f, 1, 7, 100, bytes("payload"));
  spool::append_cursor(f, 1, 7);
  std::vector<spool::record_type> seen;
  auto r = spool::scan_segment(f, [&](const spool::record& rec) { seen.push_back(rec.type); });
  EXPECT_EQ(r.end, spool::scan_end::clean);
  EXPECT_EQ(r.valid_bytes, f.size());
  EXPECT_EQ(seen.size(), 3u);
  byte_buffer torn(f.begin(), f.end() - 3);
  r = spool::scan_segment(torn, [](const spool::record&) {});
  EXPECT_EQ(r.end, spool::scan_end::torn);
  byte_buffer bad = f;
  bad[spool::segment_magic.size() + 9] ^= 0x40;  // in the key record, others after it
  r = spool::scan_segment(bad, [](const spool::record&) {});
  EXPECT_EQ(r.end, spool::scan_end::corrupt);
  EXPECT_EQ(r.valid_bytes, spool::segment_magic.size());
  bad = f;
  bad[0] = 'X';
  EXPECT_EQ(spool::scan_segment(bad, [](const spool::record&) {}).end, spool::scan_end::corrupt);
}

}  // namespace
