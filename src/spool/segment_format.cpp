#include "iotmp_gateway/spool/segment_format.hpp"

#include <algorithm>
#include <cstring>

#include "iotmp_gateway/spool/crc32c.hpp"

namespace iotgw::spool {

namespace {

void put32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint32_t get32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t(p[i]) << (8 * i);
  return v;
}
std::uint64_t get64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t(p[i]) << (8 * i);
  return v;
}

// Grows out by one record of body_size, writes the body prefix through fill and
// the tail bytes, then the header over the whole body. One resize, no temporary.
template <typename Fill>
std::size_t append_record(byte_buffer& out, std::size_t prefix_size, Fill fill,
                          std::span<const std::uint8_t> tail) {
  const std::size_t start = out.size();
  const std::size_t body_size = prefix_size + tail.size();
  out.resize(start + record_header_size + body_size);
  std::uint8_t* body = out.data() + start + record_header_size;
  fill(body);
  if (!tail.empty()) std::memcpy(body + prefix_size, tail.data(), tail.size());
  put32(out.data() + start, static_cast<std::uint32_t>(body_size));
  put32(out.data() + start + 4, crc32c({body, body_size}));
  return start + record_header_size + prefix_size;
}

}  // namespace

std::size_t append_data(byte_buffer& out, std::uint32_t key, std::uint64_t sequence,
                        std::uint32_t time_s, std::span<const std::uint8_t> payload) {
  return append_record(
      out, data_body_prefix,
      [&](std::uint8_t* b) {
        b[0] = static_cast<std::uint8_t>(record_type::data);
        put32(b + 1, key);
        put64(b + 5, sequence);
        put32(b + 13, time_s);
      },
      payload);
}

void append_key(byte_buffer& out, std::uint32_t key, std::string_view name) {
  append_record(
      out, 5,
      [&](std::uint8_t* b) {
        b[0] = static_cast<std::uint8_t>(record_type::key);
        put32(b + 1, key);
      },
      {reinterpret_cast<const std::uint8_t*>(name.data()), name.size()});
}

void append_cursor(byte_buffer& out, std::uint32_t key, std::uint64_t sequence) {
  append_record(
      out, 13,
      [&](std::uint8_t* b) {
        b[0] = static_cast<std::uint8_t>(record_type::cursor);
        put32(b + 1, key);
        put64(b + 5, sequence);
      },
      {});
}

scan_result scan_segment(std::span<const std::uint8_t> file,
                         const std::function<void(const record&)>& each) {
  scan_result r;
  const std::size_t size = file.size();
  if (size < segment_magic.size()) {
    // A file created but its header never (fully) written: nothing in it.
    const bool prefix = std::equal(file.begin(), file.end(), segment_magic.begin());
    r.end = prefix ? scan_end::torn : scan_end::corrupt;
    r.reason = prefix ? "incomplete header" : "not a spool segment";
    return r;
  }
  if (!std::equal(segment_magic.begin(), segment_magic.end(), file.begin())) {
    r.end = scan_end::corrupt;
    r.reason = "not a spool segment (bad magic)";
    return r;
  }
  std::size_t pos = segment_magic.size();
  const auto all_zero_from = [&](std::size_t from) {
    return std::all_of(file.begin() + static_cast<std::ptrdiff_t>(from), file.end(),
                       [](std::uint8_t b) { return b == 0; });
  };
  // A bad record is a torn last write when nothing valid can follow it: it runs
  // past the end, it is the last record, or only zeros follow (a file system
  // that extended the file before the data reached the disk).
  const auto fail = [&](bool torn, std::string why) {
    r.end = torn ? scan_end::torn : scan_end::corrupt;
    r.valid_bytes = pos;
    r.reason = std::move(why) + " at offset " + std::to_string(pos);
    return r;
  };
  while (pos < size) {
    if (size - pos < record_header_size) return fail(true, "incomplete record header");
    const std::uint32_t len = get32(&file[pos]);
    const std::uint32_t crc = get32(&file[pos + 4]);
    const std::size_t end = pos + record_header_size + len;
    if (len == 0 || len > max_record_body) {
      return fail(all_zero_from(pos) || end > size, "bad record length " + std::to_string(len));
    }
    if (end > size) return fail(true, "record runs past the end of the file");
    const std::uint8_t* body = &file[pos + record_header_size];
    if (crc32c({body, len}) != crc) {
      return fail(end == size || all_zero_from(end), "checksum mismatch");
    }
    record rec{};
    rec.type = static_cast<record_type>(body[0]);
    bool ok = len >= 5;
    if (ok) rec.key = get32(body + 1);
    switch (rec.type) {
      case record_type::data:
        ok = len >= data_body_prefix;
        if (ok) {
          rec.sequence = get64(body + 5);
          rec.time_s = get32(body + 13);
          rec.payload_offset = pos + record_header_size + data_body_prefix;
          rec.payload_size = len - data_body_prefix;
        }
        break;
      case record_type::key:
        rec.name = {reinterpret_cast<const char*>(body + 5), ok ? len - 5 : 0};
        break;
      case record_type::cursor:
        ok = len == 13;
        if (ok) rec.sequence = get64(body + 5);
        break;
      default:
        ok = false;
    }
    // The checksum held: a record we cannot read was written by something else.
    if (!ok) return fail(false, "unknown record type " + std::to_string(body[0]));
    each(rec);
    pos = end;
  }
  r.valid_bytes = pos;
  return r;
}

}  // namespace iotgw::spool
