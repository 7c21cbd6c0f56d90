#include "qkv/io/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "qkv/core/error.h"

namespace qkv::io {
namespace {

[[noreturn]] void fail_file(const std::string& what, const std::string& path, const std::string& problem) {
  throw FileError(str(what, " '", printable_path(path), "': ", problem));
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

InputFile::InputFile(InputFile&& other) noexcept : fd_(other.fd_), size_(other.size_) { other.fd_ = -1; }

InputFile& InputFile::operator=(InputFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    size_ = other.size_;
    other.fd_ = -1;
  }
  return *this;
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

int InputFile::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

std::string printable_path(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '\0')
      out += "\\0";
    else
      out += c;
  }
  return out;
}

InputFile open_input_file(const std::string& path, const std::string& what) {
  if (path.empty()) fail_file(what, path, "the path is empty");
  if (auto nul = path.find('\0'); nul != std::string::npos)
    fail_file(what, path, str("the path holds a NUL byte at position ", nul));
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int e = errno;
    fail_file(what, path, e == ENOENT ? std::string("not found") : str("cannot be opened: ", std::strerror(e)));
  }
  InputFile file(fd, 0);
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_file(what, path, str("cannot be examined: ", std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) fail_file(what, path, str("is ", kind_of(st.st_mode), "; expected a regular file"));
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0)
    fail_file(what, path, str("cannot be switched to blocking reads: ", std::strerror(errno)));
  return InputFile(file.release(), static_cast<int64_t>(st.st_size));
}

bool read_exact(int fd, void* data, size_t n, const std::string& path, const std::string& what) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail_file(what, path, str("read failed: ", std::strerror(errno)));
    }
    if (r == 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

std::vector<uint8_t> read_input_file(const std::string& path, const std::string& what, int64_t max_bytes) {
  InputFile file = open_input_file(path, what);
  if (file.size() > max_bytes)
    fail_file(what, path, str("is ", file.size(), " bytes; the limit is ", max_bytes, " bytes"));
  std::vector<uint8_t> bytes(static_cast<size_t>(file.size()));
  if (!read_exact(file.fd(), bytes.data(), bytes.size(), path, what))
    fail_file(what, path, "shrank while being read");
  return bytes;
}

}  // namespace qkv::io
