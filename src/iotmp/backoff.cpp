#include "iotmp_gateway/iotmp/backoff.hpp"

#include <algorithm>

namespace iotgw::iotmp {

backoff::backoff(duration min, duration max, std::uint64_t seed)
    : min_(std::max(min, duration{1})), max_(std::max(max, min_)), previous_(min_), rng_(seed) {}

backoff::duration backoff::next() {
  const auto upper = std::min(max_.count(), previous_.count() * 3);
  std::uniform_int_distribution<duration::rep> pick(min_.count(), std::max(upper, min_.count()));
  previous_ = duration{pick(rng_)};
  return previous_;
}

}  // namespace iotgw::iotmp
