// AVX512-BF16 pieces shared by the bf16 forward (flash_bf16.cpp) and backward
// (flash_bf16_backward.cpp): bf16 pairs, the packs of an operand as pairs (vdpbf16ps multiplies
// pairs of bf16 held in one 32-bit lane and accumulates in float32), the exp2 of the weights, the
// mask of a tile's last keys and the score tile. Call only from code dispatched to a CPU with
// AVX512-BF16 (the kernels' AVX-512 targets, where cpu_info() reports it).
#pragma once

#if defined(__x86_64__)
// GCC 12 warns inside its own AVX-512 intrinsics (GCC bug 105593): silenced for this header.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "qkv/ops/sdpa/transpose_avx512.h"

#define QKV_BF16_TILES_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

namespace qkv::kernels::bf16_tiles {

// One 32-bit lane holding two bf16: lo in the low half.
inline uint32_t Pair(uint16_t lo, uint16_t hi) { return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16); }

// 2^x for x <= 0 (x <= −160, and −inf, give exactly 0): 2^n · p(x − n) with vscalefps. The
// weights are rounded to bf16 (relative error up to 2^-9) before their products, so a degree-4
// minimax polynomial (relative error 2.6e-6 on [−0.5, 0.5], which keeps the saved lse within
// float32 tolerance for the backward) is enough: two FMAs per vector fewer than the float32
// kernel's degree-6 one.
QKV_BF16_TILES_TARGET inline __m512 Exp2(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-160.0f));
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(0.0095701f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.055917867f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.24024744f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.6931218f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.9999993f));
  return _mm512_scalef_ps(p, n);
}

// Scores of keys j >= n (relative to the tile) become −inf, in nvec vectors of 16.
QKV_BF16_TILES_TARGET inline void MaskBeyond(float* s, int64_t nvec, int64_t n) {
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t v = std::max<int64_t>(0, n / 16); v < nvec; ++v) {
    const int64_t live = std::clamp<int64_t>(n - v * 16, 0, 16);
    _mm512_mask_storeu_ps(s + v * 16, __mmask16(~((1u << live) - 1u)), ninf);
  }
}

// s[M][NV·16] (row stride lds) = a[M rows of d2 pairs, row stride lda] · kt[d2][NV·16 pairs]
// (Kᵀ panel, row stride ldk), times c when Scale (else the caller applies c later).
template <int64_t M, int64_t NV, bool Scale>
QKV_BF16_TILES_TARGET void TileQK(const uint32_t* a, int64_t lda, const uint32_t* kt, int64_t ldk, int64_t d2, float c,
                                  float* s, int64_t lds) {
  __m512 acc[M][NV];
  for (int64_t r = 0; r < M; ++r)
    for (int64_t v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < d2; ++p) {
    __m512bh b[NV];
    for (int64_t v = 0; v < NV; ++v) b[v] = (__m512bh)_mm512_loadu_si512(kt + p * ldk + v * 16);
    for (int64_t r = 0; r < M; ++r) {
      const __m512bh x = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[r * lda + p]));
      for (int64_t v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], x, b[v]);
    }
  }
  const __m512 vc = _mm512_set1_ps(c);
  for (int64_t r = 0; r < M; ++r)
    for (int64_t v = 0; v < NV; ++v)
      _mm512_store_ps(s + r * lds + v * 16, Scale ? _mm512_mul_ps(acc[r][v], vc) : acc[r][v]);
}

// A bf16 row of width w as ⌈w/2⌉ pairs along it (consecutive bf16: a copy; an odd w padded with 0).
inline void RowAsPairs(const uint16_t* src, int64_t w, uint32_t* dst) {
  std::memcpy(dst, src, sizeof(uint16_t) * static_cast<size_t>(w & ~int64_t{1}));
  if (w & 1) dst[w / 2] = Pair(src[w - 1], 0);
}

// dst[p·ldd + t] = pair p (elements 2p, 2p+1; 0 past w) of row t of src, for rows t < n: the
// pairs of n rows as columns (Kᵀ, Vᵀ panels); 16 rows × 16 pairs at a time by a register transpose.
QKV_BF16_TILES_TARGET inline void PackPairColumns(const uint16_t* src, int64_t lds, int64_t n, int64_t w,
                                                  uint32_t* dst, int64_t ldd) {
  const int64_t full = w / 2;  // complete pairs
  int64_t t = 0;
  for (; t + 16 <= n && full >= 16; t += 16) {
    const void* at[16];
    int64_t p = 0;
    for (; p + 16 <= full; p += 16) {
      for (int r = 0; r < 16; ++r) at[r] = src + (t + r) * lds + 2 * p;
      transpose16x16_32bit(at, dst + p * ldd + t, ldd);
    }
    for (; p < full; ++p)
      for (int64_t r = 0; r < 16; ++r) std::memcpy(dst + p * ldd + t + r, src + (t + r) * lds + 2 * p, 4);
    if (w & 1)
      for (int64_t r = 0; r < 16; ++r) dst[full * ldd + t + r] = Pair(src[(t + r) * lds + w - 1], 0);
  }
  for (; t < n; ++t) {
    const uint16_t* row = src + t * lds;
    for (int64_t p = 0; p < full; ++p) std::memcpy(dst + p * ldd + t, row + 2 * p, 4);
    if (w & 1) dst[full * ldd + t] = Pair(row[w - 1], 0);
  }
}

// dst[t·ldd + c] = (row 2t, row 2t+1)[c] for t < ⌈n/2⌉ (a missing odd row and the columns w ..
// ldd are 0): n rows as pairs of rows (V for P·V; Q, dO and K in the backward).
QKV_BF16_TILES_TARGET inline void PackRowPairs(const uint16_t* src, int64_t lds, int64_t n, int64_t w, uint32_t* dst,
                                               int64_t ldd) {
  for (int64_t t = 0; t < (n + 1) / 2; ++t) {
    const uint16_t* r0 = src + 2 * t * lds;
    const uint16_t* r1 = 2 * t + 1 < n ? r0 + lds : nullptr;
    uint32_t* out = dst + t * ldd;
    int64_t c = 0;
    if (r1)
      for (; c + 16 <= w; c += 16) {
        const __m512i lo = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r0 + c)));
        const __m512i hi = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r1 + c)));
        _mm512_storeu_si512(out + c, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
      }
    for (; c < ldd; ++c) out[c] = c < w ? Pair(r0[c], r1 ? r1[c] : uint16_t(0)) : 0u;
  }
}

}  // namespace qkv::kernels::bf16_tiles

#endif  // __x86_64__
