// Helpers shared by the fused attention kernels (flash_f32.cpp, flash_bf16.cpp): the key range a
// query row may see, dropout decisions, per-worker scratch and cost-balanced work splits, the
// compile-time dispatch on a tile's row count, the online-softmax sweep of a query block and its
// finish (out = o / l and the saved lse), and the bf16 → float32 widening of an operand.
// The sweep and the dispatch are always inlined, so they take the SIMD target of the kernel that
// calls them (Highway's per-target namespaces, the AVX512-BF16 micro-kernels).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "qkv/core/bf16.h"
#include "qkv/core/parallel.h"
#include "qkv/core/rng.h"
#include "qkv/core/tensor.h"
#include "qkv/ops/sdpa/flash.h"

namespace qkv::kernels::flash {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Keys j >= key_end(...) are masked for query i of batch b by the causal, valid_lens and
// window_right parts.
inline int64_t key_end(const FlashMask& m, int64_t Lk, int64_t b, int64_t i) {
  int64_t e = Lk;
  if (m.causal) e = std::min(e, std::max<int64_t>(0, i + m.causal_offset + 1));
  if (m.lens) e = std::min(e, std::max<int64_t>(0, m.lens[b * m.lens_sb + i * m.lens_si]));
  if (m.window_right >= 0) e = std::min(e, std::max<int64_t>(0, i + m.window_offset + m.window_right + 1));
  return e;
}

// Keys j < key_begin(...) are masked for query i by the window_left part (0 without it).
inline int64_t key_begin(const FlashMask& m, int64_t i) {
  return m.window_left < 0 ? 0 : std::max<int64_t>(0, i + m.window_offset - m.window_left);
}

// Notes `rows` more key rows in seen (flash.h's KeyNorms): their largest Σ k² and the sum of all of
// them (not finite when a square overflowed or a key held NaN).
inline void note_key_norms(KeyNorms& seen, float max_sq, float sum_sq, int64_t rows) {
  seen.max_sq = std::max(seen.max_sq, static_cast<double>(max_sq));
  seen.finite = seen.finite && std::isfinite(sum_sq);
  seen.rows += rows;
}

// Adds one worker's KeyNorms into the call's.
inline void merge_key_norms(const KeyNorms& part, KeyNorms& all) {
  all.max_sq = std::max(all.max_sq, part.max_sq);
  all.rows += part.rows;
  all.finite = all.finite && part.finite;
}

inline bool has_general(const FlashMask& m) { return m.allowed != nullptr || m.bias != nullptr; }

// Applies the `allowed` and `bias` parts to the log2-domain scores s[0..n) of keys j0.. of row i.
inline void apply_general(const FlashMask& m, int64_t b, int64_t h, int64_t i, int64_t j0, int64_t n, float* s) {
  if (m.allowed) {
    const uint8_t* a = m.allowed + b * m.allowed_sb + h * m.allowed_sh + i * m.allowed_si + j0 * m.allowed_sj;
    for (int64_t j = 0; j < n; ++j)
      if (!a[j * m.allowed_sj]) s[j] = kNegInf;
  }
  if (m.bias) {
    const float* bb = m.bias + b * m.bias_sb + h * m.bias_sh + i * m.bias_si + j0 * m.bias_sj;
    for (int64_t j = 0; j < n; ++j) s[j] += kLog2e * bb[j * m.bias_sj];
  }
}

// Dropout factor of weight (bh, i, j0 + j) for j < n: 0 when dropped, 1/(1−p) when kept.
// The counter is sdpa_dropout_counter's (sdpa_dropout.h), written out: calling it here changed how
// GCC 12 compiles the kernels' hot loops and cost them 4–8% (bench/compare_builds.py); the
// harness's dropout case (tests/ops/sdpa/test_sdpa_harness.cpp) fails if the two ever differ.
inline void dropout_factors(const FlashMask& m, int64_t bh, int64_t Lq, int64_t Lk, int64_t i, int64_t j0, int64_t n,
                            float* z) {
  const float keep_scale = m.dropout_p >= 1.0 ? 0.0f : static_cast<float>(1.0 / (1.0 - m.dropout_p));
  uint64_t base = (static_cast<uint64_t>(bh) * static_cast<uint64_t>(Lq) + static_cast<uint64_t>(i)) *
                      static_cast<uint64_t>(Lk) + static_cast<uint64_t>(j0);
  for (int64_t j = 0; j < n; ++j)
    z[j] = counter_uniform(m.dropout_seed, base + static_cast<uint64_t>(j)) < m.dropout_p ? 0.0f : keep_scale;
}

// Splits items 0..n (in order) into `workers` contiguous ranges of about equal total cost:
// bounds[w] .. bounds[w + 1] (bounds is resized to workers + 1, reusing its capacity).
inline void split_by_cost(const std::vector<double>& cost, int workers, std::vector<int64_t>& bounds) {
  const int64_t n = static_cast<int64_t>(cost.size());
  bounds.assign(static_cast<size_t>(workers) + 1, n);
  bounds[0] = 0;
  double total = 0;
  for (double c : cost) total += c;
  double acc = 0;
  int w = 1;
  for (int64_t i = 0; i < n && w < workers; ++i) {
    acc += cost[static_cast<size_t>(i)];
    while (w < workers && acc >= total * w / workers) bounds[static_cast<size_t>(w++)] = i + 1;
  }
}

// Work items (b·H + h, query block of block_rows rows), in that order, each costing its rows ×
// (tiles of key_tile keys between the block's first and last visible key + 1).
inline void query_block_costs(const FlashDims& dm, const FlashMask& mask, int64_t block_rows, int64_t key_tile,
                              std::vector<double>& cost) {
  const int64_t nqb = ceil_div(dm.Lq, block_rows);
  cost.assign(static_cast<size_t>(dm.B * dm.H * nqb), 0.0);
  for (int64_t b = 0; b < dm.B; ++b)
    for (int64_t qb = 0; qb < nqb; ++qb) {
      const int64_t i0 = qb * block_rows, i1 = std::min(dm.Lq, i0 + block_rows);
      int64_t kmax = dm.Lk, kmin = 0;
      if (mask.causal || mask.lens || mask.window_right >= 0) {
        kmax = 0;
        for (int64_t i = i0; i < i1; ++i) kmax = std::max(kmax, key_end(mask, dm.Lk, b, i));
      }
      if (mask.window_left >= 0) kmin = std::min(kmax, key_begin(mask, i0));
      const double c =
          static_cast<double>(i1 - i0) * static_cast<double>(ceil_div(kmax, key_tile) - kmin / key_tile + 1);
      for (int64_t h = 0; h < dm.H; ++h) cost[static_cast<size_t>((b * dm.H + h) * nqb + qb)] = c;
    }
}

// The smallest and largest key end (kend) of rows r0 .. r1: {lo, hi}, lo starting at Lk.
inline std::pair<int64_t, int64_t> key_end_range(const std::vector<int64_t>& kend, int64_t r0, int64_t r1, int64_t Lk) {
  int64_t lo = Lk, hi = 0;
  for (int64_t r = r0; r < r1; ++r) {
    lo = std::min(lo, kend[static_cast<size_t>(r)]);
    hi = std::max(hi, kend[static_cast<size_t>(r)]);
  }
  return {lo, hi};
}

// Work items (b·H + h, block of key_block keys), in that order, each costing the query rows that
// see a key of the block + 8 (the block's packs); hist is scratch.
inline void key_block_costs(const FlashDims& dm, const FlashMask& mask, int64_t key_block, std::vector<double>& cost,
                            std::vector<int64_t>& hist) {
  const int64_t nkb = ceil_div(dm.Lk, key_block);
  cost.assign(static_cast<size_t>(dm.B * dm.H * nkb), 0.0);
  hist.resize(static_cast<size_t>(nkb) + 1);
  for (int64_t b = 0; b < dm.B; ++b) {
    std::fill(hist.begin(), hist.end(), 0);
    for (int64_t i = 0; i < dm.Lq; ++i) ++hist[static_cast<size_t>(ceil_div(key_end(mask, dm.Lk, b, i), key_block))];
    int64_t active = 0;
    for (int64_t kb = nkb - 1; kb >= 0; --kb) {
      active += hist[static_cast<size_t>(kb) + 1];
      for (int64_t h = 0; h < dm.H; ++h)
        cost[static_cast<size_t>((b * dm.H + h) * nkb + kb)] = static_cast<double>(active + 8);
    }
  }
}

// The end of a backward: dq (rows × d) = scale · Σ_w partial_w, where worker w's partial sums are
// scratch[w].dq.p (row stride dp), except worker 0's when `direct` (it accumulated into dq).
template <typename Scratch>
void sum_dq_partials(int64_t rows, int64_t d, int64_t dp, bool direct, const std::vector<Scratch>& scratch, int workers,
                     float scale, float* dq) {
  parallel_for(rows, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // one contiguous loop per partial, so each vectorises
      float* __restrict dst = dq + r * d;
      if (!direct) std::memcpy(dst, scratch[0].dq.p + r * dp, sizeof(float) * static_cast<size_t>(d));
      for (int w = 1; w < workers; ++w) {
        const float* __restrict src = scratch[static_cast<size_t>(w)].dq.p + r * dp;
        for (int64_t cc = 0; cc < d; ++cc) dst[cc] += src[cc];
      }
      for (int64_t cc = 0; cc < d; ++cc) dst[cc] *= scale;
    }
  });
}

// What a pass keeps between calls on the calling thread, so steady-state calls allocate nothing:
// work costs, worker bounds and per-worker scratch, grown on demand. Workers reach it through a
// reference taken on the calling thread (never by naming the thread_local inside a worker).
template <typename Scratch>
struct PassState {
  std::vector<double> cost;
  std::vector<int64_t> bounds;
  std::vector<Scratch> scratch;
  // After `cost` is filled: splits the items over min(threads, items) workers by cost (bounds)
  // and makes sure each has a scratch; returns the number of workers.
  int plan() {
    const int workers = static_cast<int>(std::min<int64_t>(num_threads(), static_cast<int64_t>(cost.size())));
    split_by_cost(cost, workers, bounds);
    if (scratch.size() < static_cast<size_t>(workers)) scratch.resize(static_cast<size_t>(workers));
    return workers;
  }
};

// A 64-byte aligned float buffer (uninitialised), reallocated only when it must grow (never per tile).
struct Floats {
  std::shared_ptr<float> mem;
  float* p = nullptr;
  int64_t capacity = 0;
  void reserve(int64_t n) {
    n = std::max<int64_t>(n, 16);
    if (n <= capacity) return;
    mem = aligned_buffer<float>(n);
    p = mem.get();
    capacity = n;
  }
};

// Calls fn(integral_constant<N>) for the run-time n in 1..Max (Max when n > Max): a tile's row
// or vector count as a template argument, so its accumulators stay in registers.
template <int64_t Max, int64_t N = 1, class Fn>
[[gnu::always_inline]] inline void with_count(int64_t n, Fn&& fn) {
  if constexpr (N < Max) {
    if (n == N) return fn(std::integral_constant<int64_t, N>());
    return with_count<Max, N + 1>(n, fn);
  } else {
    fn(std::integral_constant<int64_t, N>());
  }
}

// The online-softmax sweep of one query block: rows i0 .. i0 + rows of batch b (kbeg, kend, m, l
// hold one entry per row). Sets each row's key range [kbeg, kend), m = −inf and l = 0, then walks
// the keys KS at a time (from the step holding the smallest kbeg) and, within each key step, the
// rows MR at a time; for each micro tile with a key that one of its rows sees it calls
// step(r0, mr, j0, nk, nvis, lo, bhi): rows r0 .. r0 + mr, keys j0 .. j0 + nk of the step, nvis of
// them seen by some row, lo the smallest key end and bhi the largest key begin of the rows.
// Micro tiles whose rows are all past their last visible key, or all before their first, are skipped.
// Only keys [jlo, jhi) are swept (jlo a multiple of KS): one split of a decoding call.
template <int64_t MR, int64_t KS, class Step>
[[gnu::always_inline]] inline void forward_sweep(const FlashMask& mask, int64_t Lk, int64_t b, int64_t i0,
                                                 int64_t rows, int64_t* kbeg, int64_t* kend, float* m, float* l,
                                                 Step&& step, int64_t jlo = 0,
                                                 int64_t jhi = std::numeric_limits<int64_t>::max()) {
  int64_t kmax = 0, kmin = Lk;
  for (int64_t r = 0; r < rows; ++r) {
    kend[r] = std::min(key_end(mask, Lk, b, i0 + r), jhi);
    kbeg[r] = std::max(key_begin(mask, i0 + r), jlo);
    kmax = std::max(kmax, kend[r]);
    kmin = std::min(kmin, kbeg[r]);
    m[r] = kNegInf;
    l[r] = 0.0f;
  }
  for (int64_t j0 = kmin / KS * KS; j0 < std::min(Lk, kmax); j0 += KS) {
    const int64_t nk = std::min(KS, Lk - j0);
    for (int64_t r0 = 0; r0 < rows; r0 += MR) {
      const int64_t mr = std::min(MR, rows - r0);
      int64_t lo = Lk, hi = 0, blo = Lk, bhi = 0;
      for (int64_t r = r0; r < r0 + mr; ++r) {
        lo = std::min(lo, kend[r]);
        hi = std::max(hi, kend[r]);
        blo = std::min(blo, kbeg[r]);
        bhi = std::max(bhi, kbeg[r]);
      }
      if (hi <= j0 || blo >= j0 + nk) continue;  // every row is past its last visible key, or before its first
      step(r0, mr, j0, nk, std::min(nk, hi - j0), lo, bhi);
    }
  }
}

// The end of the sweep for rows 0 .. rows of a block: out row r (dv wide, row stride dv) = o row
// r (row stride ldo) / l[r] and lse[r] = (m[r] + log2 l[r])·ln 2, with m in the log2 domain; a
// row with no visible key (l = 0) gets out 0 and lse −inf.
inline void finish_rows(int64_t rows, const float* o, int64_t ldo, const float* m, const float* l, int64_t dv,
                        float* out, float* lse) {
  for (int64_t r = 0; r < rows; ++r) {
    float* dst = out + r * dv;
    if (l[r] > 0.0f) {
      const float inv = 1.0f / l[r];
      for (int64_t c = 0; c < dv; ++c) dst[c] = o[r * ldo + c] * inv;
      lse[r] = (m[r] + std::log2(l[r])) * kLn2;
    } else {
      std::memset(dst, 0, sizeof(float) * static_cast<size_t>(dv));
      lse[r] = kNegInf;
    }
  }
}

// Decoding with grouped K/V heads: with one query row per head (Lq = 1), the G query heads of a
// group read the same keys, so the call is the same as one with Hkv heads of G query rows each
// (row g of head hk = query head hk·G + g): q (B, H, 1, d) viewed as (B, Hkv, G, d) — row stride
// q.sh, head stride G·q.sh — while out (B, H, 1, dv) and lse (B, H, 1), contiguous, already are
// (B, Hkv, G, ·). K and V are then read once per group instead of once per query head, and the
// call has no grouped heads left (so the bf16 forward can run its native kernel). Valid when no
// mask part depends on the query row beyond what the strides carry: no ALiBi (per-head slopes),
// no window, no dropout, causal only when it hides no key (offset >= Lk − 1). Returns false and
// changes nothing otherwise.
template <typename T>
inline bool group_rows_for_decoding(FlashDims& dm, FlashView<T>& q, FlashMask& mask) {
  const int64_t G = dm.group();
  if (dm.Lq != 1 || G == 1 || mask.alibi || mask.window_left >= 0 || mask.window_right >= 0 ||
      mask.dropout_p > 0.0 || (mask.causal && mask.causal_offset < dm.Lk - 1))
    return false;
  q = {q.p, q.sb, G * q.sh, q.sh};
  dm = {dm.B, dm.kv_heads(), G, dm.Lk, dm.d, dm.dv};
  mask.causal = false;  // it hid no key
  mask.lens_si = 0;
  mask.allowed_si = mask.allowed_sh;
  mask.allowed_sh *= G;
  mask.bias_si = mask.bias_sh;
  mask.bias_sh *= G;
  mask.window_offset = dm.Lk - dm.Lq;
  return true;
}

// Widens a (B, H, L, w) bfloat16 view into out, contiguous float32 (B, H, L, w).
inline void widen(const FlashDims& dm, const FlashInBf16& x, int64_t L, int64_t w, float* out) {
  for (int64_t b = 0; b < dm.B; ++b)
    for (int64_t h = 0; h < dm.H; ++h)
      for (int64_t i = 0; i < L; ++i) {
        const uint16_t* src = x.row(b, h, i);
        float* dst = out + ((b * dm.H + h) * L + i) * w;
        for (int64_t c = 0; c < w; ++c) dst[c] = bf16::to_float(src[c]);
      }
}

// q, k, v widened to float32 (k and v with their Hkv heads), contiguous, and views of them: what
// the bf16 kernels' widened fallbacks hand to the float32 kernels.
struct WidenedQkv {
  std::vector<float> q, k, v;
  FlashIn qv, kv, vv;
};

inline WidenedQkv widen_qkv(const FlashDims& dm, const FlashInBf16& q, const FlashInBf16& k, const FlashInBf16& v) {
  const int64_t Hkv = dm.kv_heads();
  FlashDims dkv = dm;
  dkv.H = Hkv;
  WidenedQkv w;
  w.q.resize(static_cast<size_t>(dm.B * dm.H * dm.Lq * dm.d));
  w.k.resize(static_cast<size_t>(dm.B * Hkv * dm.Lk * dm.d));
  w.v.resize(static_cast<size_t>(dm.B * Hkv * dm.Lk * dm.dv));
  widen(dm, q, dm.Lq, dm.d, w.q.data());
  widen(dkv, k, dm.Lk, dm.d, w.k.data());
  widen(dkv, v, dm.Lk, dm.dv, w.v.data());
  w.qv = {w.q.data(), dm.H * dm.Lq * dm.d, dm.Lq * dm.d, dm.d};
  w.kv = {w.k.data(), Hkv * dm.Lk * dm.d, dm.Lk * dm.d, dm.d};
  w.vv = {w.v.data(), Hkv * dm.Lk * dm.dv, dm.Lk * dm.dv, dm.dv};
  return w;
}

}  // namespace qkv::kernels::flash
