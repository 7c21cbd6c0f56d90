// Raw storage for tensors: 64-byte aligned, uninitialised, freed with std::free.
//
// Buffers of 1 MiB and more are aligned to 2 MiB and asked for as transparent huge pages
// (madvise(MADV_HUGEPAGE) on Linux): on the virtual machines qkv runs on, the first touch of a
// fresh 4 KiB page costs tens of microseconds (zero-filling a new 32 MiB buffer took 570 ms in
// 4 KiB pages and 34 ms in 2 MiB pages, measured on the 2-core CI machine), and the decoder's
// caches, the encoder's activations and every change of batch shape start from fresh pages.
#pragma once

#include <cstddef>

namespace qkv {

// At least `bytes` bytes (rounded up to 64, or to 2 MiB for large buffers). Throws std::bad_alloc.
void* allocate_buffer(size_t bytes);

}  // namespace qkv
