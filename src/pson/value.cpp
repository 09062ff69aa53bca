#include "iotmp_gateway/pson/value.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace iotgw::pson {

namespace {

bool key_less(const object::member& m, std::string_view key) { return m.first < key; }

}  // namespace

object::object(std::initializer_list<member> members)
    : object(from_members(std::vector<member>(members))) {}

object object::from_members(std::vector<member> members) {
  const auto by_key = [](const member& a, const member& b) { return a.first < b.first; };
  // A stable sort keeps input order among equal keys, so the last of each run is
  // the last one given. Small objects (the usual sensor payload) are sorted by
  // insertion in place: stable, and without the temporary buffer of stable_sort.
  if (members.size() <= 16) {
    for (std::size_t i = 1; i < members.size(); ++i) {
      for (std::size_t j = i; j > 0 && by_key(members[j], members[j - 1]); --j) {
        std::swap(members[j], members[j - 1]);
      }
    }
  } else {
    std::stable_sort(members.begin(), members.end(), by_key);
  }
  // Keep the last member of each run of equal keys.
  std::size_t kept = 0;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (kept > 0 && members[kept - 1].first == members[i].first) {
      members[kept - 1].second = std::move(members[i].second);
    } else {
      if (kept != i) members[kept] = std::move(members[i]);
      ++kept;
    }
  }
  members.resize(kept);
  object result;
  result.members_ = std::move(members);
  return result;
}

std::vector<object::member>::iterator object::lower_bound(std::string_view key) {
  return std::lower_bound(members_.begin(), members_.end(), key, key_less);
}

const value* object::find(std::string_view key) const noexcept {
  auto it = std::lower_bound(members_.begin(), members_.end(), key, key_less);
  return it != members_.end() && it->first == key ? &it->second : nullptr;
}

value* object::find(std::string_view key) noexcept {
  auto it = lower_bound(key);
  return it != members_.end() && it->first == key ? &it->second : nullptr;
}

value& object::operator[](std::string_view key) {
  auto it = lower_bound(key);
  if (it == members_.end() || it->first != key) {
    it = members_.emplace(it, std::string(key), value{});
  }
  return it->second;
}

void object::insert_or_assign(std::string key, value v) {
  auto it = lower_bound(key);
  if (it != members_.end() && it->first == key) {
    it->second = std::move(v);
  } else {
    members_.emplace(it, std::move(key), std::move(v));
  }
}

bool object::erase(std::string_view key) {
  auto it = lower_bound(key);
  if (it == members_.end() || it->first != key) return false;
  members_.erase(it);
  return true;
}

bool operator==(const object& a, const object& b) { return a.members_ == b.members_; }

bool value::is_number() const noexcept {
  const kind k = type();
  return k == kind::unsigned_integer || k == kind::signed_integer || k == kind::floating;
}

bool value::is_integer() const noexcept {
  const kind k = type();
  return k == kind::unsigned_integer || k == kind::signed_integer;
}

double value::to_double() const {
  switch (type()) {
    case kind::unsigned_integer: return static_cast<double>(as_unsigned());
    case kind::signed_integer: return static_cast<double>(as_signed());
    case kind::floating: return as_double();
    default: return 0.0;
  }
}

bool value::get_unsigned(std::uint64_t& out) const noexcept {
  switch (type()) {
    case kind::unsigned_integer: out = std::get<std::uint64_t>(data_); return true;
    case kind::signed_integer: {
      const auto n = std::get<std::int64_t>(data_);
      if (n < 0) return false;
      out = static_cast<std::uint64_t>(n);
      return true;
    }
    case kind::floating: {
      const double d = std::get<double>(data_);
      // 2^64 is exactly representable; anything below it that is whole fits.
      if (!(d >= 0.0 && d < 18446744073709551616.0) || std::trunc(d) != d) return false;
      out = static_cast<std::uint64_t>(d);
      return true;
    }
    default: return false;
  }
}

bool value::get_signed(std::int64_t& out) const noexcept {
  switch (type()) {
    case kind::signed_integer: out = std::get<std::int64_t>(data_); return true;
    case kind::unsigned_integer: {
      const auto n = std::get<std::uint64_t>(data_);
      if (n > static_cast<std::uint64_t>(INT64_MAX)) return false;
      out = static_cast<std::int64_t>(n);
      return true;
    }
    case kind::floating: {
      const double d = std::get<double>(data_);
      if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || std::trunc(d) != d) {
        return false;
      }
      out = static_cast<std::int64_t>(d);
      return true;
    }
    default: return false;
  }
}

const value* value::find(std::string_view key) const noexcept {
  return is_object() ? as_object().find(key) : nullptr;
}

namespace {

bool same_number(const value& a, const value& b) {
  if (a.type() == kind::floating && b.type() == kind::floating) {
    const double x = a.as_double();
    const double y = b.as_double();
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
    return x == y;
  }
  if (a.type() == kind::floating || b.type() == kind::floating) {
    const value& f = a.type() == kind::floating ? a : b;
    const value& i = a.type() == kind::floating ? b : a;
    std::int64_t fs = 0;
    std::uint64_t fu = 0;
    if (std::int64_t is = 0; i.get_signed(is)) return f.get_signed(fs) && fs == is;
    return f.get_unsigned(fu) && fu == i.as_unsigned();
  }
  std::int64_t sa = 0;
  std::int64_t sb = 0;
  const bool a_signed = a.get_signed(sa);
  const bool b_signed = b.get_signed(sb);
  if (a_signed && b_signed) return sa == sb;
  if (a_signed || b_signed) return false;  // one fits int64, the other is above it
  return a.as_unsigned() == b.as_unsigned();
}

}  // namespace

bool operator==(const value& a, const value& b) {
  if (a.is_number() && b.is_number()) return same_number(a, b);
  return a.data_ == b.data_;
}

}  // namespace iotgw::pson
