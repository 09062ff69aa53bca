#include "iotmp_gateway/devserver/users.hpp"

#include <fstream>
#include <sstream>
#include <vector>

namespace iotgw::devserver {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_blank(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !is_blank(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// Equal length is not secret; the contents are.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

credential_store credential_store::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw users_file_error(path + ": cannot read the users file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw users_file_error(path + ": cannot read the users file");
  return parse(text.str(), path);
}

credential_store credential_store::parse(std::string_view text, std::string_view name) {
  credential_store store;
  std::size_t line_no = 0;
  auto fail = [&](const std::string& message) {
    throw users_file_error(std::string(name) + ":" + std::to_string(line_no) + ": " + message);
  };
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    const auto fields = split_fields(line);
    if (fields.empty() || fields[0].front() == '#') continue;
    if (fields.size() != 3) {
      fail("expected `username device credential`, found " + std::to_string(fields.size()) +
           (fields.size() == 1 ? " field" : " fields"));
    }
    if (fields[0] == "*") fail("the username cannot be `*`");
    if (!store.add(std::string(fields[0]), std::string(fields[1]), std::string(fields[2]))) {
      fail("duplicate entry for " + std::string(fields[0]) + "/" + std::string(fields[1]));
    }
  }
  return store;
}

bool credential_store::add(std::string user, std::string device, std::string credential) {
  return entries_.try_emplace({std::move(user), std::move(device)}, std::move(credential)).second;
}

bool credential_store::check(std::string_view user, std::string_view device,
                             std::string_view credential) const {
  auto it = entries_.find({std::string(user), std::string(device)});
  if (it == entries_.end()) it = entries_.find({std::string(user), "*"});
  return it != entries_.end() && same_secret(it->second, credential);
}

}  // namespace iotgw::devserver
