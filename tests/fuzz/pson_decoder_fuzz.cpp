// PSON decoder: arbitrary bytes never crash; the validator agrees with the decoder;
// whatever decodes re-encodes to bytes that decode to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "iotmp_gateway/pson/codec.hpp"

using namespace iotgw::pson;

namespace {
void check(bool condition) {
  if (!condition) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const iotgw::byte_view input(data, size);
  value v;
  const auto decoded = decode(input, v);
  const auto validated = validate(input);
  check(decoded.error == validated.error);
  check(decoded.consumed == validated.consumed);
  if (!decoded) return 0;
  const auto bytes = encode(v);
  value back;
  check(static_cast<bool>(decode_all(bytes, back)));
  check(back == v);
  check(encode(back) == bytes);  // the encoding is canonical: a fixed point
  return 0;
}
