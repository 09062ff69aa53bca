#include "config/secret_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace iotgw::config {

namespace {

// A secret is a token or a password; anything larger is the wrong file.
constexpr off_t max_secret_bytes = 64 * 1024;

class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

std::string errno_text(int e) {
  return std::error_code(e, std::generic_category()).message();
}

}  // namespace

std::optional<std::string> read_secret_file(const std::string& path, std::string_view what,
                                            std::string& out) {
  out.clear();
  const std::string file = std::string(what) + " file";
  // O_NONBLOCK: a FIFO put in its place must not hang --check; it is refused below.
  fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return "cannot read the " + file + ": " + errno_text(errno);
  // fstat on the open file, not stat on the path: what we check is what we read.
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return "cannot read the " + file + ": " + errno_text(errno);
  if (!S_ISREG(st.st_mode)) return "the " + file + " is not a regular file";
  if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return "refusing the " + file + ": it is readable by group or others (mode " + mode +
           "); make it private with chmod 600";
  }
  if (st.st_size > max_secret_bytes) return "the " + file + " is larger than 64 KiB";
  std::string content;
  content.resize(static_cast<std::size_t>(max_secret_bytes) + 1);
  std::size_t got = 0;
  while (got < content.size()) {
    const auto n = ::read(fd.get(), content.data() + got, content.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return "cannot read the " + file + ": " + errno_text(errno);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > static_cast<std::size_t>(max_secret_bytes)) {
    return "the " + file + " is larger than 64 KiB";
  }
  content.resize(got);
  if (content.ends_with("\r\n")) {
    content.resize(content.size() - 2);
  } else if (content.ends_with('\n')) {
    content.pop_back();
  }
  if (content.empty()) return "the " + file + " is empty";
  out = std::move(content);
  return std::nullopt;
}

}  // namespace iotgw::config
