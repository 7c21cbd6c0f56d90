// The one threading interface of qkv (OpenMP underneath).
//
// Work is split statically and deterministically: the same thread count gives the same
// partition, so results are reproducible bit for bit. Nested calls run serially.
#pragma once

#include <cstdint>
#include <functional>

namespace qkv {

// At most this many threads: far more than any CPU qkv runs on, far fewer than the counts that
// crash OpenMP's and oneDNN's thread pools (100000 segfaults inside libgomp).
inline constexpr int kMaxThreads = 1024;

// Threads used by parallel regions. Defaults to QKV_NUM_THREADS, else the number of cores.
// Throws qkv::Error naming QKV_NUM_THREADS when it is not an integer in [1, kMaxThreads] (until
// set_num_threads replaces it).
int num_threads();
// Throws qkv::Error unless 1 <= n <= kMaxThreads.
void set_num_threads(int64_t n);

// Calls fn(begin, end) on disjoint chunks covering [0, n). Chunks are at least `grain` long.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

// Calls fn(worker, workers) once on each of `workers` threads (workers <= num_threads()).
// Use the worker index to pick per-thread scratch.
void parallel_workers(int workers, const std::function<void(int worker, int workers)>& fn);

// True inside a parallel region (so callees can stay serial).
bool in_parallel_region();

}  // namespace qkv
