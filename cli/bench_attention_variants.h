// Two sections of `qkv bench attention` (cmd_bench_attention.cpp): the variants' speed beside plain
// attention, and single-token decoding against a long K/V cache as a fraction of the memory
// bandwidth. Both print a table and return its rows as JSON.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "bench_timing.h"

namespace qkv::cli {

// Rows (B, H, N, d) for each N in ns and d in ds: plain attention, then GQA (H/4 key/value heads),
// causal, a causal sliding window (window_left, 0), ALiBi and softcap, float32 fused kernel,
// forward and (unless !backward) backward. GFLOP/s count the work actually done: 4·B·H·d·(visible
// query-key pairs) forward, 2.5× that backward; each row's ratio is to plain attention's GFLOP/s of
// the same N and d in the same run, and its fraction to fma_gflops (the FMA loop).
struct VariantBench {
  std::vector<int64_t> ns, ds;
  int64_t B = 2, H = 8, window_left = 256;
  double softcap = 50.0;
  int reps = 3;
  bool backward = true;
  double fma_gflops = 0.0;
};
nlohmann::json bench_attention_variants(const BenchClock& clock, const VariantBench& o);

// Rows Lq = 1 query against Lk keys, for each Lk in lks and d in ds (dv = d), in three head
// layouts — (B, H, Hkv) = (1, 8, 8), (1, 32, 8) grouped, (1, 1, 1) one head (the key-axis split)
// — float32 and (unless !bf16) bfloat16. The K/V caches are cold: the timed pass runs over enough
// copies of them to fill cold_mb, so they come from memory, not the caches, as in a decoder whose
// many layers each read their own cache once per token. GB/s = bytes of K and V read (B·Hkv·Lk·2d
// elements) / time; the fraction is of read_gbs, the memory bandwidth of the same run (0: none).
struct DecodeBench {
  std::vector<int64_t> lks, ds;
  int reps = 5;
  bool bf16 = true;
  int64_t cold_mb = 512;
  double read_gbs = 0.0;
};
nlohmann::json bench_attention_decode(const BenchClock& clock, const DecodeBench& o);

// The bytes bench_attention_decode allocates at most for these sizes (for the memory budget).
double decode_bench_bytes(const DecodeBench& o);

}  // namespace qkv::cli
