// The bytes of a spool segment file. Pure: builds records into a buffer and
// scans a file's bytes; the spool does the I/O.
//
//   segment = magic "IOTSPL1\n", then records
//   record  = u32 length of body | u32 CRC-32C of body | body        (little endian)
//   body    = u8 type, then
//     1 data:   u32 key, u64 sequence, u32 time (s since the epoch), payload (the rest)
//     2 key:    u32 key, name (the rest): names a key id within this segment file
//     3 cursor: u32 key, u64 sequence: every entry of key up to it has left the spool
//
// Key ids are local to one segment file (each run writes its own files), so a
// record never needs a name table from another file.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "iotmp_gateway/varint.hpp"

namespace iotgw::spool {

inline constexpr std::string_view segment_magic = "IOTSPL1\n";
inline constexpr std::size_t record_header_size = 8;
inline constexpr std::size_t data_body_prefix = 1 + 4 + 8 + 4;
// Largest body accepted when scanning: above the 256 KiB frame limit with room,
// small enough that a garbage length never makes us read far.
inline constexpr std::size_t max_record_body = 1u << 20;

enum class record_type : std::uint8_t { data = 1, key = 2, cursor = 3 };

// Appends one record; returns the offset of the data payload within `out`.
std::size_t append_data(byte_buffer& out, std::uint32_t key, std::uint64_t sequence,
                        std::uint32_t time_s, std::span<const std::uint8_t> payload);
void append_key(byte_buffer& out, std::uint32_t key, std::string_view name);
void append_cursor(byte_buffer& out, std::uint32_t key, std::uint64_t sequence);
constexpr std::size_t data_record_size(std::size_t payload) noexcept {
  return record_header_size + data_body_prefix + payload;
}

struct record {
  record_type type;
  std::uint32_t key = 0;
  std::uint64_t sequence = 0;  // data, cursor
  std::uint32_t time_s = 0;    // data
  std::size_t payload_offset = 0;  // data: in the file
  std::size_t payload_size = 0;    // data
  std::string_view name;           // key
};

enum class scan_end : std::uint8_t {
  clean,    // every byte is a valid record
  torn,     // the tail is an incomplete or unchecked last write: cut at valid_bytes
  corrupt,  // damage with data after it, or not a segment at all
};

struct scan_result {
  scan_end end = scan_end::clean;
  std::size_t valid_bytes = 0;  // the prefix made of the magic and whole valid records
  std::string reason;           // for the log when not clean
};

// Calls each() for every valid record in order, up to the first bad one.
scan_result scan_segment(std::span<const std::uint8_t> file,
                         const std::function<void(const record&)>& each);

}  // namespace iotgw::spool
