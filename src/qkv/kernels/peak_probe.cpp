// The peak probes of peak_probe.h. The loops are compiled once per SIMD target by Highway and
// chosen at run time (HWY_DYNAMIC_DISPATCH); the vdpbf16ps loop exists only in the AVX-512
// targets (raw intrinsics with avx512bf16 added, as in flash_bf16.cpp) and runs only where
// cpu_info() reports AVX512-BF16. The accumulators are a fixed-size array indexed by constants,
// so at -O2 and above each is one register for the whole loop (objdump -d of this object: 12
// vfmadd…ps / vdpbf16ps on distinct zmm registers per trip, no memory operand).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "qkv/kernels/peak_probe.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#if HWY_ARCH_X86
#include <immintrin.h>
#endif

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "qkv/core/parallel.h"
#include "qkv/core/tensor.h"
#include "qkv/kernels/cpu_info.h"
#include "qkv/kernels/peak_probe.h"

#undef QKV_PROBE_BF16
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
#define QKV_PROBE_BF16 1
#else
#define QKV_PROBE_BF16 0
#endif

HWY_BEFORE_NAMESPACE();
namespace qkv::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int kChains = 12;

// `iterations` trips of 12 independent FMA chains; returns a value depending on all of them.
HWY_NOINLINE float FmaLoop(int64_t iterations) {
  const hn::ScalableTag<float> df;
  using V = hn::Vec<decltype(df)>;
  V acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = hn::Set(df, static_cast<float>(i));
  const V a = hn::Set(df, 0.999999f), b = hn::Set(df, 1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < kChains; ++i) acc[i] = hn::MulAdd(acc[i], a, b);
  }
  V sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = hn::Add(sum, acc[i]);
  return hn::GetLane(hn::SumOfLanes(df, sum));
}

int64_t Lanes() { return static_cast<int64_t>(hn::Lanes(hn::ScalableTag<float>())); }

#if QKV_PROBE_BF16
__attribute__((target("avx512bf16"))) HWY_NOINLINE float Bf16Loop(int64_t iterations) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3F80);  // 1.0 in bf16
  const __m512bh y = (__m512bh)_mm512_set1_epi16(0x3380);  // 2^-24 in bf16
  for (int64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}
#endif

// Whether this target has the bf16 loop and the CPU runs it.
bool HasBf16Loop() {
#if QKV_PROBE_BF16
  static const bool cpu = cpu_info().avx512_bf16;
  return cpu;
#else
  return false;
#endif
}

float RunBf16Loop(int64_t iterations) {
#if QKV_PROBE_BF16
  return Bf16Loop(iterations);
#else
  (void)iterations;
  return 0.0f;
#endif
}

// Sum of n floats (n a multiple of the lanes, p aligned), four independent accumulators.
float ReadSum(const float* HWY_RESTRICT p, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  auto s0 = hn::Zero(df), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    s0 = hn::Add(s0, hn::Load(df, p + i));
    s1 = hn::Add(s1, hn::Load(df, p + i + L));
    s2 = hn::Add(s2, hn::Load(df, p + i + 2 * L));
    s3 = hn::Add(s3, hn::Load(df, p + i + 3 * L));
  }
  float tail = 0.0f;
  for (; i < n; ++i) tail += p[i];
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3)))) + tail;
}

}  // namespace HWY_NAMESPACE
}  // namespace qkv::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkv::kernels {

HWY_EXPORT(FmaLoop);
HWY_EXPORT(Lanes);
HWY_EXPORT(HasBf16Loop);
HWY_EXPORT(RunBf16Loop);
HWY_EXPORT(ReadSum);

namespace {

volatile float g_sink = 0.0f;  // keeps the loops' results alive

double now_ms(bool cpu_time) {
  if (cpu_time) {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6) / num_threads();
  }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best time of `reps` runs of fn on every worker thread (after one warm-up run).
template <typename Fn>
double best_parallel_ms(int reps, bool cpu_time, Fn&& fn) {
  const int workers = num_threads();
  std::vector<float> sink(static_cast<size_t>(workers));
  double best = 1e300;
  for (int r = 0; r <= std::max(1, reps); ++r) {
    const double t0 = now_ms(cpu_time);
    parallel_workers(workers, [&](int w, int n) { sink[static_cast<size_t>(w)] = fn(w, n); });
    const double ms = now_ms(cpu_time) - t0;
    if (r > 0) best = std::min(best, ms);
  }
  for (float s : sink) g_sink = g_sink + s;
  return best;
}

}  // namespace

int64_t fma_lanes() { return HWY_DYNAMIC_DISPATCH(Lanes)(); }

PeakFigure fma_peak(int64_t iterations, int reps, bool cpu_time) {
  PeakFigure f;
  f.available = true;
  f.ms = best_parallel_ms(reps, cpu_time, [&](int, int) { return HWY_DYNAMIC_DISPATCH(FmaLoop)(iterations); });
  const double flops = 2.0 * 12 * static_cast<double>(fma_lanes()) * static_cast<double>(iterations) * num_threads();
  f.gflops = flops / (f.ms * 1e6);
  return f;
}

PeakFigure bf16_peak(int64_t iterations, int reps, bool cpu_time) {
  PeakFigure f;
  if (!HWY_DYNAMIC_DISPATCH(HasBf16Loop)()) return f;
  f.available = true;
  f.ms = best_parallel_ms(reps, cpu_time, [&](int, int) { return HWY_DYNAMIC_DISPATCH(RunBf16Loop)(iterations); });
  const double flops = 4.0 * 16 * 12 * static_cast<double>(iterations) * num_threads();
  f.gflops = flops / (f.ms * 1e6);
  return f;
}

Bandwidth memory_bandwidth(int64_t bytes, int reps, bool cpu_time) {
  const int64_t n = std::max<int64_t>(bytes / 4 / 1024, 1) * 1024;  // floats, a multiple of 1024
  std::shared_ptr<float> src = aligned_buffer<float>(n), dst = aligned_buffer<float>(n);
  const int workers = num_threads();
  auto chunk = [&](int w) {
    const int64_t per = (n / workers) / 1024 * 1024;
    const int64_t b = w * per, e = w + 1 == workers ? n : b + per;
    return std::pair<int64_t, int64_t>(b, e);
  };
  parallel_workers(workers, [&](int w, int) {  // first touch by the thread that will read it
    const auto [b, e] = chunk(w);
    for (int64_t i = b; i < e; ++i) src.get()[i] = 1.0f;
    std::memset(dst.get() + b, 0, sizeof(float) * static_cast<size_t>(e - b));
  });
  Bandwidth bw;
  const double gb = 4.0 * static_cast<double>(n) / 1e9;
  const double read_ms = best_parallel_ms(reps, cpu_time, [&](int w, int) {
    const auto [b, e] = chunk(w);
    return HWY_DYNAMIC_DISPATCH(ReadSum)(src.get() + b, e - b);
  });
  bw.read_gbs = gb / (read_ms * 1e-3);
  const double copy_ms = best_parallel_ms(reps, cpu_time, [&](int w, int) {
    const auto [b, e] = chunk(w);
    std::memcpy(dst.get() + b, src.get() + b, sizeof(float) * static_cast<size_t>(e - b));
    return dst.get()[b];
  });
  bw.copy_gbs = 2.0 * gb / (copy_ms * 1e-3);
  return bw;
}

}  // namespace qkv::kernels
#endif  // HWY_ONCE
