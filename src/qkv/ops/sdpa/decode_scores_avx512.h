// Scores of one query row straight from K's rows, for decoding (up to four query rows per head),
// with AVX-512F (float32 keys) or AVX512-BF16 (bfloat16 keys): no Kᵀ panel. Packing K as Kᵀ
// panels (a 16×16 register transpose per 16 keys and 16 columns, stored and loaded again) pays
// off when a panel serves many query rows; for one row it was most of decoding's time. Here each
// key's dot product (and, for the row that measures them, its Σ k²) accumulates in vectors along
// d, and one 16-vector lane reduction per 16 keys (or 8 keys and their 8 norms) turns them into
// lanes. Call only from code compiled for, or dispatched to, a CPU with the instructions named.
#pragma once

#include <cstdint>

namespace qkv::kernels {

// Whether a streamed head of `rows` query rows and head dim d is scored with these functions
// rather than Kᵀ panels: up to four rows (past that, a panel serves enough rows to pay for its
// transposes) and d <= 256 (the q registers below).
inline bool decode_reads_keys_in_place(int64_t rows, int64_t d) { return rows <= 4 && d <= 256; }

}  // namespace qkv::kernels

#if defined(__x86_64__) || defined(__i386__)
// GCC 12 warns inside its own AVX-512 intrinsics (GCC bug 105593, see transpose_avx512.h).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>

// The same GCC bug warns where the unpacks are inlined below: silenced for these functions only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace qkv::kernels {

// Lane j of *out = the sum of the 16 lanes of v[j], j < 16. Integer unpacks: the same lane moves
// as unpack*_ps/pd, whose GCC 12 intrinsics warn. (Results through pointers: a function returning
// __m512 in a file not compiled for AVX-512 changes the ABI, -Wpsabi.)
__attribute__((target("avx512f"))) inline void sum_lanes16(const __m512* v, __m512* out) {
  __m512i t[8], u[4];
  for (int i = 0; i < 8; ++i) {  // 128-bit block l of t[i]: (a0+a2, b0+b2, a1+a3, b1+b3) of a = v[2i], b = v[2i+1]
    const __m512i a = _mm512_castps_si512(v[2 * i]), b = _mm512_castps_si512(v[2 * i + 1]);
    t[i] = _mm512_castps_si512(_mm512_add_ps(_mm512_castsi512_ps(_mm512_unpacklo_epi32(a, b)),
                                             _mm512_castsi512_ps(_mm512_unpackhi_epi32(a, b))));
  }
  for (int i = 0; i < 4; ++i)  // block l of u[i]: the block-l sums of v[4i .. 4i+3]
    u[i] = _mm512_castps_si512(_mm512_add_ps(_mm512_castsi512_ps(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1])),
                                             _mm512_castsi512_ps(_mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]))));
  // Blocks (0+1, 2+3) of u[0], then of u[1]; the same for u[2], u[3]; then the two halves.
  const __m512 u0 = _mm512_castsi512_ps(u[0]), u1 = _mm512_castsi512_ps(u[1]), u2 = _mm512_castsi512_ps(u[2]),
               u3 = _mm512_castsi512_ps(u[3]);
  const __m512 x01 = _mm512_add_ps(_mm512_shuffle_f32x4(u0, u1, 0x88), _mm512_shuffle_f32x4(u0, u1, 0xDD));
  const __m512 x23 = _mm512_add_ps(_mm512_shuffle_f32x4(u2, u3, 0x88), _mm512_shuffle_f32x4(u2, u3, 0xDD));
  *out = _mm512_add_ps(_mm512_shuffle_f32x4(x01, x23, 0x88), _mm512_shuffle_f32x4(x01, x23, 0xDD));
}

// A group of 8 keys and their norms done: lanes 0..7 of *sums (their dot products) times *vc into
// s[0..8); lanes 8..15 (their Σ k²) into the running *best (max) and *total (sum); the score
// lanes of those two are never read.
__attribute__((target("avx512f"))) inline void finish_group(const __m512* sums, const __m512* vc, float* s,
                                                              __m512* best, __m512* total) {
  _mm256_storeu_ps(s, _mm512_castps512_ps256(_mm512_mul_ps(*sums, *vc)));
  *best = _mm512_max_ps(*best, *sums);
  *total = _mm512_add_ps(*total, *sums);  // not finite when a square overflowed or a key holds NaN
}

// norms[0] = the largest, norms[1] = the sum of the norm lanes of best and total.
__attribute__((target("avx512f"))) inline void finish_norms(const __m512* best, const __m512* total, float* norms) {
  norms[0] = _mm512_mask_reduce_max_ps(0xFF00, *best);
  norms[1] = _mm512_mask_reduce_add_ps(0xFF00, *total);
}

// The key groups of decode_score_row: 8 keys per group with their Σ k² (Measure), else 16.
template <bool Measure>
__attribute__((target("avx512f"))) inline void score_groups(const __m512* qv, int64_t full, __mmask16 tail,
                                                              const float* k, int64_t ldk, int64_t nk, int64_t ncols,
                                                              float c, float* s, float* norms) {
  constexpr int64_t KG = Measure ? 8 : 16;
  const __m512 vc = _mm512_set1_ps(c);
  __m512 best = _mm512_setzero_ps(), total = _mm512_setzero_ps();
  for (int64_t g = 0; g < ncols; g += KG) {
    __m512 acc[16];  // q·k of keys g .. g + KG; with Measure, 8..15: Σ k² of keys g .. g + 8
    for (int t = 0; t < 16; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t t = 0; t < std::clamp<int64_t>(nk - g, 0, KG); ++t) {
      const float* row = k + (g + t) * ldk;
      auto add = [&](__m512 x, int64_t v) __attribute__((target("avx512f"))) {
        acc[t] = _mm512_fmadd_ps(x, qv[v], acc[t]);
        if constexpr (Measure) acc[8 + t] = _mm512_fmadd_ps(x, x, acc[8 + t]);
      };
      for (int64_t v = 0; v < full; ++v) add(_mm512_loadu_ps(row + 16 * v), v);
      if (tail) add(_mm512_maskz_loadu_ps(tail, row + 16 * full), full);
    }
    __m512 sums;
    sum_lanes16(acc, &sums);
    if constexpr (Measure)
      finish_group(&sums, &vc, s + g, &best, &total);
    else
      _mm512_storeu_ps(s + g, _mm512_mul_ps(sums, vc));
  }
  if constexpr (Measure) finish_norms(&best, &total, norms);
}

// s[j] = c · q·k_j for j < ncols (a multiple of 16), key j at k + j·ldk (d floats); keys at or
// past nk score 0 and are not read. With norms (not null), also Σ_c k_jc² of keys j < min(nk,
// ncols): their maximum into norms[0] and their sum into norms[1] (not finite when a square
// overflowed or a key holds NaN). d <= 256.
__attribute__((target("avx512f"))) inline void decode_score_row(const float* q, const float* k, int64_t ldk,
                                                                  int64_t nk, int64_t ncols, int64_t d, float c,
                                                                  float* s, float* norms) {
  const int64_t full = d / 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (d % 16)) - 1u);
  __m512 qv[17];
  for (int64_t v = 0; v < full; ++v) qv[v] = _mm512_loadu_ps(q + 16 * v);
  qv[full] = _mm512_maskz_loadu_ps(tail, q + 16 * full);
  if (norms)
    score_groups<true>(qv, full, tail, k, ldk, nk, ncols, c, s, norms);
  else
    score_groups<false>(qv, full, tail, k, ldk, nk, ncols, c, s, norms);
}

// score_groups for bfloat16 keys and q pairs (vdpbf16ps).
template <bool Measure>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline void score_groups_bf16(
    const __m512bh* qv, int64_t full, __mmask32 tail, const uint16_t* k, int64_t ldk, int64_t nk, int64_t ncols,
    float c, float* s, float* norms) {
  constexpr int64_t KG = Measure ? 8 : 16;
  const __m512 vc = _mm512_set1_ps(c);
  __m512 best = _mm512_setzero_ps(), total = _mm512_setzero_ps();
  for (int64_t g = 0; g < ncols; g += KG) {
    __m512 acc[16];  // q·k of keys g .. g + KG; with Measure, 8..15: Σ k² of keys g .. g + 8
    for (int t = 0; t < 16; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t t = 0; t < std::clamp<int64_t>(nk - g, 0, KG); ++t) {
      const uint16_t* row = k + (g + t) * ldk;
      auto add = [&](__m512bh x, int64_t v) __attribute__((target("avx512f,avx512bw,avx512bf16"))) {
        acc[t] = _mm512_dpbf16_ps(acc[t], x, qv[v]);
        if constexpr (Measure) acc[8 + t] = _mm512_dpbf16_ps(acc[8 + t], x, x);
      };
      for (int64_t v = 0; v < full; ++v) add((__m512bh)_mm512_loadu_si512(row + 32 * v), v);
      if (tail) add((__m512bh)_mm512_maskz_loadu_epi16(tail, row + 32 * full), full);
    }
    __m512 sums;
    sum_lanes16(acc, &sums);
    if constexpr (Measure)
      finish_group(&sums, &vc, s + g, &best, &total);
    else
      _mm512_storeu_ps(s + g, _mm512_mul_ps(sums, vc));
  }
  if constexpr (Measure) finish_norms(&best, &total, norms);
}

// decode_score_row for bfloat16 keys (d values at k + j·ldk) and q as ⌈d/2⌉ bf16 pairs (qp, as
// flash_bf16_tiles.h's RowAsPairs writes them): products of pairs by vdpbf16ps, sums in float32.
// Call only where the CPU has AVX512-BF16.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline void decode_score_row_bf16(
    const uint32_t* qp, const uint16_t* k, int64_t ldk, int64_t nk, int64_t ncols, int64_t d, float c, float* s,
    float* norms) {
  const int64_t full = d / 32;
  const __mmask32 tail = static_cast<__mmask32>((uint64_t{1} << (d % 32)) - 1u);
  __m512bh qv[9];
  for (int64_t v = 0; v < full; ++v) qv[v] = (__m512bh)_mm512_loadu_si512(qp + 16 * v);
  qv[full] = (__m512bh)_mm512_maskz_loadu_epi32(static_cast<__mmask16>((1u << ((d % 32 + 1) / 2)) - 1u),
                                                 qp + 16 * full);
  if (norms)
    score_groups_bf16<true>(qv, full, tail, k, ldk, nk, ncols, c, s, norms);
  else
    score_groups_bf16<false>(qv, full, tail, k, ldk, nk, ncols, c, s, norms);
}

}  // namespace qkv::kernels

#pragma GCC diagnostic pop

#endif
