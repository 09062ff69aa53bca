#!/usr/bin/env python3
"""The spool's write load through SQLite, for the "own log vs SQLite" question.

Same load as bench/spool_bench.cpp: 100-byte records into one queue, committed in
batches of 64 (one loop turn), WAL mode. Two durability settings, matching the
spool's two:
  synchronous=NORMAL  commits do not fsync (WAL checkpoints do)  ~ spool sync_interval 1s
  synchronous=FULL    every commit fsyncs the WAL                ~ spool sync_interval 0
Python's built-in sqlite3 module (SQLite 3.40 on Debian 12) with executemany per
batch, so the per-record Python cost is small but not zero: read the figures as a
lower bound of SQLite's cost in a C daemon plus a little.

usage: spool_vs_sqlite.py [--records N] [--dir D]
"""
import argparse
import os
import sqlite3
import tempfile
import time

BATCH = 64
RECORD = b"x" * 100


def run(path, records, synchronous):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE spool (seq INTEGER PRIMARY KEY, stream INTEGER, t INTEGER, payload BLOB)")
    rows = [(1, 0, RECORD)] * BATCH
    start = time.perf_counter()
    done = 0
    while done < records:
        n = min(BATCH, records - done)
        db.execute("BEGIN")
        db.executemany("INSERT INTO spool (stream, t, payload) VALUES (?, ?, ?)", rows[:n])
        db.execute("COMMIT")
        done += n
    elapsed = time.perf_counter() - start
    # Replay: read in order and delete what was sent, a batch per commit.
    start_r = time.perf_counter()
    last = 0
    while True:
        got = db.execute("SELECT seq, payload FROM spool WHERE seq > ? ORDER BY seq LIMIT ?",
                         (last, BATCH)).fetchall()
        if not got:
            break
        last = got[-1][0]
        db.execute("BEGIN")
        db.execute("DELETE FROM spool WHERE seq <= ?", (last,))
        db.execute("COMMIT")
    replay = time.perf_counter() - start_r
    size = os.path.getsize(path) + (os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0)
    db.close()
    return elapsed, replay, size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--dir", default=os.environ.get("SPOOL_BENCH_DIR", tempfile.gettempdir()))
    a = ap.parse_args()
    print(f"SQLite {sqlite3.sqlite_version}, {a.records} records of {len(RECORD)} B, batches of {BATCH}")
    print(f"{'setting':<22}{'append rec/s':>14}{'us/rec':>9}{'replay rec/s':>14}{'file MiB':>10}")
    for sync, records in (("NORMAL", a.records), ("FULL", a.records // 4)):
        with tempfile.TemporaryDirectory(dir=a.dir) as d:
            t, r, size = run(os.path.join(d, "spool.db"), records, sync)
            print(f"{'WAL synchronous=' + sync:<22}{records / t:>14.0f}{t / records * 1e6:>9.2f}"
                  f"{records / r:>14.0f}{size / 2**20:>10.1f}")


if __name__ == "__main__":
    main()
