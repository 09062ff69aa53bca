// A hash index from a string to small values (ids, pointers) that already hold
// their key somewhere else: `key_of(value)` gives it. One slot per value in an
// open-addressing table (linear probing, at most 70 % full), so an entry costs
// 1.4 to 2.9 slots, 12 to 23 B for a pointer, instead of a std::unordered_map
// node with a copy of the key (about 80 B with the allocator's overhead). A
// gateway keeps one entry per mapped topic in such indexes.
//
// Several values may share a key; they come back in insertion order. There is
// no erase: the users rebuild (clear, insert) when their set changes.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

namespace iotgw {

template <typename V, typename KeyOf, V Empty = V{}>
class string_index {
 public:
  explicit string_index(KeyOf key_of = {}) : key_of_(std::move(key_of)) {}

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  void clear() noexcept {
    slots_.clear();
    slots_.shrink_to_fit();
    size_ = 0;
  }
  void reserve(std::size_t n) {
    if (too_full(n, slots_.size())) rehash(capacity_for(n));
  }

  // `v` must not be Empty; its key must not change while it is indexed.
  void insert(V v) {
    if (too_full(size_ + 1, slots_.size())) rehash(capacity_for(size_ + 1));
    place(v);
    ++size_;
  }

  // Calls f(value) for each value with this key, in insertion order; stops
  // early when f returns false.
  template <typename F>
  void for_each(std::string_view key, F&& f) const {
    if (slots_.empty()) return;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash(key) & mask;; i = (i + 1) & mask) {
      const V& v = slots_[i];
      if (v == Empty) return;
      if (std::string_view(key_of_(v)) == key && !f(v)) return;
    }
  }

  // The first value inserted with this key, or Empty.
  V find(std::string_view key) const {
    V found = Empty;
    for_each(key, [&](const V& v) {
      found = v;
      return false;
    });
    return found;
  }

 private:
  static std::size_t hash(std::string_view key) noexcept { return std::hash<std::string_view>{}(key); }
  // Over 70 %, probe runs get long (a miss reads about 6 slots at 70 %).
  static bool too_full(std::size_t n, std::size_t capacity) noexcept { return 10 * n > 7 * capacity; }
  static std::size_t capacity_for(std::size_t n) {
    std::size_t c = 8;
    while (too_full(n, c)) c *= 2;
    return c;
  }
  // Linear probing without erase keeps equal keys in insertion order: a later
  // one always lands further along the same probe sequence.
  void place(V v) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = hash(key_of_(v)) & mask;
    while (!(slots_[i] == Empty)) i = (i + 1) & mask;
    slots_[i] = v;
  }
  void rehash(std::size_t capacity) {
    // Equal keys sit in insertion order along one run of occupied slots,
    // which may wrap around the end of the table: walking the old table from
    // just after an empty slot visits every run from its start, so equal keys
    // are placed again in the same order.
    std::vector<V> old(capacity, Empty);
    old.swap(slots_);
    if (size_ == 0) return;
    std::size_t start = 0;
    while (!(old[start] == Empty)) ++start;
    for (std::size_t k = 1; k <= old.size(); ++k) {
      const V& v = old[(start + k) % old.size()];
      if (!(v == Empty)) place(v);
    }
  }

  std::vector<V> slots_;
  std::size_t size_ = 0;
  KeyOf key_of_;
};

}  // namespace iotgw
