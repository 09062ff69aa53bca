// Reading the cloud credential and the MQTT password from their files (SPEC §3).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace iotgw::config {

// Reads a secret into `out`: a regular file, not readable by group or others,
// at most 64 KiB, one trailing "\n" or "\r\n" dropped, not empty. On failure
// returns the problem, worded with `what` ("credential", "MQTT password") and
// never quoting the content; `out` is then left empty.
std::optional<std::string> read_secret_file(const std::string& path, std::string_view what,
                                            std::string& out);

}  // namespace iotgw::config
