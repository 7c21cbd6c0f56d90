#include "qkv/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "qkv/core/error.h"

namespace qkv::io {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw FileError(str("'", path, "': ", what, ": ", std::strerror(errno)));
}

void write_all(int fd, std::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(path, "write failed");
    done += static_cast<size_t>(n);
  }
}

void sync_directory_of(const std::string& path) {
  const std::filesystem::path p(path);
  const std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

std::string temp_path_for(const std::string& path, long pid) { return path + ".tmp." + std::to_string(pid); }

void write_file_atomically(const std::string& path, const std::vector<std::string_view>& pieces) {
  const std::string tmp = temp_path_for(path, static_cast<long>(::getpid()));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(tmp, "cannot create temporary file");
  try {
    for (std::string_view piece : pieces) write_all(fd, piece, tmp);
    if (::fsync(fd) != 0) fail(tmp, "fsync failed");
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    errno = e;
    fail(path, "rename failed");
  }
  sync_directory_of(path);
}

void write_file_atomically(const std::string& path, const std::string& content) {
  write_file_atomically(path, std::vector<std::string_view>{content});
}

void append_line_durably(const std::string& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "cannot open for appending");
  try {
    write_all(fd, line + "\n", path);
    if (::fsync(fd) != 0) fail(path, "fsync failed");
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

}  // namespace qkv::io
