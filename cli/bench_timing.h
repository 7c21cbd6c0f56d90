// Timing and inputs shared by `qkv bench attention`'s sections (cmd_bench_attention.cpp,
// bench_attention_variants.cpp): a clock that reads wall time or, on a machine shared with other
// jobs, the process CPU time / threads; the best of `reps` runs after one warm-up; random inputs.
#pragma once

#include <time.h>

#include <algorithm>
#include <chrono>

#include "qkv/core/bf16.h"
#include "qkv/core/parallel.h"
#include "qkv/core/rng.h"
#include "qkv/core/tensor.h"

namespace qkv::cli {

struct BenchClock {
  bool cpu_time = false;  // process CPU time / num_threads() (set OMP_WAIT_POLICY=passive) instead of wall clock

  double now_ms() const {
    if (cpu_time) {
      timespec ts{};
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
      return (static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6) / num_threads();
    }
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

  // f() once (warm-up), then the shortest of max(1, reps) timed calls, in ms.
  template <typename F>
  double best_ms(int reps, F&& f) const {
    f();
    double best = 1e300;
    for (int r = 0; r < std::max(1, reps); ++r) {
      const double t0 = now_ms();
      f();
      best = std::min(best, now_ms() - t0);
    }
    return best;
  }
};

inline TensorF bench_randn(const Shape& s, Rng& rng) {
  TensorF t(s);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(rng.normal());
  return t;
}

inline Tensor<bf16> bench_to_bf16(const TensorF& t) {
  Tensor<bf16> out(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = bf16(t[i]);
  return out;
}

}  // namespace qkv::cli
