#include "qkv/core/parallel.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "qkv/core/error.h"
#include "qkv/core/parse.h"

namespace qkv {
namespace {

struct ThreadSetting {
  int n = 1;
  std::string env_error;  // why QKV_NUM_THREADS was refused; thrown by num_threads()
};

ThreadSetting initial_setting() {
  ThreadSetting s;
  s.n = static_cast<int>(std::clamp<unsigned>(std::thread::hardware_concurrency(), 1u, kMaxThreads));
  if (const char* env = std::getenv("QKV_NUM_THREADS"); env && *env) {
    auto v = parse_int64(env);
    if (v && *v >= 1 && *v <= kMaxThreads)
      s.n = static_cast<int>(*v);
    else
      s.env_error = str("environment variable QKV_NUM_THREADS is '", env, "'; expected an integer in [1, ",
                        kMaxThreads, "]");
  }
  return s;
}

// OpenMP's own count follows ours, so oneDNN's regions use the same number of threads.
ThreadSetting& thread_setting() {
  static ThreadSetting s = [] {
    ThreadSetting v = initial_setting();
    omp_set_num_threads(v.n);
    return v;
  }();
  return s;
}

// Applies QKV_NUM_THREADS when the library loads, before any oneDNN call.
[[maybe_unused]] const int applied_at_load = thread_setting().n;

}  // namespace

int num_threads() {
  const ThreadSetting& s = thread_setting();
  if (!s.env_error.empty()) throw Error(s.env_error);
  return s.n;
}

void set_num_threads(int64_t n) {
  QKV_CHECK(n >= 1 && n <= kMaxThreads, "set_num_threads: argument 'n' is ", n, "; expected an integer in [1, ",
            kMaxThreads, "]");
  ThreadSetting& s = thread_setting();
  s.n = static_cast<int>(n);
  s.env_error.clear();
  omp_set_num_threads(s.n);  // oneDNN sizes its own parallel regions from this
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
