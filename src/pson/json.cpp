#include "iotmp_gateway/pson/json.hpp"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "iotmp_gateway/codec_error.hpp"
#include "iotmp_gateway/utf8.hpp"

namespace iotgw::pson {

namespace {

// SAX handler that builds a pson::value with an explicit stack.
class value_builder {
 public:
  using number_integer_t = nlohmann::json::number_integer_t;
  using number_unsigned_t = nlohmann::json::number_unsigned_t;
  using number_float_t = nlohmann::json::number_float_t;
  using string_t = nlohmann::json::string_t;
  using binary_t = nlohmann::json::binary_t;

  value_builder() { stack_.reserve(8); }

  bool null() { return put(value(nullptr)); }
  bool boolean(bool b) { return put(value(b)); }
  bool number_integer(number_integer_t n) { return put(value(n)); }
  bool number_unsigned(number_unsigned_t n) { return put(value(n)); }
  bool number_float(number_float_t d, const string_t&) { return put(value(d)); }
  bool string(string_t& s) { return put(value(std::move(s))); }
  bool binary(binary_t& b) { return put(value(as_bytes, bytes(b.begin(), b.end()))); }

  bool start_object(std::size_t) { return open(true); }
  bool key(string_t& k) {
    stack_.back().members.emplace_back(std::move(k), value{});
    return true;
  }
  bool end_object() {
    frame f = std::move(stack_.back());
    stack_.pop_back();
    return put(value(object::from_members(std::move(f.members))));
  }
  bool start_array(std::size_t) { return open(false); }
  bool end_array() {
    frame f = std::move(stack_.back());
    stack_.pop_back();
    return put(value(std::move(f.elements)));
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    error_ = json_error{position == 0 ? 0 : position - 1, e.what()};
    return false;
  }

  std::optional<json_error>& error() { return error_; }
  value& result() { return result_; }

 private:
  struct frame {
    bool is_object;
    array elements;
    std::vector<object::member> members;
  };

  bool open(bool is_object) {
    if (stack_.size() >= max_nesting_depth) {
      error_ = json_error{0, std::string(to_string(codec_error::nesting_too_deep))};
      return false;
    }
    stack_.push_back(frame{is_object, {}, {}});
    // Sensor payloads are small objects: one allocation instead of four regrowths.
    if (is_object) {
      stack_.back().members.reserve(8);
    } else {
      stack_.back().elements.reserve(8);
    }
    return true;
  }

  bool put(value v) {
    if (stack_.empty()) {
      result_ = std::move(v);
    } else if (stack_.back().is_object) {
      stack_.back().members.back().second = std::move(v);
    } else {
      stack_.back().elements.push_back(std::move(v));
    }
    return true;
  }

  std::vector<frame> stack_;
  value result_;
  std::optional<json_error> error_;
};

void append_number(auto n, std::string& out) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

void append_double(double d, std::string& out) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  append_number(d, out);  // shortest text that reads back as the same double
}

void append_string(std::string_view s, std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t len = utf8_sequence_length(s, i);
      if (len == 0) {
        out += "\xef\xbf\xbd";  // U+FFFD REPLACEMENT CHARACTER
        ++i;
      } else {
        out.append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
}

void append_base64(const bytes& b, std::string& out) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out.push_back('"');
  std::size_t i = 0;
  for (; i + 3 <= b.size(); i += 3) {
    const std::uint32_t n = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    out.push_back(alphabet[(n >> 6) & 63]);
    out.push_back(alphabet[n & 63]);
  }
  if (const std::size_t rest = b.size() - i; rest > 0) {
    const std::uint32_t n = (b[i] << 16) | (rest == 2 ? b[i + 1] << 8 : 0);
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? alphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  out.push_back('"');
}

}  // namespace

std::optional<json_error> parse_json(std::string_view text, value& out) {
  value_builder builder;
  const bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &builder,
                                            nlohmann::json::input_format_t::json, true);
  if (!ok) {
    if (builder.error()) return std::move(builder.error());
    return json_error{0, std::string(to_string(codec_error::invalid_json))};
  }
  out = std::move(builder.result());
  return std::nullopt;
}

void append_json(const value& v, std::string& out) {
  switch (v.type()) {
    case kind::null: out += "null"; break;
    case kind::boolean: out += v.as_bool() ? "true" : "false"; break;
    case kind::unsigned_integer: append_number(v.as_unsigned(), out); break;
    case kind::signed_integer: append_number(v.as_signed(), out); break;
    case kind::floating: append_double(v.as_double(), out); break;
    case kind::string: append_string(v.as_string(), out); break;
    case kind::bytes: append_base64(v.as_bytes(), out); break;
    case kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& element : v.as_array()) {
        if (!first) out.push_back(',');
        first = false;
        append_json(element, out);
      }
      out.push_back(']');
      break;
    }
    case kind::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [key, member] : v.as_object()) {
        if (!first) out.push_back(',');
        first = false;
        append_string(key, out);
        out.push_back(':');
        append_json(member, out);
      }
      out.push_back('}');
      break;
    }
  }
}

std::string to_json(const value& v) {
  std::string out;
  append_json(v, out);
  return out;
}

}  // namespace iotgw::pson
