// JSON -> PSON: arbitrary text never crashes; accepted text converts to a value
// whose JSON text parses back to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "iotmp_gateway/pson/codec.hpp"
#include "iotmp_gateway/pson/json.hpp"

using namespace iotgw::pson;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  value v;
  if (parse_json(std::string_view(reinterpret_cast<const char*>(data), size), v)) return 0;
  value again;
  if (parse_json(to_json(v), again) || !(again == v)) std::abort();
  value decoded;
  if (!decode_all(encode(v), decoded) || !(decoded == v)) std::abort();
  return 0;
}
