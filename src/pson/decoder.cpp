#include <bit>
#include <cstring>

#include "iotmp_gateway/pson/codec.hpp"
#include "pson/tags.hpp"

namespace iotgw::pson {

namespace {

struct header {
  major type;
  std::uint64_t n;
};

// Reads a tag and its number (inline or escaped varint).
codec_error read_header(byte_view in, std::size_t& pos, header& h) noexcept {
  if (pos >= in.size()) return codec_error::truncated;
  const std::uint8_t tag = in[pos];
  std::size_t p = pos + 1;
  h.type = static_cast<major>(tag >> 5);
  h.n = tag & 0x1f;
  if (h.n == inline_escape) {
    if (auto e = read_varint(in, p, h.n, varint64); e != codec_error::none) return e;
  }
  pos = p;
  return codec_error::none;
}

// The decoder and the validator share one walk; Build decides whether a value is
// materialised. The validator never allocates.
template <bool Build>
class walker {
 public:
  explicit walker(byte_view in) : in_(in) {}

  codec_error walk(value* out, unsigned depth) {
    header h{};
    if (auto e = read_header(in_, pos_, h); e != codec_error::none) return e;
    const std::size_t remaining = in_.size() - pos_;
    switch (h.type) {
      case major::unsigned_integer:
        if constexpr (Build) *out = value(h.n);
        return codec_error::none;
      case major::negative_integer:
        // Magnitude 0 never comes from an encoder but means 0 to the reference decoder.
        if (h.n > (std::uint64_t{1} << 63)) return codec_error::integer_overflow;
        if constexpr (Build) *out = value(static_cast<std::int64_t>(0 - h.n));
        return codec_error::none;
      case major::floating: {
        if (h.n > 1) return codec_error::invalid_float_subtype;
        const std::size_t width = h.n == 0 ? 4 : 8;
        if (remaining < width) return codec_error::truncated;
        if constexpr (Build) {
          std::uint64_t bits = 0;
          for (std::size_t i = 0; i < width; ++i) {
            bits |= static_cast<std::uint64_t>(in_[pos_ + i]) << (8 * i);
          }
          *out = width == 4 ? value(std::bit_cast<float>(static_cast<std::uint32_t>(bits)))
                            : value(std::bit_cast<double>(bits));
        }
        pos_ += width;
        return codec_error::none;
      }
      case major::discrete:
        if (h.n > 2) return codec_error::invalid_discrete;
        if constexpr (Build) *out = h.n == 2 ? value(nullptr) : value(h.n == 1);
        return codec_error::none;
      case major::string:
      case major::bytes: {
        if (h.n > 0xffffffffu) return codec_error::length_too_large;
        if (h.n > remaining) return codec_error::truncated;
        const auto len = static_cast<std::size_t>(h.n);
        if constexpr (Build) {
          const auto* p = in_.data() + pos_;
          if (h.type == major::string) {
            *out = value(std::string(reinterpret_cast<const char*>(p), len));
          } else {
            *out = value(as_bytes, bytes(p, p + len));
          }
        }
        pos_ += len;
        return codec_error::none;
      }
      case major::array: {
        if (depth >= max_nesting_depth) return codec_error::nesting_too_deep;
        // Every element takes at least one byte: a larger count cannot be honest.
        if (h.n > remaining) return codec_error::truncated;
        array elements;
        if constexpr (Build) elements.resize(static_cast<std::size_t>(h.n));
        for (std::uint64_t i = 0; i < h.n; ++i) {
          if (auto e = walk(Build ? &elements[i] : nullptr, depth + 1); e != codec_error::none) {
            return e;
          }
        }
        if constexpr (Build) *out = value(std::move(elements));
        return codec_error::none;
      }
      case major::map: {
        if (depth >= max_nesting_depth) return codec_error::nesting_too_deep;
        // Every pair takes at least two bytes (key tag and value tag).
        if (h.n > remaining / 2) return codec_error::truncated;
        std::vector<object::member> members;
        if constexpr (Build) members.resize(static_cast<std::size_t>(h.n));
        for (std::uint64_t i = 0; i < h.n; ++i) {
          header key{};
          if (auto e = read_header(in_, pos_, key); e != codec_error::none) return e;
          if (key.type != major::string) return codec_error::non_string_key;
          if (key.n > in_.size() - pos_) return codec_error::truncated;
          if constexpr (Build) {
            members[i].first.assign(reinterpret_cast<const char*>(in_.data() + pos_),
                                    static_cast<std::size_t>(key.n));
          }
          pos_ += static_cast<std::size_t>(key.n);
          if (auto e = walk(Build ? &members[i].second : nullptr, depth + 1);
              e != codec_error::none) {
            return e;
          }
        }
        if constexpr (Build) *out = value(object::from_members(std::move(members)));
        return codec_error::none;
      }
    }
    return codec_error::truncated;  // unreachable: major has 8 values
  }

  std::size_t position() const { return pos_; }

 private:
  byte_view in_;
  std::size_t pos_ = 0;
};

}  // namespace

decode_result decode(byte_view in, value& out) {
  walker<true> w(in);
  value result;
  if (auto e = w.walk(&result, 0); e != codec_error::none) return {e, 0};
  out = std::move(result);
  return {codec_error::none, w.position()};
}

decode_result decode_all(byte_view in, value& out) {
  value result;
  auto r = decode(in, result);
  if (!r) return r;
  if (r.consumed != in.size()) return {codec_error::trailing_bytes, 0};
  out = std::move(result);
  return r;
}

decode_result validate(byte_view in) {
  walker<false> w(in);
  if (auto e = w.walk(nullptr, 0); e != codec_error::none) return {e, 0};
  return {codec_error::none, w.position()};
}

std::optional<std::string_view> read_string(byte_view in) noexcept {
  std::size_t pos = 0;
  header h{};
  if (read_header(in, pos, h) != codec_error::none || h.type != major::string) return {};
  if (h.n > in.size() - pos) return {};
  return std::string_view(reinterpret_cast<const char*>(in.data() + pos),
                          static_cast<std::size_t>(h.n));
}

std::optional<std::uint64_t> read_unsigned(byte_view in) noexcept {
  std::size_t pos = 0;
  header h{};
  if (read_header(in, pos, h) != codec_error::none || h.type != major::unsigned_integer) return {};
  return h.n;
}

}  // namespace iotgw::pson
