// Readable GoogleTest output for codec types.
#pragma once

#include <ostream>

#include "iotmp_gateway/iotmp/message.hpp"
#include "iotmp_gateway/pson/json.hpp"

namespace iotgw::pson {
inline void PrintTo(const value& v, std::ostream* os) { *os << to_json(v); }
}  // namespace iotgw::pson

namespace iotgw::iotmp {
inline void PrintTo(const message& m, std::ostream* os) { *os << m.describe(); }
}  // namespace iotgw::iotmp
