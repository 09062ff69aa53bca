// Checks every row of the golden vectors (../shared/iotmp/vectors): decode all,
// encode the canonical rows byte for byte, and compare decoded rows with the
// values their descriptions state.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <regex>

#include "iotmp_gateway/iotmp/frame_decoder.hpp"
#include "iotmp_gateway/pson/codec.hpp"
#include "iotmp_gateway/pson/json.hpp"
#include "support/hex.hpp"
#include "support/print.hpp"
#include "support/vectors.hpp"

using namespace iotgw::iotmp;
using iotgw::byte_buffer;
using iotgw::codec_error;
using iotgw::pson::array;
using iotgw::pson::as_bytes;
using iotgw::pson::object;
using iotgw::pson::value;
using test_support::from_hex;
using test_support::to_hex;

namespace {

bool starts_with(const std::string& s, std::string_view prefix) { return s.starts_with(prefix); }
bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

value json(std::string_view text) {
  value v;
  if (auto err = iotgw::pson::parse_json(text, v)) {
    throw std::runtime_error("bad JSON in test table: " + std::string(text));
  }
  return v;
}

// The value each pson.* row describes, written here independently of the codec.
const std::map<std::string, value>& expected_pson_values() {
  static const std::map<std::string, value> table = [] {
    std::map<std::string, value> t;
    t["pson.uint.0"] = value(0u);
    t["pson.uint.1"] = value(1u);
    t["pson.int.1_signed_json"] = value(std::int64_t{1});
    t["pson.uint.30"] = value(30u);
    t["pson.uint.31"] = value(31u);
    t["pson.uint.127"] = value(127u);
    t["pson.uint.128"] = value(128u);
    t["pson.uint.300"] = value(300u);
    t["pson.uint.65535"] = value(65535u);
    t["pson.uint.4294967296"] = value(std::uint64_t{1} << 32);
    t["pson.uint.2^53"] = value(std::uint64_t{1} << 53);
    t["pson.uint.u64max"] = value(UINT64_MAX);
    t["pson.int.-1"] = value(-1);
    t["pson.int.-30"] = value(-30);
    t["pson.int.-31"] = value(-31);
    t["pson.int.-128"] = value(-128);
    t["pson.int.-300"] = value(-300);
    t["pson.int.i64max"] = value(INT64_MAX);
    t["pson.int.i64min"] = value(INT64_MIN);
    t["pson.float.3.5"] = json("3.5");
    t["pson.float.-2.5"] = json("-2.5");
    t["pson.float.0.5"] = json("0.5");
    t["pson.double.1e100"] = json("1e100");
    t["pson.double.0.1"] = json("0.1");
    t["pson.double.3.14159"] = json("3.14159");
    t["pson.double.3.0_is_int"] = json("3.0");
    t["pson.double.-7.0_is_int"] = json("-7.0");
    t["pson.double.1e10_is_int"] = json("1e10");
    t["pson.bool.false"] = value(false);
    t["pson.bool.true"] = value(true);
    t["pson.null"] = value(nullptr);
    t["pson.str.empty"] = value("");
    t["pson.str.hello"] = value("hello");
    t["pson.str.utf8"] = json(R"("caf\u00e9")");
    t["pson.str.len31"] = value(std::string(31, 'a'));
    t["pson.str.len200"] = value(std::string(200, 'x'));
    t["pson.bytes.empty"] = value(as_bytes, {});
    t["pson.bytes.010203ff"] = value(as_bytes, {0x01, 0x02, 0x03, 0xff});
    t["pson.obj.empty"] = json("{}");
    t["pson.arr.empty"] = json("[]");
    t["pson.arr.mixed"] = json(R"([1,-1,true,null,"x"])");
    t["pson.obj.simple"] = json(R"({"a":1})");
    t["pson.obj.key_order"] = json(R"({"b":1,"a":2})");
    t["pson.obj.nested"] = json(R"({"data":{"hum":55,"temp":22.5},"tags":["in","f2"],"ok":true})");
    t["pson.obj.nested_empty"] = json(R"({"a":{},"b":[]})");
    object count31;
    for (int i = 0; i <= 30; ++i) {
      char key[4];
      std::snprintf(key, sizeof key, "k%02d", i);
      count31.insert_or_assign(key, value(i));
    }
    t["pson.obj.count31"] = value(std::move(count31));
    return t;
  }();
  return table;
}

// Reads the JSON value that starts at text[pos] (as the descriptions write them).
std::string json_prefix(const std::string& text, std::size_t pos) {
  std::size_t i = pos;
  if (i < text.size() && (text[i] == '{' || text[i] == '[' || text[i] == '"')) {
    int depth = 0;
    bool in_string = false;
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (in_string) {
        if (c == '\\') ++i;
        else if (c == '"') in_string = false;
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        --depth;
      }
      if (!in_string && depth == 0) return text.substr(pos, i + 1 - pos);
    }
    return text.substr(pos);
  }
  while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])) &&
         std::string_view(",):;").find(text[i]) == std::string_view::npos) {
    ++i;
  }
  return text.substr(pos, i - pos);
}

// The message a msg.* description states ("RUN sid=0x1234 resource=\"led\" payload=..."),
// or nothing when the description does not state the fields.
std::optional<message> message_from_description(const std::string& description) {
  static const std::map<std::string, message_type> types = {
      {"OK", message_type::ok},
      {"ERROR", message_type::error},
      {"CONNECT", message_type::connect},
      {"DISCONNECT", message_type::disconnect},
      {"KEEP_ALIVE", message_type::keep_alive},
      {"RUN", message_type::run},
      {"DESCRIBE", message_type::describe},
      {"START_STREAM", message_type::start_stream},
      {"STOP_STREAM", message_type::stop_stream},
      {"STREAM_DATA", message_type::stream_data},
  };
  const auto type = types.find(description.substr(0, description.find(' ')));
  if (type == types.end()) return std::nullopt;
  message m;
  m.type = type->second;
  bool stated = false;
  // The stream id is stated right after the type; a later "sid=" is about another message.
  static const std::regex sid_re(R"(^[A-Z_]+ sid=(0x[0-9a-fA-F]+|[0-9]+))");
  if (std::smatch match; std::regex_search(description, match, sid_re)) {
    m.stream_id = static_cast<std::uint16_t>(std::stoul(match[1], nullptr, 0));
    stated = true;
  }
  // Device->server RUNs name the server resource with its code: "WRITE_BUCKET (5)".
  static const std::regex server_resource_re(R"(^RUN (sid=\S+ )?[A-Z_]+ \(([0-9])\))");
  if (std::smatch match; std::regex_search(description, match, server_resource_re)) {
    m.resource = value(std::stoul(match[2]));
  }
  for (auto [key, slot] : {std::pair{"resource=", &m.resource},
                           std::pair{"params=", &m.parameters},
                           std::pair{"payload=", &m.payload}}) {
    for (std::size_t at = description.find(key); at != std::string::npos;
         at = description.find(key, at + 1)) {
      if (at > 0 && description[at - 1] != ' ') continue;
      const std::size_t start = at + std::strlen(key);
      if (description.compare(start, 6, "bytes ") == 0) {
        // "payload=bytes 6c 73 0a (...)"
        const auto hex = description.substr(start + 6, description.find(" (", start) - start - 6);
        *slot = value(as_bytes, from_hex(hex));
      } else {
        *slot = json(json_prefix(description, start));
      }
      stated = true;
      break;
    }
  }
  if (!stated) return std::nullopt;
  return m;
}

struct decode_outcome {
  std::vector<message> frames;
  codec_error error = codec_error::none;
  std::size_t left = 0;
};

decode_outcome decode_stream(const byte_buffer& bytes, std::size_t chunk) {
  frame_decoder d;
  decode_outcome out;
  for (std::size_t pos = 0;; pos += chunk) {
    if (pos < bytes.size()) {
      d.feed(iotgw::byte_view(bytes).subspan(pos, std::min(chunk, bytes.size() - pos)));
    }
    message_view v;
    frame_decoder::status s;
    while ((s = d.next(v)) == frame_decoder::status::frame) out.frames.push_back(message::from_view(v));
    if (s == frame_decoder::status::error) {
      out.error = d.error();
      return out;
    }
    if (pos >= bytes.size()) break;
  }
  out.left = d.buffered();
  return out;
}

std::string canonical_name(const std::string& name) { return name.substr(0, name.find('@')); }

TEST(golden_vectors, every_row) {
  const auto rows = test_support::read_tsv(test_support::vectors_dir() + "/vectors.tsv");
  ASSERT_EQ(rows.size(), 166u) << "vectors/README.md lists 166 rows";
  std::map<std::string, std::string> hex_by_name;
  for (const auto& row : rows) hex_by_name[row.columns.at(0)] = row.columns.at(2);

  int pson_rows = 0, canonical_frames = 0, reordered_frames = 0, live_frames = 0,
      legacy_rejected = 0, legacy_values = 0, described = 0;
  for (const auto& row : rows) {
    ASSERT_EQ(row.columns.size(), 3u);
    const std::string& name = row.columns[0];
    const std::string& description = row.columns[1];
    const byte_buffer bytes = from_hex(row.columns[2]);
    SCOPED_TRACE(name);

    if (starts_with(name, "pson.")) {
      value decoded;
      auto r = iotgw::pson::decode_all(bytes, decoded);
      ASSERT_TRUE(r) << to_string(r.error);
      EXPECT_EQ(to_hex(iotgw::pson::encode(decoded)), row.columns[2]);
      const auto expected = expected_pson_values().find(name);
      ASSERT_NE(expected, expected_pson_values().end()) << "no expected value for this row";
      EXPECT_EQ(decoded, expected->second);
      EXPECT_EQ(to_hex(iotgw::pson::encode(expected->second)), row.columns[2]);
      ++pson_rows;
      continue;
    }
    if (starts_with(name, "legacy.pson.")) {
      // Bare Protoson values: we do not speak legacy PSON, and nothing frames
      // these bytes, so a current-only decoder has nothing to say about them.
      ++legacy_values;
      continue;
    }

    const auto whole = decode_stream(bytes, bytes.size());
    const auto bytewise = decode_stream(bytes, 1);
    EXPECT_EQ(whole.frames, bytewise.frames);
    EXPECT_EQ(whole.error, bytewise.error);

    if (starts_with(name, "legacy.msg.")) {
      if (name == "legacy.msg.keep_alive") {
        ASSERT_EQ(whole.frames.size(), 1u);
        EXPECT_EQ(encode(whole.frames[0]), bytes);
      } else {
        EXPECT_EQ(whole.error, codec_error::legacy_wire_type) << "wire type 1 fields are refused";
        ++legacy_rejected;
      }
      continue;
    }

    ASSERT_EQ(whole.error, codec_error::none) << to_string(whole.error);
    ASSERT_EQ(whole.frames.size(), 1u);
    EXPECT_EQ(whole.left, 0u);
    const message& m = whole.frames[0];
    ASSERT_TRUE(is_known(m.type));
    // Decoded and re-encoded, the message must decode to itself.
    const auto reencoded = encode(m);
    EXPECT_EQ(decode_stream(reencoded, reencoded.size()).frames, whole.frames);

    if (contains(name, "@linux_order")) {
      // Same message, other field order: our canonical encoding is the twin row.
      const auto twin = hex_by_name.find(canonical_name(name));
      ASSERT_NE(twin, hex_by_name.end());
      EXPECT_EQ(to_hex(reencoded), twin->second);
      ++reordered_frames;
    } else if (starts_with(name, "live.")) {
      EXPECT_EQ(reencoded.size(), bytes.size()) << "same fields, maybe in another order";
      ++live_frames;
    } else {
      ASSERT_TRUE(starts_with(name, "msg.")) << "unexpected row family";
      EXPECT_EQ(to_hex(reencoded), row.columns[2]) << "canonical rows encode byte for byte";
      ++canonical_frames;
      if (auto stated = message_from_description(description)) {
        // Some descriptions leave a field unsaid ("... resource=\"env_bucket\" (CONFLICTS...)"
        // says nothing of the payload): those rows are compared on what they state.
        message said = m;
        if (!contains(description, "payload")) said.payload = stated->payload;
        EXPECT_EQ(said, *stated) << description;
        if (said == m) {
          EXPECT_EQ(to_hex(encode(*stated)), row.columns[2]) << description;
        }
        ++described;
      }
    }
  }
  const int total = pson_rows + canonical_frames + reordered_frames + live_frames +
                    legacy_rejected + legacy_values + 1 /* legacy keep-alive */;
  EXPECT_EQ(total, static_cast<int>(rows.size()));
  EXPECT_GE(described, 50) << "descriptions parsed into expected messages";
  std::printf(
      "golden vectors: %zu rows checked: %d PSON values (encoded from independent values), "
      "%d canonical frames (encoded byte for byte, %d of them also against the fields their "
      "description states), %d IOTMP-Linux-order frames, %d live captures, %d legacy frames "
      "rejected + 1 legacy keep-alive decoded, %d legacy bare values not applicable\n",
      rows.size(), pson_rows, canonical_frames, described, reordered_frames, live_frames,
      legacy_rejected, legacy_values);
}

// What each malformed.tsv input must produce.
struct malformed_expectation {
  codec_error error;            // none: decodes (possibly to nothing yet)
  std::size_t frames;           // whole frames produced before stopping
  std::function<void(const std::vector<message>&)> check;
};

TEST(golden_vectors, malformed_inputs) {
  using m = message_type;
  const auto sid_only = [](std::uint16_t sid) {
    return [sid](const std::vector<message>& f) {
      EXPECT_EQ(f[0], (message{m::ok, sid, {}, {}, {}}));
    };
  };
  const std::map<std::string, malformed_expectation> expected = {
      {"bad.empty", {codec_error::none, 0, {}}},
      {"bad.header.size_truncated", {codec_error::none, 0, {}}},
      {"bad.header.size_too_long", {codec_error::varint_too_long, 0, {}}},
      {"bad.header.size_over_limit", {codec_error::frame_too_large, 0, {}}},
      {"bad.header.size_gt_remaining", {codec_error::none, 0, {}}},
      {"bad.type.unknown_11", {codec_error::none, 1, {}}},
      {"bad.type.unknown_127", {codec_error::none, 1, {}}},
      {"bad.type.reserved_0", {codec_error::none, 1, {}}},
      {"bad.field.wire_type_3", {codec_error::invalid_wire_type, 0, {}}},
      {"bad.field.wire_type_1_legacy", {codec_error::legacy_wire_type, 0, {}}},
      {"bad.field.key_truncated", {codec_error::truncated, 0, {}}},
      {"bad.field.varint_truncated", {codec_error::truncated, 0, {}}},
      {"bad.field.no_value", {codec_error::truncated, 0, {}}},
      {"bad.field.varint_6_bytes", {codec_error::varint_too_long, 0, {}}},
      {"bad.pson.string_overrun", {codec_error::truncated, 0, {}}},
      {"bad.pson.discrete_3", {codec_error::invalid_discrete, 0, {}}},
      {"bad.pson.float_subtype_2", {codec_error::invalid_float_subtype, 0, {}}},
      {"bad.pson.map_int_key", {codec_error::non_string_key, 0, {}}},
      {"bad.pson.map_count_overrun", {codec_error::truncated, 0, {}}},
      {"bad.pson.float_truncated", {codec_error::truncated, 0, {}}},
      {"edge.trailing_zero_byte", {codec_error::truncated, 0, {}}},
      {"edge.field_id_16", {codec_error::none, 1, sid_only(1)}},
      {"edge.duplicate_field", {codec_error::none, 1, sid_only(2)}},
      {"edge.sid_65536", {codec_error::invalid_stream_id, 0, {}}},
      {"edge.ok_empty_body",
       {codec_error::none, 1,
        [](const std::vector<message>& f) { EXPECT_EQ(f[0], (message{m::ok, {}, {}, {}, {}})); }}},
      {"edge.two_frames",
       {codec_error::none, 2,
        [](const std::vector<message>& f) {
          EXPECT_EQ(f[0].type, m::keep_alive);
          EXPECT_EQ(f[1].type, m::keep_alive);
        }}},
      {"edge.type_varint_2byte", {codec_error::invalid_message_type, 0, {}}},
  };
  const auto rows = test_support::read_tsv(test_support::vectors_dir() + "/malformed.tsv");
  ASSERT_EQ(rows.size(), 27u) << "vectors/README.md lists 27 rows";
  for (const auto& row : rows) {
    const std::string& name = row.columns.at(0);
    SCOPED_TRACE(name);
    const auto want = expected.find(name);
    ASSERT_NE(want, expected.end()) << "no expectation for this row";
    const byte_buffer bytes = from_hex(row.columns.at(1));
    for (std::size_t chunk : {std::max<std::size_t>(bytes.size(), 1), std::size_t{1}}) {
      const auto got = decode_stream(bytes, chunk);
      EXPECT_EQ(got.error, want->second.error) << to_string(got.error);
      ASSERT_EQ(got.frames.size(), want->second.frames);
      if (want->second.check) want->second.check(got.frames);
      if (got.error == codec_error::none && got.frames.empty()) {
        EXPECT_EQ(got.left, bytes.size()) << "incomplete input waits for more bytes";
      }
    }
  }
  std::printf("malformed vectors: %zu rows checked, each with its expected outcome\n", rows.size());
}

}  // namespace
