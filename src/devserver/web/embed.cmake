# cmake -DINPUT=page.html -DOUTPUT=http_page.cpp -P embed.cmake
# Writes a C++ file defining iotgw::devserver::http_page() as the bytes of
# INPUT. Hex bytes, not a raw string literal: the page may hold any sequence.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
file(WRITE "${OUTPUT}.tmp" "// Generated from ${INPUT} by embed.cmake: do not edit.
#include \"iotmp_gateway/devserver/http_page.hpp\"

namespace iotgw::devserver {

namespace {
constexpr char page[] = {
${bytes}
'\\0'};
}  // namespace

std::string_view http_page() noexcept {
  return {page, ${size}};
}

}  // namespace iotgw::devserver
")
# Only a changed page rebuilds the library.
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
