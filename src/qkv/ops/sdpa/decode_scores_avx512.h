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

// The same GCC bug warns where the unpacks are inlined below: silenced for these functions only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace qkv::kernels {

// Lane j of *out = the sum of the 16 lanes of v[j], j < 16. Integer unpacks: the same lane moves
// as unpack*_ps/pd, whose GCC 12 intrinsics warn. (Results through pointers: a function returning
// __m512 in a file not compiled for AVX-512 changes the ABI, -Wpsabi.)
__attribute__((target("avx512f"), always_inline)) inline void sum_lanes16(const __m512* v, __m512* out) {
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
__attribute__((target("avx512f"), always_inline)) inline void finish_group(const __m512* sums, const __m512* vc,
                                                                             float* s, __m512* best, __m512* total) {
  _mm256_storeu_ps(s, _mm512_castps512_ps256(_mm512_mul_ps(*sums, *vc)));
  *best = _mm512_max_ps(*best, *sums);
  *total = _mm512_add_ps(*total, *sums);  // not finite when a square overflowed or a key holds NaN
}

// norms[0] = the largest, norms[1] = the sum of the norm lanes of best and total.
__attribute__((target("avx512f"))) inline void finish_norms(const __m512* best, const __m512* total, float* norms) {
  norms[0] = _mm512_mask_reduce_max_ps(0xFF00, *best);
  norms[1] = _mm512_mask_reduce_add_ps(0xFF00, *total);
}

// Adds key row `row`'s NV vectors (the last under the lane mask `last`) into *dot (x·q) and,
// with Measure, *sq (x·x). A full last vector loads without the mask: masked loads of rows that
// come from memory made bf16 decoding 20–30% slower on this machine (AMD Zen 5).
template <int64_t NV, bool Measure>
__attribute__((target("avx512f"), always_inline)) inline void key_dots(const __m512* qv, __mmask16 last,
                                                                         const float* row, __m512* dot, __m512* sq) {
#pragma GCC unroll 16
  for (int64_t v = 0; v < NV; ++v) {
    const __m512 x = v + 1 < NV || last == 0xFFFF ? _mm512_loadu_ps(row + 16 * v)
                                                  : _mm512_maskz_loadu_ps(last, row + 16 * v);
    *dot = _mm512_fmadd_ps(x, qv[v], *dot);
    if constexpr (Measure) *sq = _mm512_fmadd_ps(x, x, *sq);
  }
}

// The key groups of decode_score_row for q in NV vectors: 8 keys per group with their Σ k²
// (Measure), else 16. The key loop is unrolled with a run-time guard per key and everything it
// calls is inlined, so the 16 accumulators stay in registers (a run-time index, or a reduction
// left as a call, puts them on the stack: a store and a load per product).
template <int64_t NV, bool Measure>
__attribute__((target("avx512f"))) inline void score_groups(const __m512* qv, __mmask16 last, const float* k,
                                                              int64_t ldk, int64_t nk, int64_t ncols, float c,
                                                              float* s, float* norms) {
  constexpr int64_t KG = Measure ? 8 : 16;
  const __m512 vc = _mm512_set1_ps(c);
  __m512 best = _mm512_setzero_ps(), total = _mm512_setzero_ps();
  for (int64_t g = 0; g < ncols; g += KG) {
    __m512 acc[16];  // q·k of keys g .. g + KG; with Measure, 8..15: Σ k² of keys g .. g + 8
    for (int t = 0; t < 16; ++t) acc[t] = _mm512_setzero_ps();
    const int64_t n = nk - g;
#pragma GCC unroll 16
    for (int64_t t = 0; t < KG; ++t)
      if (t < n) key_dots<NV, Measure>(qv, last, k + (g + t) * ldk, &acc[t], Measure ? &acc[8 + t % 8] : nullptr);
    __m512 sums;
    sum_lanes16(acc, &sums);
    if constexpr (Measure)
      finish_group(&sums, &vc, s + g, &best, &total);
    else
      _mm512_storeu_ps(s + g, _mm512_mul_ps(sums, vc));
  }
  if constexpr (Measure) finish_norms(&best, &total, norms);
}

// decode_score_row with q in nv = ceil(d / 16) vectors as the template's NV (recursing from 1).
template <int64_t NV>
__attribute__((target("avx512f"))) inline void score_row_nv(int64_t nv, const float* q, __mmask16 last,
                                                              const float* k, int64_t ldk, int64_t nk, int64_t ncols,
                                                              float c, float* s, float* norms) {
  if constexpr (NV < 16) {
    if (nv > NV) return score_row_nv<NV + 1>(nv, q, last, k, ldk, nk, ncols, c, s, norms);
  }
  __m512 qv[NV];
  for (int64_t v = 0; v < NV; ++v)
    qv[v] = v + 1 < NV ? _mm512_loadu_ps(q + 16 * v) : _mm512_maskz_loadu_ps(last, q + 16 * v);
  if (norms)
    score_groups<NV, true>(qv, last, k, ldk, nk, ncols, c, s, norms);
  else
    score_groups<NV, false>(qv, last, k, ldk, nk, ncols, c, s, norms);
}

// s[j] = c · q·k_j for j < ncols (a multiple of 16), key j at k + j·ldk (d floats); keys at or
// past nk score 0 and are not read. With norms (not null), also Σ_c k_jc² of keys j < min(nk,
// ncols): their maximum into norms[0] and their sum into norms[1] (not finite when a square
// overflowed or a key holds NaN). 1 <= d <= 256.
__attribute__((target("avx512f"))) inline void decode_score_row(const float* q, const float* k, int64_t ldk,
                                                                  int64_t nk, int64_t ncols, int64_t d, float c,
                                                                  float* s, float* norms) {
  const int64_t nv = (d + 15) / 16;
  const __mmask16 last = static_cast<__mmask16>(0xFFFFu >> (16 * nv - d));
  score_row_nv<1>(nv, q, last, k, ldk, nk, ncols, c, s, norms);
}

// key_dots for bfloat16 keys (`last` masks bf16 elements) and q pairs.
template <int64_t NV, bool Measure>
__attribute__((target("avx512f,avx512bw,avx512bf16"), always_inline)) inline void key_dots_bf16(
    const __m512bh* qv, __mmask32 last, const uint16_t* row, __m512* dot, __m512* sq) {
#pragma GCC unroll 8
  for (int64_t v = 0; v < NV; ++v) {
    const __m512bh x = v + 1 < NV || last == 0xFFFFFFFFu ? (__m512bh)_mm512_loadu_si512(row + 32 * v)
                                                         : (__m512bh)_mm512_maskz_loadu_epi16(last, row + 32 * v);
    *dot = _mm512_dpbf16_ps(*dot, x, qv[v]);
    if constexpr (Measure) *sq = _mm512_dpbf16_ps(*sq, x, x);
  }
}

// score_groups for bfloat16 keys and q pairs (vdpbf16ps).
template <int64_t NV, bool Measure>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline void score_groups_bf16(
    const __m512bh* qv, __mmask32 last, const uint16_t* k, int64_t ldk, int64_t nk, int64_t ncols, float c, float* s,
    float* norms) {
  constexpr int64_t KG = Measure ? 8 : 16;
  const __m512 vc = _mm512_set1_ps(c);
  __m512 best = _mm512_setzero_ps(), total = _mm512_setzero_ps();
  for (int64_t g = 0; g < ncols; g += KG) {
    __m512 acc[16];  // q·k of keys g .. g + KG; with Measure, 8..15: Σ k² of keys g .. g + 8
    for (int t = 0; t < 16; ++t) acc[t] = _mm512_setzero_ps();
    const int64_t n = nk - g;
#pragma GCC unroll 16
    for (int64_t t = 0; t < KG; ++t)
      if (t < n)
        key_dots_bf16<NV, Measure>(qv, last, k + (g + t) * ldk, &acc[t], Measure ? &acc[8 + t % 8] : nullptr);
    __m512 sums;
    sum_lanes16(acc, &sums);
    if constexpr (Measure)
      finish_group(&sums, &vc, s + g, &best, &total);
    else
      _mm512_storeu_ps(s + g, _mm512_mul_ps(sums, vc));
  }
  if constexpr (Measure) finish_norms(&best, &total, norms);
}

// score_row_nv for bfloat16: q as nv = ceil(d / 32) vectors of pairs.
template <int64_t NV>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline void score_row_nv_bf16(
    int64_t nv, const uint32_t* qp, int64_t d, const uint16_t* k, int64_t ldk, int64_t nk, int64_t ncols, float c,
    float* s, float* norms) {
  if constexpr (NV < 8) {
    if (nv > NV) return score_row_nv_bf16<NV + 1>(nv, qp, d, k, ldk, nk, ncols, c, s, norms);
  }
  const int64_t rest = d - 32 * (NV - 1);  // bf16 values in the last vector, 1 .. 32
  const __mmask32 last = static_cast<__mmask32>(0xFFFFFFFFu >> (32 - rest));
  const __mmask16 last_pairs = static_cast<__mmask16>(0xFFFFu >> (16 - (rest + 1) / 2));
  __m512bh qv[NV];
  for (int64_t v = 0; v < NV; ++v)
    qv[v] = (__m512bh)(v + 1 < NV ? _mm512_loadu_si512(qp + 16 * v)
                                  : _mm512_maskz_loadu_epi32(last_pairs, qp + 16 * v));
  if (norms)
    score_groups_bf16<NV, true>(qv, last, k, ldk, nk, ncols, c, s, norms);
  else
    score_groups_bf16<NV, false>(qv, last, k, ldk, nk, ncols, c, s, norms);
}

// decode_score_row for bfloat16 keys (d values at k + j·ldk) and q as ⌈d/2⌉ bf16 pairs (qp, as
// flash_bf16_tiles.h's RowAsPairs writes them): products of pairs by vdpbf16ps, sums in float32.
// Call only where the CPU has AVX512-BF16.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline void decode_score_row_bf16(
    const uint32_t* qp, const uint16_t* k, int64_t ldk, int64_t nk, int64_t ncols, int64_t d, float c, float* s,
    float* norms) {
  score_row_nv_bf16<1>((d + 31) / 32, qp, d, k, ldk, nk, ncols, c, s, norms);
}

}  // namespace qkv::kernels

#pragma GCC diagnostic pop

#endif
