// Device resources by path, with placeholders: ":name" matches one segment,
// "*name" (last segment only) matches the rest of the path (PROTOCOL.md §9.1).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "iotmp_gateway/pson/value.hpp"
#include "iotmp_gateway/varint.hpp"

namespace iotgw::iotmp {

// What a resource takes and gives; the number is DESCRIBE's "fn".
enum class resource_io : std::uint8_t { none = 1, input = 2, output = 3, input_output = 4 };

constexpr bool takes_input(resource_io io) noexcept {
  return io == resource_io::input || io == resource_io::input_output;
}
constexpr bool gives_output(resource_io io) noexcept {
  return io == resource_io::output || io == resource_io::input_output;
}

using captures = std::vector<std::pair<std::string, std::string>>;

// One invocation: the concrete path asked for and what the placeholders took.
struct resource_call {
  std::string_view path;
  const captures& placeholders;
  const pson::value* input = nullptr;       // PAYLOAD of the RUN, if any
  const pson::value* parameters = nullptr;  // PARAMETERS of the RUN, if any
};

class device_session;

// Answers one RUN, now or later. Answers for a connection that has since closed,
// and for RUNs that carried no stream id (§9.1: no answer), go nowhere.
class reply {
 public:
  reply() = default;
  void ok(std::optional<pson::value> payload = std::nullopt) const;
  void error(std::string_view message) const;
  bool expects_answer() const noexcept { return session_ != nullptr && stream_id_.has_value(); }

 private:
  friend class device_session;
  reply(device_session* s, std::uint64_t epoch, std::optional<std::uint16_t> sid)
      : session_(s), epoch_(epoch), stream_id_(sid) {}
  device_session* session_ = nullptr;
  std::uint64_t epoch_ = 0;
  std::optional<std::uint16_t> stream_id_;
};

// A device resource. Implemented by the bridge (topic maps, $gateway).
class resource {
 public:
  virtual ~resource() = default;
  virtual resource_io io() const = 0;
  // RUN: answer through r, now or later (r.ok / r.error).
  virtual void run(const resource_call& call, reply r) = 0;
  // The latest value for streams and DESCRIBE; nothing if none is known yet.
  virtual std::optional<pson::value> sample(const resource_call& call) = 0;
  // Appends the latest value as PSON; false (out untouched) if none. Streams call
  // this; a resource that keeps values encoded can skip building a value.
  virtual bool append_sample(const resource_call& call, byte_buffer& out);
  // An example of accepted input for DESCRIBE's "in".
  virtual pson::value example_input() const { return {}; }
};

// Splits a pattern once; matching a path allocates only for captured values.
class resource_pattern {
 public:
  // nullopt when the pattern is malformed ("*x" not last, empty name, empty segment).
  static std::optional<resource_pattern> parse(std::string_view text);
  bool match(std::string_view path, captures& out) const;
  bool has_placeholders() const noexcept { return placeholders_; }
  const std::string& text() const noexcept { return text_; }

 private:
  std::string text_;
  std::vector<std::string> segments_;
  bool placeholders_ = false;
};

class resource_registry {
 public:
  struct match_result {
    resource* target;
    captures placeholders;
  };

  // Adds or replaces. False if the pattern is malformed.
  bool add(std::string_view pattern, std::shared_ptr<resource> r);
  bool remove(std::string_view pattern);
  void clear();

  // Exact names win over patterns; among patterns the first added wins.
  std::optional<match_result> find(std::string_view path) const;

  // (pattern, io) for DESCRIBE, in pattern order.
  std::vector<std::pair<std::string, resource_io>> listing() const;
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct entry {
    resource_pattern pattern;
    std::shared_ptr<resource> target;
  };
  std::vector<entry> entries_;  // insertion order
  std::unordered_map<std::string, std::size_t> exact_;  // name -> index in entries_
  void reindex();
};

}  // namespace iotgw::iotmp
