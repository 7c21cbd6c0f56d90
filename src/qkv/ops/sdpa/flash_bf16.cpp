// bfloat16 fused attention forward: q, k, v in bfloat16, scores, softmax and output in float32.
// Shapes: see flash.h. Forward only (the backward widens to float32 and runs flash_backward).
//
// Two kernels, chosen at run time like the float32 ones: this file is compiled for every SIMD
// target by Highway (foreach_target) and flash_forward_bf16 goes through HWY_DYNAMIC_DISPATCH.
// On the AVX-512 targets, when the CPU has AVX512-BF16 (cpu_info), the native kernel runs: the
// two products use vdpbf16ps, which multiplies pairs of bf16 and accumulates in float32: K is
// packed once per (batch, head) as Kᵀ panels of pairs along d (one 32-bit lane = k[j][2p],
// k[j][2p+1]), V as pairs along the key axis (v[2t][c], v[2t+1][c]) — one key step at a time
// when a head has a single query block (decoding), and with at most four query rows K not at all
// (the scores come straight from its rows, decode_scores_avx512.h), with one row V neither
// (DirectPV); the float32 weights of a tile are rounded to bf16 (vcvtneps2bf16) and broadcast as
// key pairs. The query-block sweep
// and its finish are flash_f32.cpp's (forward_sweep, finish_rows in flash_common.h), except
// that the score tile stores raw q·k and the softmax applies scale·log2(e) in the FMA that
// subtracts the running max (exp2 of s·c − m). Everywhere else (and for Bf16Kernel::widened)
// the inputs are widened to float32 and flash_forward runs (same results up to the bf16
// rounding of the weights). Highway (1.0.3) has no bf16 dot product, so the micro-kernels are
// raw AVX-512 intrinsics, compiled only inside the AVX-512 targets with avx512bf16 added.
// GCC 12 warns inside its own AVX-512 intrinsics (the `__Y = __Y` of _mm512_undefined_*, GCC bug
// 105593, fixed in GCC 13) wherever they are inlined: silenced for this file, before the header.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "qkv/ops/sdpa/flash_bf16.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#if HWY_ARCH_X86
#include <immintrin.h>
#endif

#include <cstring>
#include <vector>

#include "qkv/core/error.h"
#include "qkv/core/parallel.h"
#include "qkv/kernels/cpu_info.h"
#include "qkv/ops/sdpa/flash.h"
#include "qkv/ops/sdpa/decode_scores_avx512.h"
#include "qkv/ops/sdpa/flash_bf16_tiles.h"
#include "qkv/ops/sdpa/flash_common.h"

// QKV_BF16_NATIVE, QKV_BF16_TARGET for this pass's target.
#include "qkv/ops/sdpa/flash_bf16_target.h"

HWY_BEFORE_NAMESPACE();
namespace qkv::kernels {
namespace HWY_NAMESPACE {
namespace {

using namespace qkv::kernels::flash;

#if QKV_BF16_NATIVE

using namespace qkv::kernels::bf16_tiles;

constexpr int64_t kBK = 64;  // keys per score tile and packed Kᵀ panel: 4 vectors of 16 float32 scores
constexpr int64_t kBS = 256; // keys per online-softmax step
constexpr int64_t kMR = 6;   // query rows per micro tile
constexpr int64_t kQB = 8 * kMR;

struct Job {
  FlashDims dm;
  float c = 0;  // scale · log2(e)
  FlashInBf16 q, k, v;
  const FlashMask* mask = nullptr;
  float* out = nullptr;
  float* lse = nullptr;
  int64_t nkb = 0, nqb = 0, d2 = 0, dvp = 0, lk2 = 0;
  // One query block per head (decoding): K and V are packed one key step at a time into buffers
  // that stay in cache, not the whole head up front, so they are read from memory once.
  bool stream = false;
  KeyNorms* key_norms = nullptr;  // measure the streamed keys (flash.h); null when not streaming
  // Streaming few query rows per head (decode_reads_keys_in_place): scores straight from K's rows
  // (decode_scores_avx512.h); with one row, weights times V's rows too (DirectPV), nothing packed.
  bool direct = false, direct_pv = false;
};

struct Scratch {
  std::vector<uint32_t> kt;  // [nkb][d2][kBK] pairs along d
  std::vector<uint32_t> vp;  // [lk2][dvp]      pairs along keys
  std::vector<uint32_t> qp;  // [kQB][d2]       pairs along d
  std::vector<uint16_t> pb;  // [kMR][kBS]      weights in bf16
  Floats o, s;
  float m[kQB], l[kQB], alpha[kQB];
  int64_t kbeg[kQB], kend[kQB];
  std::vector<float> z;
  int64_t packed = -1;  // stream: the first key of the step kt and vp hold
  KeyNorms key_norms;   // what this worker's streamed key steps measured
};

template <typename T>
void Grow(std::vector<T>& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
}

// s[mr][nvec·16] (row stride kBS) for mr <= kMR rows and any nvec, from consecutive Kᵀ panels
// starting at kt (c applied as in TileQK).
template <bool Scale>
QKV_BF16_TARGET void ScoreTile(int64_t mr, int64_t nvec, const uint32_t* a, int64_t d2, const uint32_t* kt, float c,
                               float* s) {
  with_count<kMR>(mr, [&](auto m) {
    constexpr int64_t M = decltype(m)::value;
    for (int64_t v0 = 0; v0 < nvec; v0 += 4, kt += d2 * kBK, s += kBK)
      with_count<4>(nvec - v0, [&](auto nv) {
        TileQK<M, decltype(nv)::value, Scale>(a, d2, kt, kBK, d2, c, s, kBS);
      });
  });
}

// o[M][NV·16] = o·alpha + pb[M][2·nt] · vp[nt][NV·16]   (pairs of keys; alpha null: o starts at 0,
// not read: the first key step of a query block)
template <int64_t M, int64_t NV>
QKV_BF16_TARGET void TilePV(const uint32_t* pb, int64_t nt, const uint32_t* vp, int64_t ldv, float* o, int64_t ldo,
                            const float* alpha) {
  __m512 acc[M][NV];
  for (int64_t r = 0; r < M; ++r)
    for (int64_t v = 0; v < NV; ++v)
      acc[r][v] = alpha ? _mm512_mul_ps(_mm512_loadu_ps(o + r * ldo + v * 16), _mm512_set1_ps(alpha[r]))
                        : _mm512_setzero_ps();
  for (int64_t t = 0; t < nt; ++t) {
    __m512bh b[NV];
    for (int64_t v = 0; v < NV; ++v) b[v] = (__m512bh)_mm512_loadu_si512(vp + t * ldv + v * 16);
    for (int64_t r = 0; r < M; ++r) {
      const __m512bh x = (__m512bh)_mm512_set1_epi32(static_cast<int>(pb[r * (kBS / 2) + t]));
      for (int64_t v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], x, b[v]);
    }
  }
  for (int64_t r = 0; r < M; ++r)
    for (int64_t v = 0; v < NV; ++v) _mm512_storeu_ps(o + r * ldo + v * 16, acc[r][v]);
}

// o[mr][dvp] = o·alpha + pb[mr][2·nt] · vp[nt][dvp] for mr <= kMR rows (dvp a multiple of 16).
QKV_BF16_TARGET void GemmPV(int64_t mr, const uint32_t* pb, int64_t nt, const uint32_t* vp, int64_t dvp, float* o,
                            const float* alpha) {
  with_count<kMR>(mr, [&](auto m) {
    constexpr int64_t M = decltype(m)::value;
    int64_t c0 = 0;
    for (; c0 + 64 <= dvp; c0 += 64) TilePV<M, 4>(pb, nt, vp + c0, dvp, o + c0, dvp, alpha);
    if (c0 < dvp)
      with_count<3>((dvp - c0) / 16, [&](auto nv) {
        TilePV<M, decltype(nv)::value>(pb, nt, vp + c0, dvp, o + c0, dvp, alpha);
      });
  });
}

// o[dv] = o·alpha + p[n] · V[n][dv] for one query row straight from V's rows (key j at v + j·ldv),
// columns c0 .. c0 + 32·NC: no packing of V into key pairs. vdpbf16ps with the weight paired with
// zero, (p, 0) and (0, p), takes a 32-value chunk's even and odd values into two float32
// accumulators, interleaved into columns once per key step. Twice the vdpbf16ps of key pairs,
// which pays when one row uses them and not when a packed step serves several (grouped decoding
// lost 9–33%). Only columns below dv are written (alpha null: o starts at 0, not read).
template <int64_t NC>
QKV_BF16_TARGET void SlabPV(const uint16_t* p, int64_t n, const uint16_t* v, int64_t ldv, int64_t c0, int64_t dv,
                            float* o, const float* alpha) {
  __m512 even[NC], odd[NC];
  for (int64_t c = 0; c < NC; ++c) even[c] = odd[c] = _mm512_setzero_ps();
  const int64_t rest = dv - c0 - 32 * (NC - 1);  // values in the last chunk: 1 .. 32, or more (full)
  const __mmask32 last = rest >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << rest) - 1u);
  for (int64_t j = 0; j < n; ++j) {
    const uint16_t* row = v + j * ldv + c0;
    const __m512bh pe = (__m512bh)_mm512_set1_epi32(static_cast<int>(uint32_t{p[j]}));
    const __m512bh po = (__m512bh)_mm512_set1_epi32(static_cast<int>(uint32_t{p[j]} << 16));
    for (int64_t c = 0; c < NC; ++c) {  // a masked load only for a partial chunk (see decode_scores_avx512.h)
      const __m512bh x = (__m512bh)(c + 1 < NC || rest >= 32 ? _mm512_loadu_si512(row + 32 * c)
                                                             : _mm512_maskz_loadu_epi16(last, row + 32 * c));
      even[c] = _mm512_dpbf16_ps(even[c], x, pe);
      odd[c] = _mm512_dpbf16_ps(odd[c], x, po);
    }
  }
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (int64_t c = 0; c < NC; ++c) {
    float* dst = o + c0 + 32 * c;
    const __m512 cols[2] = {_mm512_permutex2var_ps(even[c], lo, odd[c]), _mm512_permutex2var_ps(even[c], hi, odd[c])};
    for (int64_t half = 0; half < 2 && c0 + 32 * c + 16 * half < dv; ++half)
      _mm512_storeu_ps(dst + 16 * half, alpha ? _mm512_fmadd_ps(_mm512_loadu_ps(dst + 16 * half),
                                                                _mm512_set1_ps(*alpha), cols[half])
                                              : cols[half]);
  }
}

// SlabPV over all dv columns, in slabs of up to 256 (16 accumulators).
QKV_BF16_TARGET void DirectPV(const uint16_t* p, int64_t n, const uint16_t* v, int64_t ldv, int64_t dv, float* o,
                              const float* alpha) {
  for (int64_t c0 = 0; c0 < dv; c0 += 256)
    with_count<8>(ceil_div(dv - c0, 32), [&](auto nc) { SlabPV<decltype(nc)::value>(p, n, v, ldv, c0, dv, o, alpha); });
}

// One online-softmax step for the M rows of a micro tile, each nvec vectors of scores (row
// stride kBS) that become log2-domain scores when multiplied by c > 0 (c = 1: already scaled):
// running max m (log2 domain) and sum l updated, alpha[r] = 2^(m_old − m_new) (1 when
// the max did not grow), weights rounded to bf16 into pb (row stride kBS). With Dropout the
// float32 weights are left in s for the caller to scale and round. The rows are independent, so
// their reductions and exponentials interleave.
template <int64_t M, bool Dropout>
QKV_BF16_TARGET void OnlineSoftmaxBlock(float* s, int64_t nvec, float c, float* m, float* l, float* alpha,
                                        uint16_t* pb) {
  alignas(64) float diff[16] = {};
  float muse[M];
  for (int64_t r = 0; r < M; ++r) {
    const float* sr = s + r * kBS;
    __m512 mx0 = _mm512_load_ps(sr), mx1 = mx0;
    for (int64_t v = 1; v + 1 < nvec; v += 2) {
      mx0 = _mm512_max_ps(mx0, _mm512_load_ps(sr + v * 16));
      mx1 = _mm512_max_ps(mx1, _mm512_load_ps(sr + (v + 1) * 16));
    }
    if ((nvec & 1) == 0) mx0 = _mm512_max_ps(mx0, _mm512_load_ps(sr + (nvec - 1) * 16));
    const float mnew = std::max(m[r], _mm512_reduce_max_ps(_mm512_max_ps(mx0, mx1)) * c);
    muse[r] = mnew == kNegInf ? 0.0f : mnew;  // a row with nothing visible yet keeps weights 0
    diff[r] = m[r] - muse[r];
    m[r] = mnew;
  }
  _mm512_store_ps(diff, Exp2(_mm512_load_ps(diff)));
  for (int64_t r = 0; r < M; ++r) {
    float* sr = s + r * kBS;
    const __m512 vm = _mm512_set1_ps(muse[r]), vc = _mm512_set1_ps(c);
    __m512 sum0 = _mm512_setzero_ps(), sum1 = _mm512_setzero_ps();
    int64_t v = 0;
    for (; v + 2 <= nvec; v += 2) {
      const __m512 e0 = Exp2(_mm512_fmsub_ps(_mm512_load_ps(sr + v * 16), vc, vm));
      const __m512 e1 = Exp2(_mm512_fmsub_ps(_mm512_load_ps(sr + (v + 1) * 16), vc, vm));
      sum0 = _mm512_add_ps(sum0, e0);
      sum1 = _mm512_add_ps(sum1, e1);
      if constexpr (Dropout) {
        _mm512_store_ps(sr + v * 16, e0);
        _mm512_store_ps(sr + (v + 1) * 16, e1);
      } else {
        _mm512_storeu_si512(pb + r * kBS + v * 16, (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
      }
    }
    if (v < nvec) {
      const __m512 e0 = Exp2(_mm512_fmsub_ps(_mm512_load_ps(sr + v * 16), vc, vm));
      sum0 = _mm512_add_ps(sum0, e0);
      if constexpr (Dropout)
        _mm512_store_ps(sr + v * 16, e0);
      else
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(pb + r * kBS + v * 16), (__m256i)_mm512_cvtneps_pbh(e0));
    }
    alpha[r] = diff[r];
    l[r] = l[r] * diff[r] + _mm512_reduce_add_ps(_mm512_add_ps(sum0, sum1));
  }
}

// Packs keys [j0, j0 + n) of head (b, h): K as Kᵀ panels of pairs along d (panel 0 starts at key
// j0; keys of the last panel beyond n are 0), V as pairs along the keys (pair row 0 = keys j0, j0 + 1).
QKV_BF16_TARGET void PackKeys(const Job& J, Scratch& sc, int64_t b, int64_t h, int64_t j0, int64_t n) {
  const int64_t d2 = J.d2, tail = n % kBK;
  if (tail) {
    uint32_t* last = sc.kt.data() + (n / kBK) * d2 * kBK;
    for (int64_t p = 0; p < d2; ++p) std::memset(last + p * kBK + tail, 0, sizeof(uint32_t) * static_cast<size_t>(kBK - tail));
  }
  for (int64_t t0 = 0; t0 < n; t0 += kBK)
    PackPairColumns(J.k.row(b, h, j0 + t0), J.k.si, std::min(kBK, n - t0), J.dm.d, sc.kt.data() + (t0 / kBK) * d2 * kBK,
                    kBK);
  PackRowPairs(J.v.row(b, h, j0), J.v.si, n, J.dm.dv, sc.vp.data(), J.dvp);
}

// Notes in `seen` the row norms of the n keys PackKeys just packed, read back from cache: Kᵀ
// panels of pairs (d2 × kBK each), one key per lane, a pair's two bf16 widened by a shift and a
// mask; 2 × 4 independent sums per panel.
QKV_BF16_TARGET void NoteKeyNorms(const uint32_t* kt, int64_t n, int64_t d2, KeyNorms& seen) {
  constexpr int64_t NV = kBK / 16;
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m512 best = _mm512_setzero_ps(), total = _mm512_setzero_ps();
  for (int64_t kb = 0; kb < ceil_div(n, kBK); ++kb) {
    const uint32_t* panel = kt + kb * d2 * kBK;
    __m512 lo[NV], hi[NV];
    for (int64_t v = 0; v < NV; ++v) lo[v] = hi[v] = _mm512_setzero_ps();
    for (int64_t p = 0; p < d2; ++p)
      for (int64_t v = 0; v < NV; ++v) {
        const __m512i x = _mm512_loadu_si512(panel + p * kBK + v * 16);
        const __m512 even = _mm512_castsi512_ps(_mm512_slli_epi32(x, 16));
        const __m512 odd = _mm512_castsi512_ps(_mm512_and_si512(x, high));
        lo[v] = _mm512_fmadd_ps(even, even, lo[v]);
        hi[v] = _mm512_fmadd_ps(odd, odd, hi[v]);
      }
    for (int64_t v = 0; v < NV; ++v) {
      const __m512 sq = _mm512_add_ps(lo[v], hi[v]);
      best = _mm512_max_ps(best, sq);
      total = _mm512_add_ps(total, sq);  // not finite when a square overflowed or a key holds NaN
    }
  }
  note_key_norms(seen, _mm512_reduce_max_ps(best), _mm512_reduce_add_ps(total), n);
}

// Scores of micro-tile rows r0 .. r0 + mr (query pairs qrows, row stride d2; s row stride kBS,
// nvec vectors each) from K's rows (key j0 at k; nk keys in the step), times c; row 0 of the
// block also notes its keys' norms when the call measures them.
QKV_BF16_TARGET void DirectScores(const Job& J, int64_t mr, int64_t r0, int64_t nvec, const uint32_t* qrows,
                                  const uint16_t* k, int64_t nk, float c, Scratch& sc) {
  for (int64_t r = 0; r < mr; ++r) {
    const bool note = J.key_norms && r0 + r == 0;
    float norms[2];
    decode_score_row_bf16(qrows + r * J.d2, k, J.k.si, nk, nvec * 16, J.dm.d, c, sc.s.p + r * kBS,
                          note ? norms : nullptr);
    if (note) note_key_norms(sc.key_norms, norms[0], norms[1], std::min(nk, nvec * 16));
  }
}

// Query block qb of head bh: the sweep of forward_sweep with bf16 products, then finish_rows.
QKV_BF16_TARGET void ForwardItem(const Job& J, Scratch& sc, int64_t bh, int64_t qb) {
  const FlashDims& dm = J.dm;
  const FlashMask& mask = *J.mask;
  const int64_t H = dm.H, Lq = dm.Lq, Lk = dm.Lk, d = dm.d, dv = dm.dv, d2 = J.d2, dvp = J.dvp;
  const int64_t b = bh / H, h = bh % H;
  const int64_t i0 = qb * kQB, rows = std::min(kQB, Lq - i0);
  const bool general = has_general(mask), dropout = mask.dropout_p > 0.0;
  // The bias of a general mask is added in the log2 domain, and c <= 0 does not commute with
  // the max: then the tile applies c and the softmax uses 1.
  const bool scale_in_tile = general || !(J.c > 0.0f);
  const float csoft = scale_in_tile ? 1.0f : J.c;
  for (int64_t r = 0; r < rows; ++r) RowAsPairs(J.q.row(b, h, i0 + r), d, sc.qp.data() + r * d2);
  // No clearing of o: the first key step (j0 = 0) writes every row of each micro tile that
  // runs, and a micro tile skipped there has only rows without visible keys (l = 0, o unread).
  auto step = [&](int64_t r0, int64_t mr, int64_t j0, int64_t nk, int64_t nvis, int64_t lo, int64_t) {
    const int64_t nvec = ceil_div(nvis, 16);
    const uint32_t* qrows = sc.qp.data() + r0 * d2;
    const uint32_t* kpanel = sc.kt.data() + (j0 / kBK) * d2 * kBK;
    const uint32_t* vpairs = sc.vp.data() + (j0 / 2) * dvp;
    if (J.stream) {
      if (j0 != sc.packed) {
        if (!J.direct) {
          PackKeys(J, sc, b, h, j0, nk);
          if (J.key_norms) NoteKeyNorms(sc.kt.data(), nk, d2, sc.key_norms);
        } else if (!J.direct_pv) {
          PackRowPairs(J.v.row(b, h, j0), J.v.si, nk, dv, sc.vp.data(), dvp);
        }
      }
      sc.packed = j0;
      kpanel = sc.kt.data();
      vpairs = sc.vp.data();
    }
    if (J.direct)
      DirectScores(J, mr, r0, nvec, qrows, J.k.row(b, h, j0), nk, scale_in_tile ? J.c : 1.0f, sc);
    else if (scale_in_tile)
      ScoreTile<true>(mr, nvec, qrows, d2, kpanel, J.c, sc.s.p);
    else
      ScoreTile<false>(mr, nvec, qrows, d2, kpanel, J.c, sc.s.p);
    for (int64_t r = 0; r < mr; ++r) {
      float* srow = sc.s.p + r * kBS;
      const int64_t ke = sc.kend[r0 + r];
      if (general || lo < j0 + nvec * 16) MaskBeyond(srow, nvec, ke - j0);
      if (general && ke > j0) apply_general(mask, b, h, i0 + r0 + r, j0, std::min(nk, ke - j0), srow);
    }
    with_count<kMR>(mr, [&](auto m) {
      constexpr int64_t M = decltype(m)::value;
      if (!dropout) {
        OnlineSoftmaxBlock<M, false>(sc.s.p, nvec, csoft, sc.m + r0, sc.l + r0, sc.alpha + r0, sc.pb.data());
        return;
      }
      OnlineSoftmaxBlock<M, true>(sc.s.p, nvec, csoft, sc.m + r0, sc.l + r0, sc.alpha + r0, sc.pb.data());
      for (int64_t r = 0; r < M; ++r) {
        dropout_factors(mask, bh, Lq, Lk, i0 + r0 + r, j0, nvis, sc.z.data());
        float* srow = sc.s.p + r * kBS;
        for (int64_t j = 0; j < nvec * 16; ++j) srow[j] = j < nvis ? srow[j] * sc.z[static_cast<size_t>(j)] : 0.0f;
        for (int64_t v = 0; v < nvec; ++v)
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(sc.pb.data() + r * kBS + v * 16),
                              (__m256i)_mm512_cvtneps_pbh(_mm512_load_ps(srow + v * 16)));
      }
    });
    if (J.direct_pv)
      DirectPV(sc.pb.data(), nvis, J.v.row(b, h, j0), J.v.si, dv, sc.o.p, j0 == 0 ? nullptr : sc.alpha);
    else
      GemmPV(mr, reinterpret_cast<const uint32_t*>(sc.pb.data()), (nvis + 1) / 2, vpairs, dvp,
             sc.o.p + r0 * dvp, j0 == 0 ? nullptr : sc.alpha + r0);
  };
  forward_sweep<kMR, kBS>(mask, Lk, b, i0, rows, sc.kbeg, sc.kend, sc.m, sc.l, step);
  finish_rows(rows, sc.o.p, dvp, sc.m, sc.l, dv, J.out + (bh * Lq + i0) * dv, J.lse + bh * Lq + i0);
}

void ForwardNative(const FlashDims& dm, float scale, const FlashInBf16& q, const FlashInBf16& k, const FlashInBf16& v,
                   const FlashMask& mask, float* out, float* lse, KeyNorms* key_norms) {
  Job J;
  J.dm = dm;
  J.c = scale * kLog2e;
  J.q = q;
  J.k = k;
  J.v = v;
  J.mask = &mask;
  J.out = out;
  J.lse = lse;
  J.nkb = ceil_div(dm.Lk, kBK);
  J.nqb = ceil_div(dm.Lq, kQB);
  J.d2 = (dm.d + 1) / 2;
  J.dvp = round_up(dm.dv, 16);
  J.lk2 = (dm.Lk + 1) / 2;
  J.stream = J.nqb == 1;
  J.key_norms = J.stream ? key_norms : nullptr;
  J.direct = J.stream && decode_reads_keys_in_place(dm.Lq, dm.d);
  J.direct_pv = J.direct && dm.Lq == 1;
  // Items (bh, query block); costs, bounds and per-worker scratch live on the calling thread
  // between calls and only grow: no allocation in steady state.
  thread_local PassState<Scratch> state;
  PassState<Scratch>& st = state;
  query_block_costs(dm, mask, kQB, kBK, st.cost);
  const int workers = st.plan();
  const std::vector<int64_t>& bounds = st.bounds;
  std::vector<Scratch>& scratch = st.scratch;
  for (int w = 0; w < workers; ++w) {
    Scratch& sc = scratch[static_cast<size_t>(w)];
    Grow(sc.kt, (J.stream ? kBS / kBK : std::max<int64_t>(J.nkb, 1)) * J.d2 * kBK + 16);
    Grow(sc.vp, ((J.stream ? kBS / 2 : J.lk2) + kBK) * J.dvp + 16);
    Grow(sc.qp, kQB * J.d2 + 16);
    Grow(sc.pb, kMR * kBS);
    sc.o.reserve(kQB * J.dvp);
    sc.s.reserve(kMR * kBS);
    Grow(sc.z, kBS);
    sc.key_norms = {};
  }
  parallel_workers(workers, [&](int w, int) {
    Scratch& sc = scratch[static_cast<size_t>(w)];
    int64_t cur = -1;
    for (int64_t it = bounds[static_cast<size_t>(w)]; it < bounds[static_cast<size_t>(w) + 1]; ++it) {
      const int64_t bh = it / J.nqb, qb = it % J.nqb;
      if (J.stream) {
        sc.packed = -1;
      } else if (bh != cur) {
        PackKeys(J, sc, bh / dm.H, bh % dm.H, 0, dm.Lk);
        cur = bh;
      }
      ForwardItem(J, sc, bh, qb);
    }
  });
  if (J.key_norms)
    for (int w = 0; w < workers; ++w) merge_key_norms(scratch[static_cast<size_t>(w)].key_norms, *J.key_norms);
}

#endif  // QKV_BF16_NATIVE

// q, k, v widened to float32, then the float32 kernel (on the same dispatched target).
void ForwardWidened(const FlashDims& dm, float scale, const FlashInBf16& q, const FlashInBf16& k,
                    const FlashInBf16& v, const FlashMask& mask, float* out, float* lse, KeyNorms* key_norms) {
  const WidenedQkv w = widen_qkv(dm, q, k, v);
  flash_forward(dm, scale, w.qv, w.kv, w.vv, mask, out, lse, key_norms);
}

}  // namespace

// Whether this target has the native kernel and the CPU the instructions it needs.
bool NativeBf16Impl() {
#if QKV_BF16_NATIVE
  static const bool cpu_has_bf16 = cpu_info().avx512_bf16;
  return cpu_has_bf16;
#else
  return false;
#endif
}

void ForwardBf16Impl(Bf16Kernel kernel, const FlashDims& dm, float scale, const FlashInBf16& q,
                     const FlashInBf16& k, const FlashInBf16& v, const FlashMask& mask, float* out, float* lse,
                     KeyNorms* key_norms) {
  if (key_norms) *key_norms = {};
  QKV_CHECK(kernel == Bf16Kernel::widened || NativeBf16Impl(), "flash_forward_bf16_with: kernel is native but ",
            "this CPU (SIMD target ", hwy::TargetName(HWY_TARGET), ") has no AVX512-BF16 kernel; expected widened");
  QKV_CHECK(kernel == Bf16Kernel::widened || (!has_variant(mask) && dm.group() == 1),
            "flash_forward_bf16_with: kernel is native but the call uses a variant (window, ALiBi, softcap or "
            "grouped K/V heads), which only the widened kernel runs; expected widened");
  if (dm.B * dm.H * dm.Lq == 0) return;
#if QKV_BF16_NATIVE
  if (kernel == Bf16Kernel::native) {
    ForwardNative(dm, scale, q, k, v, mask, out, lse, key_norms);
    return;
  }
#endif
  ForwardWidened(dm, scale, q, k, v, mask, out, lse, key_norms);
}

}  // namespace HWY_NAMESPACE
}  // namespace qkv::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkv::kernels {

HWY_EXPORT(NativeBf16Impl);
HWY_EXPORT(ForwardBf16Impl);

bool flash_bf16_native() { return HWY_DYNAMIC_DISPATCH(NativeBf16Impl)(); }

void flash_forward_bf16_with(Bf16Kernel kernel, const FlashDims& dims, float scale, const FlashInBf16& q,
                             const FlashInBf16& k, const FlashInBf16& v, const FlashMask& mask, float* out,
                             float* lse, KeyNorms* key_norms) {
  HWY_DYNAMIC_DISPATCH(ForwardBf16Impl)(kernel, dims, scale, q, k, v, mask, out, lse, key_norms);
}

void flash_forward_bf16(const FlashDims& dims, float scale, const FlashInBf16& q, const FlashInBf16& k,
                        const FlashInBf16& v, const FlashMask& mask, float* out, float* lse,
                        KeyNorms* key_norms) {
  FlashDims dm = dims;
  FlashInBf16 qv = q;
  FlashMask m = mask;
  flash::group_rows_for_decoding(dm, qv, m);  // changes them only for grouped decoding
  const bool native = flash_bf16_native() && !has_variant(m) && dm.group() == 1;
  flash_forward_bf16_with(native ? Bf16Kernel::native : Bf16Kernel::widened, dm, scale, qv, k, v, m, out, lse,
                          key_norms);
}

}  // namespace qkv::kernels
#endif
