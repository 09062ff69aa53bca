// Who may connect to iotmp-devserver: the users file given with --users.
//
// Format, one device per line:
//
//   # comment (a line whose first non-blank character is '#')
//   username  device     credential
//   alice     gateway01  s3cret
//   alice     *          shared-secret     <- any device of alice with this credential
//
// Fields are separated by spaces or tabs; none of them may contain white space,
// so a credential with spaces cannot be written (nor can a trailing comment:
// '#' is an ordinary character inside a field). Blank lines are ignored, CRLF
// line ends are accepted. A device of `*` matches every device of that user;
// an exact entry for the device wins over it. The same username and device
// twice is an error (at the second line).
#pragma once

#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace iotgw::devserver {

// A users file that cannot be read or parsed: "FILE:LINE: message" or
// "FILE: message". Never carries a credential.
class users_file_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class credential_store {
 public:
  // Throws users_file_error.
  static credential_store load(const std::string& path);
  // `name` is what error messages call the text (a file name).
  static credential_store parse(std::string_view text, std::string_view name = "users");

  // False when the user/device pair is already there.
  bool add(std::string user, std::string device, std::string credential);
  // Compares in time independent of where the credentials differ.
  bool check(std::string_view user, std::string_view device, std::string_view credential) const;
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  std::map<std::pair<std::string, std::string>, std::string> entries_;
};

}  // namespace iotgw::devserver
