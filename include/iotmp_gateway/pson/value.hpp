// A PSON value: the JSON data model plus binary strings, with integers over the
// full signed and unsigned 64-bit range. Objects keep their keys sorted and
// unique, as the reference encoder emits them (PROTOCOL.md §5.1).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace iotgw::pson {

class value;

using bytes = std::vector<std::uint8_t>;
using array = std::vector<value>;

// Map with unique keys in byte-wise ascending order.
class object {
 public:
  using member = std::pair<std::string, value>;
  using const_iterator = std::vector<member>::const_iterator;

  object() = default;
  object(std::initializer_list<member> members);
  // Takes members in any order; on duplicate keys the last one wins (as the
  // reference decoders do when they assign into a JSON object).
  static object from_members(std::vector<member> members);

  const value* find(std::string_view key) const noexcept;
  value* find(std::string_view key) noexcept;
  value& operator[](std::string_view key);  // inserts null when absent
  void insert_or_assign(std::string key, value v);
  bool erase(std::string_view key);

  // Defined after value: the members' type must be complete first.
  std::size_t size() const noexcept;
  bool empty() const noexcept;
  const_iterator begin() const noexcept;
  const_iterator end() const noexcept;

  friend bool operator==(const object& a, const object& b);

 private:
  std::vector<member>::iterator lower_bound(std::string_view key);
  std::vector<member> members_;
};

enum class kind : std::uint8_t {
  null,
  boolean,
  unsigned_integer,  // any uint64
  signed_integer,    // any int64 (a non-negative one encodes like an unsigned)
  floating,
  string,
  bytes,
  array,
  object,
};

struct bytes_tag {};
inline constexpr bytes_tag as_bytes{};

class value {
 public:
  value() noexcept = default;
  value(std::nullptr_t) noexcept {}
  value(bool b) noexcept : data_(b) {}
  template <std::unsigned_integral T>
    requires(!std::same_as<T, bool>)
  value(T n) noexcept : data_(static_cast<std::uint64_t>(n)) {}
  template <std::signed_integral T>
  value(T n) noexcept : data_(static_cast<std::int64_t>(n)) {}
  template <std::floating_point T>
  value(T d) noexcept : data_(static_cast<double>(d)) {}
  value(const char* s) : data_(std::string(s)) {}
  value(std::string s) noexcept : data_(std::move(s)) {}
  value(std::string_view s) : data_(std::string(s)) {}
  value(bytes_tag, bytes b) noexcept : data_(std::move(b)) {}
  value(array a) noexcept : data_(std::move(a)) {}
  value(object o) noexcept : data_(std::move(o)) {}

  kind type() const noexcept { return static_cast<kind>(data_.index()); }
  bool is_null() const noexcept { return type() == kind::null; }
  bool is_bool() const noexcept { return type() == kind::boolean; }
  bool is_number() const noexcept;
  bool is_integer() const noexcept;
  bool is_string() const noexcept { return type() == kind::string; }
  bool is_bytes() const noexcept { return type() == kind::bytes; }
  bool is_array() const noexcept { return type() == kind::array; }
  bool is_object() const noexcept { return type() == kind::object; }

  bool as_bool() const { return std::get<bool>(data_); }
  std::uint64_t as_unsigned() const { return std::get<std::uint64_t>(data_); }
  std::int64_t as_signed() const { return std::get<std::int64_t>(data_); }
  double as_double() const { return std::get<double>(data_); }
  const std::string& as_string() const { return std::get<std::string>(data_); }
  const bytes& as_bytes() const { return std::get<bytes>(data_); }
  const array& as_array() const { return std::get<array>(data_); }
  array& as_array() { return std::get<array>(data_); }
  const object& as_object() const { return std::get<object>(data_); }
  object& as_object() { return std::get<object>(data_); }

  // Any number as a double (integers may round).
  double to_double() const;
  // The number when it is integral and fits, whatever kind holds it.
  bool get_unsigned(std::uint64_t& out) const noexcept;
  bool get_signed(std::int64_t& out) const noexcept;

  // Member lookup on objects; nullptr for other kinds or a missing key.
  const value* find(std::string_view key) const noexcept;

  // Equal when they carry the same data: numbers compare by numeric value across
  // kinds (the wire turns a double 3.0 into the integer 3), NaN equals NaN.
  friend bool operator==(const value& a, const value& b);

 private:
  std::variant<std::monostate, bool, std::uint64_t, std::int64_t, double, std::string, bytes,
               array, object>
      data_;
};

inline std::size_t object::size() const noexcept { return members_.size(); }
inline bool object::empty() const noexcept { return members_.empty(); }
inline object::const_iterator object::begin() const noexcept { return members_.begin(); }
inline object::const_iterator object::end() const noexcept { return members_.end(); }

}  // namespace iotgw::pson
