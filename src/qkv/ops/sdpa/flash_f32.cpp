// Float32 fused attention: forward (online softmax), weights from the saved lse, and backward
// (FlashAttention-2: recompute P, D = rowsum(dO∘O), dS = P∘(dP − D)). Shapes: see flash.h.
//
// Tiles. Scores are computed up to kBK = 4 vectors of keys at a time (64 keys on AVX-512) for
// kMR query rows (6 on AVX-512): a kMR×4-vector accumulator block stays in registers while the
// depth loop broadcasts one q element per row and loads one packed Kᵀ row. Scores live in the
// log2 domain: scale·log2(e) is applied to the accumulators, so exp2 (a degree-6 polynomial
// times an exponent-bit 2^n) gives the weights.
// Forward: K is packed once per (batch, head) per worker into Kᵀ panels (d × kBK per 64 keys)
// — or, when a head has a single query block that no other head shares (decoding), one key step
// at a time into panels that stay in cache; with at most four query rows on AVX-512
// (decode_reads_keys_in_place), not at all: the scores come straight from K's rows
// (decode_scores_avx512.h), which also give the keys' norms for the score-range check (KeyNorms);
// V is read in place (padded copy only when dv is not a multiple of the vector width). A query
// block of kQF rows sweeps the keys kBS = 256 at a time; for each micro tile of kMR rows the
// scores, one online-softmax step (row maxima and exponentials of the kMR rows interleaved,
// output rescaled by 2^(m_old − m_new), exactly 1 when the max did not grow) and O += P·V run
// back to back, so the key/value block is reused by every micro tile while it sits in L1/L2.
// The sweep over key steps and micro tiles and its finish (out = o / l, lse) are flash_common.h's
// forward_sweep and finish_rows, shared with the bf16 kernel.
// Causal and valid-length limits: a micro tile computes only the key vectors some of its rows
// can see; tiles entirely past their rows' limits are skipped.
// Backward: work items are (batch·key/value head, 64-key block), split over the workers by cost,
// so both cores work even for B·H = 1; dK and dV of a key block are owned by one worker, which
// sums them over the query heads of the group (GQA); dQ is accumulated per worker (worker 0
// straight into dq) and summed at the end.
// Variants (flash.h): grouped K/V heads are read in place (query head h reads K/V head h / G;
// the forward packs K once per group); the window's left edge is a per-row key begin, so whole
// key steps, micro tiles and query blocks outside the band are skipped (cost ∝ N·window); ALiBi
// and the softcap are applied per row on the scores by MaskRow, only in calls that use them
// (plain calls take the same branches as before); the backward multiplies dS by the softcap's
// derivative 1 − tanh².
// Decoding: a grouped call with one query per head runs as Hkv heads of G rows
// (flash_common.h's group_rows_for_decoding), so a group's K and V are read once. When
// B·H·(query blocks) is below the thread count, the forward splits each item's
// keys over the workers and merges the partial (m, l, o) by log-sum-exp (MergeSplits), so one
// sequence with Lq = 1 keeps both cores busy. The backward has no such split.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "qkv/ops/sdpa/flash_f32.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cstring>

#include "qkv/core/parallel.h"
#include "qkv/ops/sdpa/flash.h"
#include "qkv/ops/sdpa/flash_common.h"
#include "qkv/ops/sdpa/decode_scores_avx512.h"
#include "qkv/ops/sdpa/transpose_avx512.h"

HWY_BEFORE_NAMESPACE();
namespace qkv::kernels {
namespace HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;
using namespace qkv::kernels::flash;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
constexpr int64_t kL = static_cast<int64_t>(hn::MaxLanes(DF()));
constexpr int64_t kNV = 4;           // vectors per tile row (keys in score tiles, columns in output tiles)
constexpr int64_t kBK = kNV * kL;    // keys per score tile (and per packed Kᵀ panel)
constexpr int64_t kBS = 4 * kBK;     // keys per online-softmax step of the forward
#if HWY_TARGET <= HWY_AVX3
constexpr int64_t kMR = 6;           // rows per micro tile: 6×4 accumulators of 32 registers
#elif HWY_TARGET <= HWY_SSE4
constexpr int64_t kMR = 3;           // 16 registers
#else
constexpr int64_t kMR = 2;
#endif
constexpr int64_t kQF = 16 * kMR;    // query rows per block of the forward and weights passes
constexpr int64_t kQB = 8 * kMR;     // query rows per block of the backward (dV, dK accumulation)

// 2^x for x <= 0 (x < −127 gives 0, so −inf gives exactly 0).
HWY_INLINE VF Exp2(VF x) {
  const DF df;
  const hn::RebindToSigned<DF> di;
  x = hn::Max(x, hn::Set(df, -127.0f));
  const auto n = hn::NearestInt(x);
  const VF f = hn::Sub(x, hn::ConvertTo(df, n));  // [−0.5, 0.5]
  VF p = hn::Set(df, 1.5403530393381606e-4f);
  p = hn::MulAdd(p, f, hn::Set(df, 1.3333558146428443e-3f));
  p = hn::MulAdd(p, f, hn::Set(df, 9.618129107628477e-3f));
  p = hn::MulAdd(p, f, hn::Set(df, 5.550410866482158e-2f));
  p = hn::MulAdd(p, f, hn::Set(df, 2.402265069591007e-1f));
  p = hn::MulAdd(p, f, hn::Set(df, 6.931471805599453e-1f));
  p = hn::MulAdd(p, f, hn::Set(df, 1.0f));
  const VF two_n = hn::BitCast(df, hn::ShiftLeft<23>(hn::Add(n, hn::Set(di, 127))));
  return hn::Mul(p, two_n);
}

// tanh(x): Eigen's rational approximation (odd degree-13 numerator over even degree-6 denominator,
// x clamped to ±7.9988, where tanh rounds to ±1) with the quotient from a 14-bit reciprocal and one
// Newton step: within 3.5e-7 of tanh, relative and absolute (about 3 ulp; measured against
// float64 tanh on [−20, 20]), in a third of hn::Tanh's time (no expm1, no division).
HWY_INLINE VF TanhRational(VF x) {
  const DF df;
  const VF limit = hn::Set(df, 7.99881172180175781f);
  x = hn::Min(hn::Max(x, hn::Neg(limit)), limit);
  const VF x2 = hn::Mul(x, x);
  VF p = hn::MulAdd(x2, hn::Set(df, -2.76076847742355e-16f), hn::Set(df, 2.00018790482477e-13f));
  p = hn::MulAdd(x2, p, hn::Set(df, -8.60467152213735e-11f));
  p = hn::MulAdd(x2, p, hn::Set(df, 5.12229709037114e-08f));
  p = hn::MulAdd(x2, p, hn::Set(df, 1.48572235717979e-05f));
  p = hn::MulAdd(x2, p, hn::Set(df, 6.37261928875436e-04f));
  p = hn::MulAdd(x2, p, hn::Set(df, 4.89352455891786e-03f));
  p = hn::Mul(x, p);
  VF q = hn::MulAdd(x2, hn::Set(df, 1.19825839466702e-06f), hn::Set(df, 1.18534705686654e-04f));
  q = hn::MulAdd(x2, q, hn::Set(df, 2.26843463243900e-03f));
  q = hn::MulAdd(x2, q, hn::Set(df, 4.89352518554385e-03f));
  VF r = hn::ApproximateReciprocal(q);
  r = hn::Mul(r, hn::NegMulAdd(q, r, hn::Set(df, 2.0f)));
  return hn::Mul(p, r);
}

// s[MR][NV·kL] (row stride lds) = c · a[MR rows, depth] · bt[depth][kBK]   (bt: a packed Kᵀ panel, aligned)
template <int64_t MR, int64_t NV>
HWY_INLINE void TileQK(const float* HWY_RESTRICT a, int64_t lda, const float* HWY_RESTRICT bt, int64_t depth, float c,
                       float* HWY_RESTRICT s, int64_t lds) {
  const DF df;
  VF acc[MR][NV];
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t v = 0; v < NV; ++v) acc[r][v] = hn::Zero(df);
  for (int64_t p = 0; p < depth; ++p) {
    const float* brow = bt + p * kBK;
    VF bv[NV];
    for (int64_t v = 0; v < NV; ++v) bv[v] = hn::Load(df, brow + v * kL);
    for (int64_t r = 0; r < MR; ++r) {
      const VF x = hn::Set(df, a[r * lda + p]);
      for (int64_t v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(x, bv[v], acc[r][v]);
    }
  }
  const VF vc = hn::Set(df, c);
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t v = 0; v < NV; ++v) hn::Store(hn::Mul(acc[r][v], vc), df, s + r * lds + v * kL);
}

// o[MR][NV·kL] = o·alpha[r] (alpha may be null) + p[MR][n] · x[n][NV·kL]
template <int64_t MR, int64_t NV>
HWY_INLINE void TileNN(const float* HWY_RESTRICT p, int64_t ldp, int64_t n, const float* HWY_RESTRICT x, int64_t ldx,
                       float* HWY_RESTRICT o, int64_t ldo, const float* alpha) {
  const DF df;
  VF acc[MR][NV];
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t v = 0; v < NV; ++v) {
      acc[r][v] = hn::LoadU(df, o + r * ldo + v * kL);
      if (alpha) acc[r][v] = hn::Mul(acc[r][v], hn::Set(df, alpha[r]));
    }
  for (int64_t j = 0; j < n; ++j) {
    VF xv[NV];
    for (int64_t v = 0; v < NV; ++v) xv[v] = hn::LoadU(df, x + j * ldx + v * kL);
    for (int64_t r = 0; r < MR; ++r) {
      const VF w = hn::Set(df, p[r * ldp + j]);
      for (int64_t v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(w, xv[v], acc[r][v]);
    }
  }
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t v = 0; v < NV; ++v) hn::StoreU(acc[r][v], df, o + r * ldo + v * kL);
}

// o[JR][NV·kL] += Σ_i a[i][JR] · x[i][NV·kL]   (a read down a column: aᵀ x)
template <int64_t JR, int64_t NV>
HWY_INLINE void TileTN(const float* HWY_RESTRICT a, int64_t lda, int64_t n, const float* HWY_RESTRICT x, int64_t ldx,
                       float* HWY_RESTRICT o, int64_t ldo) {
  const DF df;
  VF acc[JR][NV];
  for (int64_t r = 0; r < JR; ++r)
    for (int64_t v = 0; v < NV; ++v) acc[r][v] = hn::LoadU(df, o + r * ldo + v * kL);
  for (int64_t i = 0; i < n; ++i) {
    VF xv[NV];
    for (int64_t v = 0; v < NV; ++v) xv[v] = hn::LoadU(df, x + i * ldx + v * kL);
    for (int64_t r = 0; r < JR; ++r) {
      const VF w = hn::Set(df, a[i * lda + r]);
      for (int64_t v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(w, xv[v], acc[r][v]);
    }
  }
  for (int64_t r = 0; r < JR; ++r)
    for (int64_t v = 0; v < NV; ++v) hn::StoreU(acc[r][v], df, o + r * ldo + v * kL);
}

// Runs TileNN over `rows` rows and `width` columns (a multiple of kL).
void GemmNN(int64_t rows, int64_t width, const float* p, int64_t ldp, int64_t n, const float* x, int64_t ldx, float* o,
            int64_t ldo, const float* alpha) {
  for (int64_t r0 = 0; r0 < rows; r0 += kMR) {
    with_count<kMR>(std::min(kMR, rows - r0), [&](auto mr) {
      constexpr int64_t MR = decltype(mr)::value;
      const float* al = alpha ? alpha + r0 : nullptr;
      int64_t c0 = 0;
      for (; c0 + kNV * kL <= width; c0 += kNV * kL)
        TileNN<MR, kNV>(p + r0 * ldp, ldp, n, x + c0, ldx, o + r0 * ldo + c0, ldo, al);
      switch ((width - c0) / kL) {
        case 1: TileNN<MR, 1>(p + r0 * ldp, ldp, n, x + c0, ldx, o + r0 * ldo + c0, ldo, al); break;
        case 2: TileNN<MR, 2>(p + r0 * ldp, ldp, n, x + c0, ldx, o + r0 * ldo + c0, ldo, al); break;
        case 3: TileNN<MR, 3>(p + r0 * ldp, ldp, n, x + c0, ldx, o + r0 * ldo + c0, ldo, al); break;
        default: break;
      }
    });
  }
}

// o[cols][width] += a[n][cols]ᵀ · x[n][width]
void GemmTN(int64_t cols, int64_t width, const float* a, int64_t lda, int64_t n, const float* x, int64_t ldx, float* o,
            int64_t ldo) {
  for (int64_t j0 = 0; j0 < cols; j0 += kMR) {
    with_count<kMR>(std::min(kMR, cols - j0), [&](auto jr) {
      constexpr int64_t JR = decltype(jr)::value;
      int64_t c0 = 0;
      for (; c0 + kNV * kL <= width; c0 += kNV * kL)
        TileTN<JR, kNV>(a + j0, lda, n, x + c0, ldx, o + j0 * ldo + c0, ldo);
      switch ((width - c0) / kL) {
        case 1: TileTN<JR, 1>(a + j0, lda, n, x + c0, ldx, o + j0 * ldo + c0, ldo); break;
        case 2: TileTN<JR, 2>(a + j0, lda, n, x + c0, ldx, o + j0 * ldo + c0, ldo); break;
        case 3: TileTN<JR, 3>(a + j0, lda, n, x + c0, ldx, o + j0 * ldo + c0, ldo); break;
        default: break;
      }
    });
  }
}

// s[mr][nvec·kL] (row stride lds) = c · a · Kᵀ for mr <= kMR rows and nvec vectors of keys from
// consecutive Kᵀ panels starting at bt, the first key being vector voff (< kNV) of the first panel.
HWY_INLINE void ScoreTile(int64_t mr, int64_t nvec, const float* a, int64_t lda, const float* bt, int64_t depth,
                          float c, float* s, int64_t lds, int64_t voff = 0) {
  with_count<kMR>(mr, [&](auto m) {
    constexpr int64_t MR = decltype(m)::value;
    for (int64_t v0 = 0; v0 < nvec; bt += depth * kBK) {
      const int64_t n = std::min(kNV - voff, nvec - v0);
      const float* panel = bt + voff * kL;
      switch (n) {
        case 1: TileQK<MR, 1>(a, lda, panel, depth, c, s, lds); break;
        case 2: TileQK<MR, 2>(a, lda, panel, depth, c, s, lds); break;
        case 3: TileQK<MR, 3>(a, lda, panel, depth, c, s, lds); break;
        default: TileQK<MR, 4>(a, lda, panel, depth, c, s, lds); break;
      }
      v0 += n;
      s += n * kL;
      voff = 0;
    }
  });
}

// Scores of keys outside [kbeg, kend) become −inf.
HWY_INLINE void MaskKeys(float* s, int64_t nvec, int64_t j0, int64_t kbeg, int64_t kend) {
  const DF df;
  const VF lo = hn::Set(df, static_cast<float>(kbeg - j0)), hi = hn::Set(df, static_cast<float>(kend - j0));
  const VF ninf = hn::Set(df, kNegInf);
  for (int64_t v = 0; v < nvec; ++v) {
    const VF idx = hn::Iota(df, static_cast<float>(v * kL));
    const VF x = hn::Load(df, s + v * kL);
    hn::Store(hn::IfThenElse(hn::And(hn::Ge(idx, lo), hn::Lt(idx, hi)), x, ninf), df, s + v * kL);
  }
}

// The scores s[0 .. nvec·kL) of keys j0.. of row i of head (b, h), log2 domain (log2e · scaled
// score): the softcap s → c·tanh(s/c) with c = softcap·log2e (when capd is given, capd[j] =
// 1 − tanh², the cap's derivative), then the ALiBi bias − log2e·slope·|i + off − j|. Vectorised
// (TanhRational); the caller applies the mask parts (key range, apply_general) afterwards.
HWY_INLINE void ApplyVariant(const FlashMask& m, int64_t b, int64_t h, int64_t i, int64_t j0, int64_t nvec, float* s,
                             float* capd) {
  const DF df;
  if (m.softcap > 0.0f) {
    const float c2 = m.softcap * kLog2e;
    const VF vc = hn::Set(df, c2), vinv = hn::Set(df, 1.0f / c2), one = hn::Set(df, 1.0f);
    for (int64_t v = 0; v < nvec; ++v) {
      const VF t = TanhRational(hn::Mul(hn::Load(df, s + v * kL), vinv));
      hn::Store(hn::Mul(vc, t), df, s + v * kL);
      if (capd) hn::StoreU(hn::NegMulAdd(t, t, one), df, capd + v * kL);
    }
  }
  if (m.alibi) {
    const VF slope = hn::Set(df, kLog2e * m.alibi[b * m.alibi_sb + h * m.alibi_sh]);
    const VF at = hn::Set(df, static_cast<float>(i + m.window_offset - j0));  // the diagonal's key, relative to j0
    for (int64_t v = 0; v < nvec; ++v) {
      const VF dist = hn::Abs(hn::Sub(at, hn::Iota(df, static_cast<float>(v * kL))));
      hn::Store(hn::NegMulAdd(slope, dist, hn::Load(df, s + v * kL)), df, s + v * kL);
    }
  }
}

// Everything but the plain scores, for one row of nvec vectors of keys j0.. (log2 domain): the
// variants (ApplyVariant), then the key range [kbeg, kend) and the general mask (allowed, bias)
// on the nk keys of the step.
HWY_INLINE void MaskRow(const FlashMask& mask, bool general, bool variant, int64_t b, int64_t h, int64_t i,
                        int64_t j0, int64_t nk, int64_t nvec, int64_t kbeg, int64_t kend, float* srow, float* capd) {
  if (variant) ApplyVariant(mask, b, h, i, j0, nvec, srow, capd);
  if (kbeg > j0 || kend < j0 + nvec * kL) MaskKeys(srow, nvec, j0, kbeg, kend);
  if (general && kend > j0) apply_general(mask, b, h, i, j0, std::min(nk, kend - j0), srow);
}

// One online-softmax step for the MR rows of a micro tile, each nvec vectors of log2-domain scores
// (row stride lds): updates the running max m and sum l, overwrites s with exp2(s − m) and sets
// alpha[r] = 2^(m_old − m_new), the factor the old output must be scaled by (exactly 1 when the
// max did not grow). The rows are independent, so their reductions and exponentials interleave.
template <int64_t MR>
HWY_INLINE void OnlineSoftmaxBlock(float* s, int64_t lds, int64_t nvec, float* m, float* l, float* alpha) {
  const DF df;
  alignas(64) float diff[kMR + 16] = {};
  float muse[MR];
  for (int64_t r = 0; r < MR; ++r) {
    const float* sr = s + r * lds;
    VF mx0 = hn::Load(df, sr), mx1 = mx0;
    for (int64_t v = 1; v + 1 < nvec; v += 2) {
      mx0 = hn::Max(mx0, hn::Load(df, sr + v * kL));
      mx1 = hn::Max(mx1, hn::Load(df, sr + (v + 1) * kL));
    }
    if ((nvec & 1) == 0) mx0 = hn::Max(mx0, hn::Load(df, sr + (nvec - 1) * kL));
    const float mnew = std::max(m[r], hn::GetLane(hn::MaxOfLanes(df, hn::Max(mx0, mx1))));
    muse[r] = mnew == kNegInf ? 0.0f : mnew;  // a row with nothing visible yet keeps weights 0
    diff[r] = m[r] - muse[r];
    m[r] = mnew;
  }
  for (int64_t r0 = 0; r0 < MR; r0 += kL) hn::Store(Exp2(hn::Load(df, diff + r0)), df, diff + r0);
  for (int64_t r = 0; r < MR; ++r) {
    float* sr = s + r * lds;
    const VF vm = hn::Set(df, muse[r]);
    VF sum0 = hn::Zero(df), sum1 = hn::Zero(df);
    int64_t v = 0;
    for (; v + 2 <= nvec; v += 2) {
      const VF e0 = Exp2(hn::Sub(hn::Load(df, sr + v * kL), vm));
      const VF e1 = Exp2(hn::Sub(hn::Load(df, sr + (v + 1) * kL), vm));
      hn::Store(e0, df, sr + v * kL);
      hn::Store(e1, df, sr + (v + 1) * kL);
      sum0 = hn::Add(sum0, e0);
      sum1 = hn::Add(sum1, e1);
    }
    if (v < nvec) {
      const VF e = Exp2(hn::Sub(hn::Load(df, sr + v * kL), vm));
      hn::Store(e, df, sr + v * kL);
      sum0 = hn::Add(sum0, e);
    }
    alpha[r] = diff[r];
    l[r] = l[r] * diff[r] + hn::GetLane(hn::SumOfLanes(df, hn::Add(sum0, sum1)));
  }
}

// s ← exp2(s − lse2) (the weights) for nvec vectors, or 0 when the row has no visible key.
HWY_INLINE void WeightsRow(float* s, int64_t nvec, float lse2) {
  const DF df;
  if (lse2 == kNegInf) {
    for (int64_t v = 0; v < nvec; ++v) hn::Store(hn::Zero(df), df, s + v * kL);
    return;
  }
  const VF vl = hn::Set(df, lse2);
  for (int64_t v = 0; v < nvec; ++v) hn::Store(Exp2(hn::Sub(hn::Load(df, s + v * kL), vl)), df, s + v * kL);
}

// Packs keys [0, Lk) of one head as Kᵀ panels: kt[kb][c][jj] = k[kb·kBK + jj][c] (0 beyond Lk).
// On AVX-512 targets, 16 keys × 16 columns at a time by a register transpose.
void PackKt(const float* k, int64_t ldk, int64_t j0, int64_t nkeys, int64_t depth, float* kt) {
  const int64_t nkb = ceil_div(nkeys, kBK);
  for (int64_t kb = 0; kb < nkb; ++kb) {
    float* panel = kt + kb * depth * kBK;
    const int64_t n = std::min(kBK, nkeys - kb * kBK);
    if (n < kBK)
      for (int64_t c = 0; c < depth; ++c) std::memset(panel + c * kBK + n, 0, sizeof(float) * static_cast<size_t>(kBK - n));
    int64_t jj = 0;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
    for (; jj + 16 <= n && depth >= 16; jj += 16) {
      const float* src = k + (j0 + kb * kBK + jj) * ldk;
      const void* rows[16];
      int64_t c = 0;
      for (; c + 16 <= depth; c += 16) {
        for (int t = 0; t < 16; ++t) rows[t] = src + t * ldk + c;
        transpose16x16_32bit(rows, panel + c * kBK + jj, kBK);
      }
      for (; c < depth; ++c)
        for (int64_t t = 0; t < 16; ++t) panel[c * kBK + jj + t] = src[t * ldk + c];
    }
#endif
    for (; jj < n; ++jj) {
      const float* src = k + (j0 + kb * kBK + jj) * ldk;
      for (int64_t c = 0; c < depth; ++c) panel[c * kBK + jj] = src[c];
    }
  }
}

// Notes in `seen` the row norms of the first nkeys keys of the Kᵀ panels kt (depth × kBK each),
// read back from cache right after PackKt wrote them: each key's Σ_c k[c]² is a column sum of
// its panel, so the lanes hold keys and no horizontal sum is needed per key.
void NoteKeyNorms(const float* kt, int64_t nkeys, int64_t depth, KeyNorms& seen) {
  const DF df;
  VF best = hn::Zero(df), total = hn::Zero(df);
  for (int64_t kb = 0; kb < ceil_div(nkeys, kBK); ++kb) {
    const float* panel = kt + kb * depth * kBK;
    VF acc[kNV];
    for (int64_t v = 0; v < kNV; ++v) acc[v] = hn::Zero(df);
    for (int64_t c = 0; c < depth; ++c)
      for (int64_t v = 0; v < kNV; ++v) {
        const VF x = hn::Load(df, panel + c * kBK + v * kL);
        acc[v] = hn::MulAdd(x, x, acc[v]);
      }
    for (int64_t v = 0; v < kNV; ++v) {
      best = hn::Max(best, acc[v]);
      total = hn::Add(total, acc[v]);  // not finite when a square overflowed or a key holds NaN
    }
  }
  note_key_norms(seen, hn::GetLane(hn::MaxOfLanes(df, best)), hn::GetLane(hn::SumOfLanes(df, total)), nkeys);
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
constexpr bool kDirectTarget = true;  // decoding may score straight from K's rows

// Scores of micro-tile rows r0 .. r0 + mr (s row stride kBS, nvec vectors each) from K's rows
// (key j0 at k, row stride ldk; nk keys in the step), decode_scores_avx512.h; row 0 of the block
// also notes its keys' norms in `seen` (null: not measuring).
void DirectScores(int64_t mr, int64_t r0, int64_t nvec, const float* qrows, int64_t ldq, const float* k, int64_t ldk,
                  int64_t nk, int64_t d, float c, float* s, KeyNorms* seen) {
  for (int64_t r = 0; r < mr; ++r) {
    const bool note = seen && r0 + r == 0;
    float norms[2];
    decode_score_row(qrows + (r0 + r) * ldq, k, ldk, nk, nvec * kL, d, c, s + r * kBS, note ? norms : nullptr);
    if (note) note_key_norms(*seen, norms[0], norms[1], std::min(nk, nvec * kL));
  }
}
#else
constexpr bool kDirectTarget = false;  // other targets pack Kᵀ panels for every query block

void DirectScores(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, int64_t, int64_t, float,
                  float*, KeyNorms*) {}
#endif

// Copies rows [0, n) of width w into dst with row stride wp >= w (zero padding).
void PackRows(const float* src, int64_t lds, int64_t n, int64_t w, int64_t wp, float* dst) {
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(dst + i * wp, src + i * lds, sizeof(float) * static_cast<size_t>(w));
    if (wp > w) std::memset(dst + i * wp + w, 0, sizeof(float) * static_cast<size_t>(wp - w));
  }
}

// Per-worker scratch of the forward and weights passes.
struct FwdScratch {
  Floats kt, vp, o, s, m, l, alpha;
  std::vector<int64_t> kbeg, kend;
  std::vector<float> z;
  KeyNorms key_norms;  // what this worker's streamed K steps measured (flash.h)
};

// Packs keys [jlo, jhi) of K (and V when it needs padding) of key/value head (b, hk) into the
// worker's scratch: panel 0 and row 0 hold key jlo.
void PackHead(const FlashDims& dm, const FlashIn& k, const FlashIn* v, int64_t b, int64_t hk, int64_t jlo,
              int64_t jhi, int64_t dvp, FwdScratch& sc) {
  PackKt(k.row(b, hk, 0), k.si, jlo, jhi - jlo, dm.d, sc.kt.p);
  if (v && dvp != dm.dv) PackRows(v->row(b, hk, jlo), v->si, jhi - jlo, dm.dv, dvp, sc.vp.p);
}

// Decoding (few query rows, many keys): when the B·H·(query blocks) items are fewer than the
// threads, each item's keys are split into this many ranges of whole key steps, swept by
// different workers and merged by MergeSplits; 1 otherwise.
int64_t SplitCount(int64_t items, int64_t Lk) {
  const int64_t threads = num_threads();
  if (items >= threads) return 1;
  return std::max<int64_t>(1, std::min(ceil_div(threads, items), Lk / kBS));
}

// The first key of split sp of S over Lk keys (whole key steps of kBS).
int64_t SplitBegin(int64_t sp, int64_t S, int64_t Lk) {
  return std::min(Lk, (ceil_div(Lk, kBS) * sp / S) * kBS);
}

// Merges the S partial sweeps of each item: part holds, per (item, split), o (kQF × dvp), then
// m and l (kQF each, log2 domain). Row r: M = max m_s, l = Σ l_s·2^(m_s − M),
// out = Σ o_s·2^(m_s − M) / l, lse = (M + log2 l)·ln 2; no visible key anywhere: out 0, lse −inf.
void MergeSplits(const FlashDims& dm, int64_t nqb, int64_t S, int64_t dvp, const float* part, float* out,
                 float* lse) {
  const int64_t stride = kQF * (dvp + 2);
  std::vector<float> acc(static_cast<size_t>(dm.dv));
  for (int64_t item = 0; item < dm.B * dm.H * nqb; ++item) {
    const int64_t bh = item / nqb, i0 = (item % nqb) * kQF, rows = std::min(kQF, dm.Lq - i0);
    const float* p0 = part + item * S * stride;
    for (int64_t r = 0; r < rows; ++r) {
      float M = kNegInf;
      for (int64_t sp = 0; sp < S; ++sp) M = std::max(M, p0[sp * stride + kQF * dvp + r]);
      float* dst = out + (bh * dm.Lq + i0 + r) * dm.dv;
      if (M == kNegInf) {
        std::fill(dst, dst + dm.dv, 0.0f);
        lse[bh * dm.Lq + i0 + r] = kNegInf;
        continue;
      }
      float l = 0.0f;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t sp = 0; sp < S; ++sp) {
        const float* ps = p0 + sp * stride;
        const float ms = ps[kQF * dvp + r], ls = ps[kQF * dvp + kQF + r];
        if (ms == kNegInf) continue;
        const float f = std::exp2(ms - M);
        l += ls * f;
        for (int64_t cc = 0; cc < dm.dv; ++cc) acc[static_cast<size_t>(cc)] += ps[r * dvp + cc] * f;
      }
      for (int64_t cc = 0; cc < dm.dv; ++cc) dst[cc] = acc[static_cast<size_t>(cc)] / l;
      lse[bh * dm.Lq + i0 + r] = (M + std::log2(l)) * kLn2;
    }
  }
}

void ForwardImpl(const FlashDims& dm, float scale, const FlashIn& q, const FlashIn& k, const FlashIn& v,
                 const FlashMask& mask, float* out, float* lse, KeyNorms* key_norms) {
  if (key_norms) *key_norms = {};
  const int64_t B = dm.B, H = dm.H, Lq = dm.Lq, Lk = dm.Lk, d = dm.d, dv = dm.dv;
  if (B * H * Lq == 0) return;
  const int64_t nkb = ceil_div(Lk, kBK), dvp = round_up(dv, kL), nqb = ceil_div(Lq, kQF);
  const float c = scale * kLog2e;
  const bool general = has_general(mask), variant = has_variant(mask), dropout = mask.dropout_p > 0.0;
  const bool special = general || variant;
  const int64_t G = dm.group(), Hkv = dm.kv_heads();
  const int64_t S = SplitCount(B * H * nqb, Lk);
  // One query block per head and no group sharing it: K is packed one key step at a time into a
  // panel that stays in L1/L2, not the whole head up front (decoding reads K from memory once).
  const bool stream = nqb == 1 && G == 1;
  thread_local PassState<FwdScratch> state;
  thread_local Floats part_buf;  // S > 1: the partial sweeps MergeSplits reads
  PassState<FwdScratch>& st = state;
  if (S == 1) {
    query_block_costs(dm, mask, kQF, kBK, st.cost);
  } else {
    st.cost.assign(static_cast<size_t>(B * H * nqb * S), 1.0);
    part_buf.reserve(B * H * nqb * S * kQF * (dvp + 2));
  }
  Floats& part = part_buf;
  const int workers = st.plan();
  const std::vector<int64_t>& bounds = st.bounds;
  std::vector<FwdScratch>& scratch = st.scratch;
  for (int w = 0; w < workers; ++w) {
    FwdScratch& sc = scratch[static_cast<size_t>(w)];
    sc.kt.reserve(stream ? kBS * d : std::max<int64_t>(nkb, 1) * kBK * d);
    if (dvp != dv) sc.vp.reserve(Lk * dvp);
    sc.o.reserve(kQF * dvp);
    sc.s.reserve(kMR * kBS);
    sc.m.reserve(kQF);
    sc.l.reserve(kQF);
    sc.alpha.reserve(kQF);
    sc.kbeg.resize(kQF);
    sc.kend.resize(kQF);
    sc.z.resize(static_cast<size_t>(dropout ? kBS : 0));
    sc.key_norms = {};
  }
  const bool measure = stream && key_norms != nullptr;
  // Few query rows streaming K: scores straight from K's rows, no Kᵀ panels.
  const bool direct = stream && kDirectTarget && decode_reads_keys_in_place(Lq, d);
  parallel_workers(workers, [&](int w, int) {
    FwdScratch& sc = scratch[static_cast<size_t>(w)];
    std::vector<float>& z = sc.z;
    int64_t cur = -1;
    for (int64_t it = bounds[static_cast<size_t>(w)]; it < bounds[static_cast<size_t>(w) + 1]; ++it) {
      const int64_t sp = it % S, bh = it / S / nqb, qb = it / S % nqb, b = bh / H, h = bh % H, hk = h / G;
      const int64_t jlo = SplitBegin(sp, S, Lk), jhi = SplitBegin(sp + 1, S, Lk);
      if ((b * Hkv + hk) * S + sp != cur) {  // the heads of a group share the packed K
        if (!stream) PackHead(dm, k, &v, b, hk, jlo, jhi, dvp, sc);
        else if (dvp != dv) PackRows(v.row(b, hk, jlo), v.si, jhi - jlo, dv, dvp, sc.vp.p);
        cur = (b * Hkv + hk) * S + sp;
      }
      int64_t packed = -1;  // stream: the key step whose panels sc.kt holds
      const float* vrows = dvp != dv ? sc.vp.p : v.row(b, hk, jlo);  // row 0 is key jlo
      const int64_t ldv = dvp != dv ? dvp : v.si;
      const int64_t i0 = qb * kQF, rows = std::min(kQF, Lq - i0);
      const float* qrows = q.row(b, h, i0);
      std::memset(sc.o.p, 0, sizeof(float) * static_cast<size_t>(rows * dvp));
      auto step = [&](int64_t r0, int64_t mr, int64_t js, int64_t nks, int64_t nviss, int64_t lo, int64_t bhi) {
        // With a window's left edge, the tile starts at the key vector holding its rows' first
        // visible key (the keys before it in the step are masked for every row): j0, nk, nvis from there.
        int64_t skip = 0;
        if (mask.window_left >= 0) {
          int64_t blo = Lk;
          for (int64_t r = r0; r < r0 + mr; ++r) blo = std::min(blo, sc.kbeg[static_cast<size_t>(r)]);
          skip = std::min(std::max<int64_t>(0, blo - js), nviss - 1) / kL * kL;
        }
        const int64_t j0 = js + skip, nk = nks - skip, nvis = nviss - skip;
        const int64_t nvec = ceil_div(nvis, kL);
        if (direct) {
          DirectScores(mr, r0, nvec, qrows, q.si, k.row(b, hk, j0), k.si, nk, d, c, sc.s.p,
                       measure ? &sc.key_norms : nullptr);
        } else {
          const float* kt = sc.kt.p + ((j0 - jlo) / kBK) * d * kBK;
          int64_t voff = (j0 - jlo) % kBK / kL;
          if (stream) {
            if (js != packed) {
              PackKt(k.row(b, hk, 0), k.si, js, nks, d, sc.kt.p);
              if (measure) NoteKeyNorms(sc.kt.p, nks, d, sc.key_norms);
            }
            packed = js;
            kt = sc.kt.p + (skip / kBK) * d * kBK;
            voff = skip % kBK / kL;
          }
          ScoreTile(mr, nvec, qrows + r0 * q.si, q.si, kt, d, c, sc.s.p, kBS, voff);
        }
        if (special || lo < j0 + nvec * kL || bhi > j0) {
          for (int64_t r = 0; r < mr; ++r)
            MaskRow(mask, general, variant, b, h, i0 + r0 + r, j0, nk, nvec, sc.kbeg[static_cast<size_t>(r0 + r)],
                    sc.kend[static_cast<size_t>(r0 + r)], sc.s.p + r * kBS, nullptr);
        }
        with_count<kMR>(mr, [&](auto m) {
          OnlineSoftmaxBlock<decltype(m)::value>(sc.s.p, kBS, nvec, sc.m.p + r0, sc.l.p + r0, sc.alpha.p + r0);
        });
        if (dropout) {
          for (int64_t r = 0; r < mr; ++r) {
            dropout_factors(mask, bh, Lq, Lk, i0 + r0 + r, j0, nvis, z.data());
            float* srow = sc.s.p + r * kBS;
            for (int64_t j = 0; j < nvis; ++j) srow[j] *= z[static_cast<size_t>(j)];
          }
        }
        GemmNN(mr, dvp, sc.s.p, kBS, nvis, vrows + (j0 - jlo) * ldv, ldv, sc.o.p + r0 * dvp, dvp, sc.alpha.p + r0);
      };
      forward_sweep<kMR, kBS>(mask, Lk, b, i0, rows, sc.kbeg.data(), sc.kend.data(), sc.m.p, sc.l.p, step, jlo,
                              jhi);
      if (S == 1) {
        finish_rows(rows, sc.o.p, dvp, sc.m.p, sc.l.p, dv, out + (bh * Lq + i0) * dv, lse + bh * Lq + i0);
      } else {
        float* dst = part.p + it * kQF * (dvp + 2);
        std::memcpy(dst, sc.o.p, sizeof(float) * static_cast<size_t>(rows * dvp));
        std::memcpy(dst + kQF * dvp, sc.m.p, sizeof(float) * static_cast<size_t>(rows));
        std::memcpy(dst + kQF * dvp + kQF, sc.l.p, sizeof(float) * static_cast<size_t>(rows));
      }
    }
  });
  if (S > 1) MergeSplits(dm, nqb, S, dvp, part.p, out, lse);
  if (measure)
    for (int w = 0; w < workers; ++w) merge_key_norms(scratch[static_cast<size_t>(w)].key_norms, *key_norms);
}

void WeightsImpl(const FlashDims& dm, float scale, const FlashIn& q, const FlashIn& k, const float* lse,
                 const FlashMask& mask, float* weights) {
  const int64_t B = dm.B, H = dm.H, Lq = dm.Lq, Lk = dm.Lk, d = dm.d;
  if (B * H * Lq * Lk == 0) return;
  const int64_t nkb = ceil_div(Lk, kBK), nqb = ceil_div(Lq, kQF);
  const float c = scale * kLog2e;
  const bool general = has_general(mask), variant = has_variant(mask);
  const int64_t G = dm.group(), Hkv = dm.kv_heads();
  thread_local PassState<FwdScratch> state;
  PassState<FwdScratch>& st = state;
  query_block_costs(dm, mask, kQF, kBK, st.cost);
  const int workers = st.plan();
  const std::vector<int64_t>& bounds = st.bounds;
  std::vector<FwdScratch>& scratch = st.scratch;
  for (int w = 0; w < workers; ++w) {
    FwdScratch& sc = scratch[static_cast<size_t>(w)];
    sc.kt.reserve(nkb * kBK * d);
    sc.s.reserve(kMR * kBK);
  }
  parallel_workers(workers, [&](int w, int) {
    FwdScratch& sc = scratch[static_cast<size_t>(w)];
    int64_t cur = -1;
    for (int64_t it = bounds[static_cast<size_t>(w)]; it < bounds[static_cast<size_t>(w) + 1]; ++it) {
      const int64_t bh = it / nqb, qb = it % nqb, b = bh / H, h = bh % H, hk = h / G;
      if (b * Hkv + hk != cur) {
        PackHead(dm, k, nullptr, b, hk, 0, Lk, 0, sc);
        cur = b * Hkv + hk;
      }
      const int64_t i0 = qb * kQF, rows = std::min(kQF, Lq - i0);
      float* wrows = weights + (bh * Lq + i0) * Lk;
      std::memset(wrows, 0, sizeof(float) * static_cast<size_t>(rows * Lk));
      for (int64_t r0 = 0; r0 < rows; r0 += kMR) {
        const int64_t mr = std::min(kMR, rows - r0);
        int64_t kbeg[kMR], kend[kMR], hi = 0, blo = Lk;
        for (int64_t r = 0; r < mr; ++r) {
          kend[r] = key_end(mask, Lk, b, i0 + r0 + r);
          kbeg[r] = key_begin(mask, i0 + r0 + r);
          hi = std::max(hi, kend[r]);
          blo = std::min(blo, kbeg[r]);
        }
        for (int64_t kb = blo / kBK; kb < std::min(nkb, ceil_div(hi, kBK)); ++kb) {
          const int64_t j0 = kb * kBK, nk = std::min(kBK, Lk - j0);
          ScoreTile(mr, kNV, q.row(b, h, i0 + r0), q.si, sc.kt.p + kb * d * kBK, d, c, sc.s.p, kBK);
          for (int64_t r = 0; r < mr; ++r) {
            float* srow = sc.s.p + r * kBK;
            MaskRow(mask, general, variant, b, h, i0 + r0 + r, j0, nk, kNV, kbeg[r], kend[r], srow, nullptr);
            WeightsRow(srow, kNV, lse[bh * Lq + i0 + r0 + r] * kLog2e);
            std::memcpy(wrows + (r0 + r) * Lk + j0, srow, sizeof(float) * static_cast<size_t>(nk));
          }
        }
      }
    }
  });
}

// Per-worker scratch of the backward pass.
struct BwdScratch {
  Floats qp, dop;               // Q and dO of the current head, padded (only when d or dv is not a multiple of kL)
  Floats lse2, dd;              // per row of each query head of the group (G × Lq): lse·log2(e), rowsum(dO∘O)
  std::vector<int64_t> kbeg, kend;  // per row of the current head: the visible key range
  Floats kt, vt, kn;            // the current key block: Kᵀ and Vᵀ panels, K rows padded to dp
  Floats dk, dv;                // accumulators of the current key block (summed over a group's query heads)
  Floats p, ds;                 // kQB × kBK: weights (after dropout) and dS of a query block
  Floats capd;                  // kMR × kBK: the softcap's derivative 1 − tanh² of a micro tile
  Floats dq;                    // this worker's dQ partial sums (B, H, Lq, dp) unless it writes dq directly
  std::vector<float> z;
};

void BackwardImpl(const FlashDims& dm, float scale, const FlashIn& q, const FlashIn& k, const FlashIn& v,
                  const FlashIn& o, const FlashIn& dout, const float* lse, const FlashMask& mask, float* dq, float* dk,
                  float* dv) {
  const int64_t B = dm.B, H = dm.H, Lq = dm.Lq, Lk = dm.Lk, d = dm.d, dvw = dm.dv;
  const int64_t G = dm.group(), Hkv = dm.kv_heads();
  const int64_t dp = round_up(d, kL), dvp = round_up(dvw, kL);
  std::memset(dq, 0, sizeof(float) * static_cast<size_t>(B * H * Lq * d));
  std::memset(dk, 0, sizeof(float) * static_cast<size_t>(B * Hkv * Lk * d));
  std::memset(dv, 0, sizeof(float) * static_cast<size_t>(B * Hkv * Lk * dvw));
  if (B * H * Lq * Lk == 0 || d == 0) return;
  const int64_t nkb = ceil_div(Lk, kBK);
  const float c = scale * kLog2e;
  const bool general = has_general(mask), variant = has_variant(mask), dropout = mask.dropout_p > 0.0;
  const bool special = general || variant, softcap = mask.softcap > 0.0f;
  const bool pad_q = dp != d, pad_do = dvp != dvw;

  // Work items (b·Hkv + hk, key block kb); cost: G × (the query rows that see a key of the block + 8).
  thread_local PassState<BwdScratch> state;
  thread_local std::vector<int64_t> hist_buf;
  PassState<BwdScratch>& st = state;
  std::vector<double>& cost = st.cost;
  std::vector<int64_t>& hist = hist_buf;
  cost.assign(static_cast<size_t>(B * Hkv * nkb), 0.0);
  hist.resize(static_cast<size_t>(nkb) + 1);
  for (int64_t b = 0; b < B; ++b) {
    std::fill(hist.begin(), hist.end(), 0);
    for (int64_t i = 0; i < Lq; ++i) {  // row i sees key blocks [kbeg / kBK, ceil(kend / kBK))
      const int64_t first = key_begin(mask, i) / kBK, last = ceil_div(key_end(mask, Lk, b, i), kBK);
      if (last <= first) continue;
      ++hist[static_cast<size_t>(first)];
      --hist[static_cast<size_t>(last)];
    }
    int64_t active = 0;
    for (int64_t kb = 0; kb < nkb; ++kb) {
      active += hist[static_cast<size_t>(kb)];
      for (int64_t hk = 0; hk < Hkv; ++hk)
        cost[static_cast<size_t>((b * Hkv + hk) * nkb + kb)] = static_cast<double>(G * (active + 8));
    }
  }
  const int workers = st.plan();
  const std::vector<int64_t>& bounds = st.bounds;
  const bool direct_dq = !pad_q;  // worker 0 accumulates straight into dq
  std::vector<BwdScratch>& scratch = st.scratch;
  for (int w = 0; w < workers; ++w) {
    BwdScratch& sc = scratch[static_cast<size_t>(w)];
    if (pad_q) sc.qp.reserve(Lq * dp);
    if (pad_do) sc.dop.reserve(Lq * dvp);
    sc.lse2.reserve(G * Lq);
    sc.dd.reserve(G * Lq);
    sc.kbeg.resize(static_cast<size_t>(Lq));
    sc.kend.resize(static_cast<size_t>(Lq));
    sc.kt.reserve(kBK * d);
    sc.vt.reserve(kBK * dvw);
    sc.kn.reserve(kBK * dp);
    sc.dk.reserve(kBK * dp);
    sc.dv.reserve(kBK * dvp);
    sc.p.reserve(kQB * kBK);
    sc.ds.reserve(kQB * kBK);
    if (softcap) sc.capd.reserve(kMR * kBK);
    if (!(direct_dq && w == 0)) {
      sc.dq.reserve(B * H * Lq * dp);
      std::memset(sc.dq.p, 0, sizeof(float) * static_cast<size_t>(B * H * Lq * dp));
    }
    sc.z.resize(static_cast<size_t>(dropout ? kBK : 0));
  }
  parallel_workers(workers, [&](int w, int) {
    BwdScratch& sc = scratch[static_cast<size_t>(w)];
    float* dqacc = (direct_dq && w == 0) ? dq : sc.dq.p;
    int64_t cur = -1;
    for (int64_t it = bounds[static_cast<size_t>(w)]; it < bounds[static_cast<size_t>(w) + 1]; ++it) {
      const int64_t bk = it / nkb, kb = it % nkb, b = bk / Hkv, hk = bk % Hkv;
      const int64_t j0 = kb * kBK, nk = std::min(kBK, Lk - j0);
      PackKt(k.row(b, hk, 0), k.si, j0, nk, d, sc.kt.p);
      PackKt(v.row(b, hk, 0), v.si, j0, nk, dvw, sc.vt.p);
      PackRows(k.row(b, hk, j0), k.si, nk, d, dp, sc.kn.p);
      std::memset(sc.dk.p, 0, sizeof(float) * static_cast<size_t>(kBK * dp));
      std::memset(sc.dv.p, 0, sizeof(float) * static_cast<size_t>(kBK * dvp));
      // Per row of each query head of the group, kept while the worker stays on the group: the
      // visible key range, lse·log2(e) and D = rowsum(dO∘O).
      const bool new_group = bk != cur;
      if (new_group) {
        cur = bk;
        for (int64_t i = 0; i < Lq; ++i) {
          sc.kbeg[static_cast<size_t>(i)] = key_begin(mask, i);
          sc.kend[static_cast<size_t>(i)] = key_end(mask, Lk, b, i);
        }
        for (int64_t g = 0; g < G; ++g) {
          const int64_t h = hk * G + g, bh = b * H + h;
          for (int64_t i = 0; i < Lq; ++i) {
            sc.lse2.p[g * Lq + i] = lse[bh * Lq + i] * kLog2e;
            const float* orow = o.row(b, h, i);
            const float* drow = dout.row(b, h, i);
            float acc = 0.0f;
            for (int64_t cc = 0; cc < dvw; ++cc) acc += orow[cc] * drow[cc];
            sc.dd.p[g * Lq + i] = acc;
          }
        }
      }
      for (int64_t h = hk * G; h < (hk + 1) * G; ++h) {  // the query heads of the group
        const int64_t bh = b * H + h;
        const float* lse2h = sc.lse2.p + (h - hk * G) * Lq;
        const float* ddh = sc.dd.p + (h - hk * G) * Lq;
        if (new_group || G > 1) {  // padded copies of this head's Q and dO
          if (pad_q) PackRows(q.row(b, h, 0), q.si, Lq, d, dp, sc.qp.p);
          if (pad_do) PackRows(dout.row(b, h, 0), dout.si, Lq, dvw, dvp, sc.dop.p);
        }
        const float* qrows = pad_q ? sc.qp.p : q.row(b, h, 0);
        const int64_t ldq = pad_q ? dp : q.si;
        const float* dorows = pad_do ? sc.dop.p : dout.row(b, h, 0);
        const int64_t lddo = pad_do ? dvp : dout.si;
        float* dqh = dqacc + bh * Lq * dp;
        // With a left window edge (key_begin grows with i), the rows past the block come last.
        int64_t qend = Lq;
        if (mask.window_left >= 0)
          while (qend > 0 && sc.kbeg[static_cast<size_t>(qend - 1)] >= j0 + nk) --qend;
        for (int64_t qb = 0; qb < ceil_div(qend, kQB); ++qb) {
          const int64_t i0 = qb * kQB, rows = std::min(kQB, Lq - i0);
          bool sees = false;  // some row of the query block sees a key of the block (causal, window: not all do)
          for (int64_t i = i0; i < i0 + rows && !sees; ++i)
            sees = sc.kend[static_cast<size_t>(i)] > j0 && sc.kbeg[static_cast<size_t>(i)] < j0 + nk;
          if (!sees) continue;
          int64_t first = rows;  // first micro block with a visible key in this block
          for (int64_t r0 = 0; r0 < rows; r0 += kMR) {
            const int64_t mr = std::min(kMR, rows - r0);
            int64_t lo = Lk, hi = 0, blo = Lk, bhi = 0;
            for (int64_t r = r0; r < r0 + mr; ++r) {
              lo = std::min(lo, sc.kend[static_cast<size_t>(i0 + r)]);
              hi = std::max(hi, sc.kend[static_cast<size_t>(i0 + r)]);
              blo = std::min(blo, sc.kbeg[static_cast<size_t>(i0 + r)]);
              bhi = std::max(bhi, sc.kbeg[static_cast<size_t>(i0 + r)]);
            }
            float* prow = sc.p.p + r0 * kBK;
            float* dsrow = sc.ds.p + r0 * kBK;
            if (hi <= j0 || blo >= j0 + nk) {
              std::memset(prow, 0, sizeof(float) * static_cast<size_t>(mr * kBK));
              std::memset(dsrow, 0, sizeof(float) * static_cast<size_t>(mr * kBK));
              continue;
            }
            if (first == rows) first = r0;
            const int64_t nvis = std::min(nk, hi - j0), nvec = ceil_div(nvis, kL);  // keys some row sees
            ScoreTile(mr, nvec, qrows + (i0 + r0) * ldq, ldq, sc.kt.p, d, c, prow, kBK);
            ScoreTile(mr, nvec, dorows + (i0 + r0) * lddo, lddo, sc.vt.p, dvw, 1.0f, dsrow, kBK);
            const DF df;
            for (int64_t r = 0; r < mr; ++r) {
              const int64_t i = i0 + r0 + r;
              float* pr = prow + r * kBK;
              float* dr = dsrow + r * kBK;
              float* capd = softcap ? sc.capd.p + r * kBK : nullptr;
              if (special || lo < j0 + nvec * kL || bhi > j0)
                MaskRow(mask, general, variant, b, h, i, j0, nk, nvec, sc.kbeg[static_cast<size_t>(i)],
                        sc.kend[static_cast<size_t>(i)], pr, capd);
              WeightsRow(pr, nvec, lse2h[i]);
              const VF vd = hn::Set(df, ddh[i]);
              if (!dropout) {
                for (int64_t vv = 0; vv < nvec; ++vv) {
                  const VF pv = hn::Load(df, pr + vv * kL);
                  hn::Store(hn::Mul(pv, hn::Sub(hn::Load(df, dr + vv * kL), vd)), df, dr + vv * kL);
                }
              } else {
                dropout_factors(mask, bh, Lq, Lk, i, j0, nvis, sc.z.data());
                for (int64_t j = 0; j < nvec * kL; ++j) {
                  const float zj = j < nvis ? sc.z[static_cast<size_t>(j)] : 0.0f;
                  dr[j] = pr[j] * (dr[j] * zj - ddh[i]);
                  pr[j] *= zj;
                }
              }
              if (capd)  // dS of the raw score: through the cap's derivative
                for (int64_t vv = 0; vv < nvec; ++vv)
                  hn::Store(hn::Mul(hn::Load(df, dr + vv * kL), hn::LoadU(df, capd + vv * kL)), df, dr + vv * kL);
              for (int64_t vv = nvec; vv < kNV; ++vv) {  // keys no row of this micro tile sees
                hn::Store(hn::Zero(df), df, pr + vv * kL);
                hn::Store(hn::Zero(df), df, dr + vv * kL);
              }
            }
            GemmNN(mr, dp, dsrow, kBK, nvis, sc.kn.p, dp, dqh + (i0 + r0) * dp, dp, nullptr);
          }
          if (first == rows) continue;
          const int64_t n = rows - first;
          GemmTN(nk, dvp, sc.p.p + first * kBK, kBK, n, dorows + (i0 + first) * lddo, lddo, sc.dv.p, dvp);
          GemmTN(nk, dp, sc.ds.p + first * kBK, kBK, n, qrows + (i0 + first) * ldq, ldq, sc.dk.p, dp);
        }
      }
      for (int64_t j = 0; j < nk; ++j) {
        float* dkr = dk + (bk * Lk + j0 + j) * d;
        float* dvr = dv + (bk * Lk + j0 + j) * dvw;
        for (int64_t cc = 0; cc < d; ++cc) dkr[cc] = sc.dk.p[j * dp + cc] * scale;
        for (int64_t cc = 0; cc < dvw; ++cc) dvr[cc] = sc.dv.p[j * dvp + cc];
      }
    }
  });
  sum_dq_partials(B * H * Lq, d, dp, direct_dq, scratch, workers, scale, dq);
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace qkv::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkv::kernels {

HWY_EXPORT(ForwardImpl);
HWY_EXPORT(WeightsImpl);
HWY_EXPORT(BackwardImpl);

void flash_forward(const FlashDims& dims, float scale, const FlashIn& q, const FlashIn& k, const FlashIn& v,
                   const FlashMask& mask, float* out, float* lse, KeyNorms* key_norms) {
  FlashDims dm = dims;
  FlashIn qv = q;
  FlashMask m = mask;
  flash::group_rows_for_decoding(dm, qv, m);  // changes them only for grouped decoding
  HWY_DYNAMIC_DISPATCH(ForwardImpl)(dm, scale, qv, k, v, m, out, lse, key_norms);
}

void flash_weights(const FlashDims& dims, float scale, const FlashIn& q, const FlashIn& k, const float* lse,
                   const FlashMask& mask, float* weights) {
  HWY_DYNAMIC_DISPATCH(WeightsImpl)(dims, scale, q, k, lse, mask, weights);
}

void flash_backward(const FlashDims& dims, float scale, const FlashIn& q, const FlashIn& k, const FlashIn& v,
                    const FlashIn& out, const FlashIn& dout, const float* lse, const FlashMask& mask, float* dq,
                    float* dk, float* dv) {
  HWY_DYNAMIC_DISPATCH(BackwardImpl)(dims, scale, q, k, v, out, dout, lse, mask, dq, dk, dv);
}

}  // namespace qkv::kernels
#endif
