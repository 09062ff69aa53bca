#include "iotmp_gateway/spool/uv_driver.hpp"

#include <unistd.h>

#include <algorithm>

namespace iotgw::spool {

namespace {

struct sync_request {
  uv_fs_t req;
  int fd;
  std::shared_ptr<int> in_flight;
};

}  // namespace

uv_driver::uv_driver(uv::loop& loop, spool& s)
    : loop_(loop),
      spool_(s),
      flush_timer_(uv::timer::create(loop)),
      tick_timer_(uv::timer::create(loop)) {
  // A 0 ms timer runs in the next timers phase, after the cloud link's own 0 ms
  // flush timer when that one was started first: restarting ours whenever a pop
  // made a cursor dirty keeps it behind the frames it acknowledges, so a cursor
  // never reaches the file before its data reached the socket.
  const auto schedule = [this] {
    flush_scheduled_ = true;
    flush_timer_->start(std::chrono::milliseconds(0), [this] {
      flush_scheduled_ = false;
      spool_.flush();
    });
  };
  spool_.on_dirty([this, schedule](bool consumed) {
    if (flush_scheduled_ && !consumed) return;
    schedule();
  });
  // Opening buffered a header (and recovery a checkpoint) before we listened.
  schedule();
  spool_.set_sync_executor([this, in_flight = in_flight_](int fd) {
    if (*in_flight > 0) {
      // One at a time: the next tick syncs what this one would have.
      ::close(fd);
      return;
    }
    auto* r = new sync_request{{}, fd, in_flight};
    r->req.data = r;
    ++*in_flight;
    const int rc = uv_fs_fdatasync(loop_.raw(), &r->req, fd, [](uv_fs_t* req) {
      auto* done = static_cast<sync_request*>(req->data);
      uv_fs_req_cleanup(req);
      ::close(done->fd);
      --*done->in_flight;
      delete done;
    });
    if (rc != 0) {
      --*in_flight;
      ::fdatasync(fd);
      ::close(fd);
      delete r;
    }
  });
  const auto period = std::clamp(spool_.config().sync_interval, std::chrono::milliseconds(50),
                                 std::chrono::milliseconds(1000));
  tick_timer_->start(period, period, [this] { spool_.tick(); });
}

uv_driver::~uv_driver() {
  spool_.on_dirty({});
  spool_.set_sync_executor({});
  flush_timer_->close();
  tick_timer_->close();
  spool_.flush_and_sync();
}

}  // namespace iotgw::spool
