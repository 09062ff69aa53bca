// The devserver's web page (src/devserver/web/index.html), embedded into the
// program at build time: the devserver serves it with no files to install.
#pragma once

#include <string_view>

namespace iotgw::devserver {

std::string_view http_page() noexcept;

}  // namespace iotgw::devserver
