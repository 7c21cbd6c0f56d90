// Opening a file named by a user, the one way every reader does it (safetensors, IDX, PNG,
// embeddings, fonts), so that each rejects the same hostile paths with the same messages:
//   a NUL byte inside the path (C APIs would silently open the shorter path),
//   a missing or unreadable file,
//   anything but a regular file: a directory, a FIFO (reading it would block forever), a
//   device or a socket.
// The file is opened non-blocking, checked with fstat on the open descriptor (no race between
// the check and the open), then switched back to blocking reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qkv::io {

class InputFile {
 public:
  InputFile() = default;
  InputFile(int fd, int64_t size) : fd_(fd), size_(size) {}
  InputFile(InputFile&& other) noexcept;
  InputFile& operator=(InputFile&& other) noexcept;
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile();

  int fd() const { return fd_; }
  int64_t size() const { return size_; }  // bytes, from fstat at open time
  // Hands the descriptor over (to fdopen, gzdopen): this object no longer closes it.
  int release();

 private:
  int fd_ = -1;
  int64_t size_ = 0;
};

// Throws qkv::FileError "<what> '<path>': <problem>" (e.g. "PNG file 'x.png': is a FIFO;
// expected a regular file").
InputFile open_input_file(const std::string& path, const std::string& what);

// The whole file; FileError when it holds more than max_bytes (the message names the limit).
std::vector<uint8_t> read_input_file(const std::string& path, const std::string& what, int64_t max_bytes);

// Reads exactly n bytes at the current position; false at a short read (end of file).
bool read_exact(int fd, void* data, size_t n, const std::string& path, const std::string& what);

// The path as printed in messages: a NUL byte shows as \0.
std::string printable_path(const std::string& path);

}  // namespace qkv::io
