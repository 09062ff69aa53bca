// Frame decoder: arbitrary bytes in arbitrary chunks must never crash, and every
// frame it accepts must survive encode -> decode unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "iotmp_gateway/iotmp/frame_decoder.hpp"

using namespace iotgw::iotmp;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

void check_round_trip(const message& m) {
  if (!is_known(m.type)) return;
  iotgw::byte_buffer bytes;
  if (encode(m, bytes) != iotgw::codec_error::none) return;  // may exceed the limit re-encoded
  frame_decoder again;
  again.feed(bytes);
  message_view v;
  check(again.next(v) == frame_decoder::status::frame);
  check(message::from_view(v) == m);
  check(again.next(v) == frame_decoder::status::need_more);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the chunk size, so splits across reads get explored too.
  const std::size_t chunk = data[0] % 17 + 1;
  const iotgw::byte_view input(data + 1, size - 1);
  frame_decoder d(4096);
  message_view v;
  for (std::size_t pos = 0; pos < input.size(); pos += chunk) {
    d.feed(input.subspan(pos, std::min(chunk, input.size() - pos)));
    frame_decoder::status s;
    while ((s = d.next(v)) == frame_decoder::status::frame) {
      check_round_trip(message::from_view(v));
    }
    if (s == frame_decoder::status::error) {
      check(d.error() != iotgw::codec_error::none);
      return 0;
    }
  }
  return 0;
}
