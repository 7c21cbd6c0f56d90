// The fuzzer's bytes as a file the readers open by path: an in-memory file (memfd) reached
// through /proc/self/fd, rewritten for every input, so fuzzing never touches the disk.
// A qkv::Error (every reader's documented way to refuse a file) ends an input quietly; anything
// else escapes and libFuzzer reports it, as it reports ASan/UBSan findings, leaks, and memory
// past -rss_limit_mb / -malloc_limit_mb.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "qkv/core/error.h"

namespace qkv::fuzz {

inline std::string as_file(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("qkv-fuzz-input", 0);
  if (fd < 0) std::abort();
  if (ftruncate(fd, 0) != 0) std::abort();
  size_t done = 0;
  while (done < size) {
    ssize_t w = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (w <= 0) std::abort();
    done += static_cast<size_t>(w);
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

template <typename F>
void refusing_is_fine(F&& f) {
  try {
    f();
  } catch (const qkv::Error&) {
  }
}

}  // namespace qkv::fuzz
