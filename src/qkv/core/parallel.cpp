#include "qkv/core/parallel.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "qkv/core/error.h"

namespace qkv {
namespace {

int default_threads() {
  if (const char* env = std::getenv("QKV_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

// OpenMP's own count follows ours, so oneDNN's regions use the same number of threads.
int& thread_setting() {
  static int n = [] {
    int v = default_threads();
    omp_set_num_threads(v);
    return v;
  }();
  return n;
}

// Applies QKV_NUM_THREADS when the library loads, before any oneDNN call.
[[maybe_unused]] const int applied_at_load = thread_setting();

}  // namespace

int num_threads() { return thread_setting(); }

void set_num_threads(int n) {
  QKV_CHECK(n >= 1, "set_num_threads: argument 'n' is ", n, "; expected at least 1");
  thread_setting() = n;
  omp_set_num_threads(n);  // oneDNN sizes its own parallel regions from this
}

bool in_parallel_region() { return omp_in_parallel() != 0; }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t max_chunks = (n + grain - 1) / grain;
  int workers = static_cast<int>(std::min<int64_t>(num_threads(), max_chunks));
  if (workers <= 1 || in_parallel_region()) {
    fn(0, n);
    return;
  }
#pragma omp parallel num_threads(workers)
  {
    int w = omp_get_thread_num();
    int64_t begin = n * w / workers;
    int64_t end = n * (w + 1) / workers;
    if (begin < end) fn(begin, end);
  }
}

void parallel_workers(int workers, const std::function<void(int, int)>& fn) {
  workers = std::max(1, std::min(workers, num_threads()));
  if (workers == 1 || in_parallel_region()) {
    for (int w = 0; w < workers; ++w) fn(w, workers);
    return;
  }
#pragma omp parallel num_threads(workers)
  { fn(omp_get_thread_num(), workers); }
}

}  // namespace qkv
