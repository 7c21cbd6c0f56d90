#include "qkv/core/buffer.h"

#include <cstdlib>
#include <new>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace qkv {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugeFrom = size_t{1} << 20;

size_t round_up(size_t bytes, size_t to) { return (bytes + to - 1) / to * to; }

}  // namespace

void* allocate_buffer(size_t bytes) {
  const bool huge = bytes >= kHugeFrom;
  const size_t align = huge ? kHugePage : 64;
  const size_t size = round_up(bytes == 0 ? 1 : bytes, align);
  void* p = std::aligned_alloc(align, size);
  if (!p) throw std::bad_alloc();
#ifdef __linux__
  if (huge) madvise(p, size, MADV_HUGEPAGE);  // a hint: without huge pages the buffer still works
#endif
  return p;
}

}  // namespace qkv
