// Round-trip property: for any value v, decode(encode(v)) == v, and JSON text of
// v parses back to v when v holds nothing JSON lacks (bytes, NaN, infinities,
// invalid UTF-8). Values are built from the fuzzer's bytes.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "iotmp_gateway/pson/codec.hpp"
#include "iotmp_gateway/pson/json.hpp"

using namespace iotgw::pson;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

class generator {
 public:
  generator(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  value make(unsigned depth) {
    switch (byte() % (depth < 6 ? 11 : 9)) {
      case 0: return value(nullptr);
      case 1: return value(byte() % 2 == 1);
      case 2: return value(u64());
      case 3: return value(static_cast<std::int64_t>(u64()));
      case 4: {
        double d = 0;
        const std::uint64_t bits = u64();
        std::memcpy(&d, &bits, sizeof d);
        if (!std::isfinite(d)) json_safe_ = false;
        return value(d);
      }
      case 5: return value(static_cast<double>(static_cast<float>(static_cast<std::int32_t>(u64())) / 8));
      case 6: return value(text());
      case 7: {
        json_safe_ = false;
        const auto s = text();
        return value(as_bytes, bytes(s.begin(), s.end()));
      }
      case 8: return value(static_cast<std::uint64_t>(byte()));
      case 9: {
        array a;
        for (unsigned n = byte() % 8; n > 0; --n) a.push_back(make(depth + 1));
        return value(std::move(a));
      }
      default: {
        std::vector<object::member> members;
        for (unsigned n = byte() % 8; n > 0; --n) members.emplace_back(text(), make(depth + 1));
        return value(object::from_members(std::move(members)));
      }
    }
  }

  bool json_safe() const { return json_safe_; }

 private:
  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint64_t u64() {
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n = (n << 8) | byte();
    return n;
  }
  std::string text() {
    std::string s;
    for (unsigned n = byte() % 12; n > 0; --n) {
      const auto c = static_cast<char>(byte());
      if (static_cast<unsigned char>(c) >= 0x80) json_safe_ = false;
      s.push_back(c);
    }
    return s;
  }

  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  bool json_safe_ = true;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  generator g(data, size);
  const value v = g.make(0);
  const auto bytes = encode(v);
  value back;
  const auto r = decode_all(bytes, back);
  check(r.error == iotgw::codec_error::none);
  check(back == v);
  if (g.json_safe()) {
    value from_text;
    check(!parse_json(to_json(v), from_text));
    check(from_text == v);
  }
  return 0;
}
