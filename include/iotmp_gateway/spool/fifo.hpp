// A queue that costs one pointer while empty. The spool keeps a queue per
// stream and almost all of them are empty almost always (the cloud is up), but
// an empty libstdc++ std::deque still holds a 512-byte block and its map:
// 1.1 KiB per mapped topic across the spool's two queues, most of the
// gateway's memory at 10k topics. The deque is made on the first push and
// given back when the queue empties. References to elements stay valid across
// push_back, as with a deque.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <utility>

namespace iotgw::spool {

template <class T>
class fifo {
 public:
  using iterator = typename std::deque<T>::iterator;
  using const_iterator = typename std::deque<T>::const_iterator;

  bool empty() const noexcept { return !items_; }
  std::size_t size() const noexcept { return items_ ? items_->size() : 0; }

  // Precondition for these two: not empty.
  T& front() { return items_->front(); }
  const T& front() const { return items_->front(); }

  // An empty queue's range is two value-initialised iterators, which compare equal.
  iterator begin() { return items_ ? items_->begin() : iterator{}; }
  iterator end() { return items_ ? items_->end() : iterator{}; }
  const_iterator begin() const { return items_ ? const_iterator(items_->begin()) : const_iterator{}; }
  const_iterator end() const { return items_ ? const_iterator(items_->end()) : const_iterator{}; }

  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (!items_) items_ = std::make_unique<std::deque<T>>();
    return items_->emplace_back(std::forward<Args>(args)...);
  }
  void push_back(const T& v) { emplace_back(v); }

  void pop_front() {
    items_->pop_front();
    release_if_empty();
  }
  void erase(iterator it) {
    items_->erase(it);
    release_if_empty();
  }
  // Removes the elements pred accepts, keeping the order of the others; how many went.
  template <class Pred>
  std::size_t remove_if(Pred pred) {
    if (!items_) return 0;
    const auto n = std::erase_if(*items_, pred);
    release_if_empty();
    return n;
  }

 private:
  void release_if_empty() noexcept {
    if (items_->empty()) items_.reset();
  }

  std::unique_ptr<std::deque<T>> items_;
};

}  // namespace iotgw::spool
