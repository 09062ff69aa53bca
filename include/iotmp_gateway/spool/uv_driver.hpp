// Drives a spool on the libuv loop: one write() at the end of each loop turn
// that produced records, a timer for the time-batched fdatasync, max_age and the
// drop log, and every fdatasync on the libuv threadpool so that a slow disk
// (an SD card can take hundreds of ms) never stalls the loop.
#pragma once

#include <memory>

#include "iotmp_gateway/net/uv_loop.hpp"
#include "iotmp_gateway/net/uv_timer.hpp"
#include "iotmp_gateway/spool/spool.hpp"

namespace iotgw::spool {

class uv_driver {
 public:
  uv_driver(uv::loop& loop, spool& s);
  ~uv_driver();  // flushes and syncs; the timers close with the loop's next turn
  uv_driver(const uv_driver&) = delete;
  uv_driver& operator=(const uv_driver&) = delete;

  // fdatasync requests on the threadpool that have not finished.
  int syncs_in_flight() const noexcept { return *in_flight_; }

 private:
  uv::loop& loop_;
  spool& spool_;
  std::shared_ptr<uv::timer> flush_timer_;
  std::shared_ptr<uv::timer> tick_timer_;
  bool flush_scheduled_ = false;
  // Shared with the requests: they outlive the driver when it goes first.
  std::shared_ptr<int> in_flight_ = std::make_shared<int>(0);
};

}  // namespace iotgw::spool
