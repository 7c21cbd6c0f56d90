// The machine's limits, measured: what `qkv bench attention` divides its figures by.
//
// fma_peak: a register-resident float32 loop on every worker thread — 12 independent vector
//   accumulator chains of fused multiply-adds (on AVX-512: 12 zmm registers, no loads or stores
//   inside the loop), so the loop runs at the core's FMA throughput. FLOPs = 2 per lane per FMA.
// bf16_peak: the same with vdpbf16ps (16 lanes, each 2 bf16 products summed into float32: 4 FLOPs
//   per lane per instruction) where the CPU has AVX512-BF16 and the SIMD target is an AVX-512
//   one; otherwise no figure (available = false).
// memory_bandwidth: a read (vector loads summed) and a copy (memcpy) of `bytes`, split over the
//   worker threads; GB/s counts the bytes read (read) or read + written (copy), as STREAM does.
// Each probe runs `reps` times after one warm-up and reports the best (the shortest time), by
// wall clock, or with cpu_time by the process's CPU time / num_threads() (as `qkv bench attention
// --cpu-time` times its rows, for a machine shared with other jobs).
#pragma once

#include <cstdint>

namespace qkv::kernels {

struct PeakFigure {
  bool available = false;
  double gflops = 0.0;  // (or GB/s for bandwidth)
  double ms = 0.0;      // the best time
};

// Float32 FMA loop on num_threads() threads; `iterations` loop trips per thread (each trip: 12
// vector FMAs).
PeakFigure fma_peak(int64_t iterations = 20'000'000, int reps = 5, bool cpu_time = false);

// vdpbf16ps loop on num_threads() threads; unavailable without AVX512-BF16 (or on a forced SIMD
// target below AVX-512).
PeakFigure bf16_peak(int64_t iterations = 20'000'000, int reps = 5, bool cpu_time = false);

struct Bandwidth {
  double read_gbs = 0.0;  // bytes / best time
  double copy_gbs = 0.0;  // 2 · bytes / best time (read + write)
};

// Allocates two buffers of `bytes` (touched once first, so no page faults are timed).
Bandwidth memory_bandwidth(int64_t bytes = int64_t{1} << 30, int reps = 5, bool cpu_time = false);

// The SIMD width (float32 lanes) the FMA loop runs at on this CPU's dispatched target.
int64_t fma_lanes();

}  // namespace qkv::kernels
