// The bfloat16 backward (flash_bf16_backward.h): FlashAttention-2's backward with vdpbf16ps.
//
// Compiled for every SIMD target by Highway and chosen by HWY_DYNAMIC_DISPATCH like
// flash_bf16.cpp; the native kernel exists in the AVX-512 targets only (raw intrinsics with
// avx512bf16 added) and runs where cpu_info() reports AVX512-BF16. Elsewhere q, k, v are widened
// to float32 and flash_backward runs.
//
// Work items are (batch·head, block of kBK = 64 keys), split over the workers by cost as in
// flash_f32.cpp: dK and dV of a key block belong to one worker; dQ is accumulated per worker
// (worker 0 straight into dq when d is a multiple of 16) and summed at the end.
// vdpbf16ps multiplies pairs of bf16 (one 32-bit lane) and accumulates in float32, so every
// operand is packed as pairs along the axis its product sums over:
//   per head:      Q and dO rows (pairs along d / dv; dO rounded to bf16 here), for S and dP;
//                  Q and dO as pairs of rows [Lq/2][width], for dK = dSᵀQ and dV = PᵀdO;
//   per key block: Kᵀ and Vᵀ panels [d/2][64] (pairs along d / dv), for S = QKᵀ and dP = dO Vᵀ;
//                  K as pairs of keys [32][d], for dQ = dS K.
// A query block of kQB rows is swept kMR rows at a time: S and dP tiles (kMR × 64 in registers,
// stored once), P = exp2(S·scale·log2 e − lse·log2 e), dS = P∘(dP − D); dS rounded to bf16 as
// key pairs feeds dQ at once; P and dS as row pairs ([kQB/2][64]) feed dV and dK after the block.
// GCC 12 warns inside its own AVX-512 intrinsics (GCC bug 105593): silenced as in flash_bf16.cpp.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "qkv/ops/sdpa/flash_bf16_backward.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#if HWY_ARCH_X86
#include <immintrin.h>
#endif

#include <cstring>
#include <vector>

#include "qkv/core/error.h"
#include "qkv/core/parallel.h"
#include "qkv/ops/sdpa/flash.h"
#include "qkv/ops/sdpa/flash_bf16_backward.h"
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

constexpr int64_t kBK = 64;        // keys per work item: 4 vectors of 16 float32 scores
constexpr int64_t kMR = 6;         // rows per micro tile (query rows, or keys in dK / dV tiles)
constexpr int64_t kQB = 16 * kMR;  // query rows per block (even, so row pairs never straddle blocks)

// s[mr][nvec·16] (row stride kBK) = c · a · bt for mr <= kMR rows and nvec <= 4 vectors of keys.
QKV_BF16_TARGET void ScoreTile(int64_t mr, int64_t nvec, const uint32_t* a, int64_t lda, const uint32_t* bt,
                              int64_t d2, float c, float* s) {
  with_count<kMR>(mr, [&](auto m) {
    with_count<4>(nvec, [&](auto nv) {
      TileQK<decltype(m)::value, decltype(nv)::value, true>(a, lda, bt, kBK, d2, c, s, kBK);
    });
  });
}

// o[M][NV·16] (row stride ldo) += A[M][nt pairs] · b[nt][NV·16] (row stride ldb), where pair t of
// row r of A is a[r·ars + t·ats].
template <int64_t M, int64_t NV>
QKV_BF16_TARGET void TileAcc(const uint32_t* a, int64_t ars, int64_t ats, int64_t nt, const uint32_t* b, int64_t ldb,
                            float* o, int64_t ldo) {
  __m512 acc[M][NV];
  for (int64_t r = 0; r < M; ++r)
    for (int64_t v = 0; v < NV; ++v) acc[r][v] = _mm512_loadu_ps(o + r * ldo + v * 16);
  for (int64_t t = 0; t < nt; ++t) {
    __m512bh x[NV];
    for (int64_t v = 0; v < NV; ++v) x[v] = (__m512bh)_mm512_loadu_si512(b + t * ldb + v * 16);
    for (int64_t r = 0; r < M; ++r) {
      const __m512bh y = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[r * ars + t * ats]));
      for (int64_t v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], y, x[v]);
    }
  }
  for (int64_t r = 0; r < M; ++r)
    for (int64_t v = 0; v < NV; ++v) _mm512_storeu_ps(o + r * ldo + v * 16, acc[r][v]);
}

// o[m][width] += A[m][nt pairs] · b[nt][width] (TileAcc), width a multiple of 16.
QKV_BF16_TARGET void GemmAcc(int64_t m, int64_t width, const uint32_t* a, int64_t ars, int64_t ats, int64_t nt,
                            const uint32_t* b, int64_t ldb, float* o, int64_t ldo) {
  for (int64_t r0 = 0; r0 < m; r0 += kMR) {
    with_count<kMR>(std::min(kMR, m - r0), [&](auto mm) {
      constexpr int64_t M = decltype(mm)::value;
      const uint32_t* ar = a + r0 * ars;
      float* orow = o + r0 * ldo;
      int64_t c0 = 0;
      for (; c0 + 64 <= width; c0 += 64) TileAcc<M, 4>(ar, ars, ats, nt, b + c0, ldb, orow + c0, ldo);
      if (c0 < width)
        with_count<3>((width - c0) / 16, [&](auto nv) {
          TileAcc<M, decltype(nv)::value>(ar, ars, ats, nt, b + c0, ldb, orow + c0, ldo);
        });
    });
  }
}

// dst[j] = (bf16(a[j]), bf16(b[j])) for the kBK keys j of two rows (b null: a zero row).
QKV_BF16_TARGET inline void PairOfRows(const float* a, const float* b, uint32_t* dst) {
  alignas(64) static constexpr uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,
                                                           21, 6, 22, 7, 23, 8,  24, 9,  25, 10, 26,
                                                           11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i idx = _mm512_load_si512(kInterleave);
  for (int64_t v = 0; v < kBK / 16; ++v) {
    const __m512 hi = b ? _mm512_load_ps(b + v * 16) : _mm512_setzero_ps();
    const __m512i x = (__m512i)_mm512_cvtne2ps_pbh(hi, _mm512_load_ps(a + v * 16));
    _mm512_storeu_si512(dst + v * 16, _mm512_permutexvar_epi16(idx, x));
  }
}

struct Job {
  FlashDims dm;
  float scale = 0, c = 0;  // c = scale · log2(e)
  FlashInBf16 q, k, v;
  FlashIn o, dout;
  const float* lse = nullptr;
  const FlashMask* mask = nullptr;
  float* dk = nullptr;
  float* dv = nullptr;
  int64_t d2 = 0, dv2 = 0, dp = 0, dvp = 0, lq2 = 0, nkb = 0;
};

struct Scratch {
  // per head
  std::vector<uint32_t> qr, dor;   // [Lq][d2], [Lq][dv2]: rows as pairs along d / dv (dO rounded)
  std::vector<uint32_t> qp, dop;   // [Lq/2][dp], [Lq/2][dvp]: pairs of rows
  std::vector<uint16_t> dob;       // [Lq][2·dv2]: dO rounded to bf16
  Floats lse2, dd;                 // lse·log2(e) and D = rowsum(dO∘O) per row
  std::vector<int64_t> kend;
  // per key block
  std::vector<uint32_t> kt, vt;    // [d2][kBK], [dv2][kBK]
  std::vector<uint32_t> kp;        // [kBK/2][dp]: pairs of keys
  Floats dk, dv;                   // [kBK][dp], [kBK][dvp]
  // per query block
  Floats s, dps;                   // [kMR][kBK]: P and dS of a micro tile (float32)
  std::vector<uint32_t> pt, dst;   // [kQB/2][kBK]: P and dS as row pairs
  std::vector<uint32_t> dsk;       // [kMR][kBK/2]: dS of a micro tile as key pairs
  Floats dq;                       // this worker's dQ partial sums [B·H·Lq][dp] unless it writes dq directly
  std::vector<float> z;
};

template <typename T>
void Grow(std::vector<T>& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
}

// The per-head packs of head bh.
QKV_BF16_TARGET void PackHead(const Job& J, Scratch& sc, int64_t bh) {
  const FlashDims& dm = J.dm;
  const int64_t b = bh / dm.H, h = bh % dm.H, Lq = dm.Lq, d = dm.d, dv = dm.dv;
  for (int64_t i = 0; i < Lq; ++i) {
    RowAsPairs(J.q.row(b, h, i), d, sc.qr.data() + i * J.d2);
    const float* drow = J.dout.row(b, h, i);
    const float* orow = J.o.row(b, h, i);
    uint16_t* db = sc.dob.data() + i * 2 * J.dv2;
    float acc = 0.0f;
    for (int64_t c = 0; c < dv; ++c) {
      db[c] = bf16(drow[c]).bits;
      acc += bf16::to_float(db[c]) * orow[c];
    }
    if (dv & 1) db[dv] = 0;
    sc.dd.p[i] = acc;
    sc.lse2.p[i] = J.lse[bh * Lq + i] * kLog2e;
    sc.kend[static_cast<size_t>(i)] = key_end(*J.mask, dm.Lk, b, i);
  }
  std::memcpy(sc.dor.data(), sc.dob.data(), sizeof(uint32_t) * static_cast<size_t>(Lq * J.dv2));
  PackRowPairs(J.q.row(b, h, 0), J.q.si, Lq, d, sc.qp.data(), J.dp);
  PackRowPairs(sc.dob.data(), 2 * J.dv2, Lq, dv, sc.dop.data(), J.dvp);
}

// The per-key-block packs of keys j0 .. j0 + nk of head bh.
QKV_BF16_TARGET void PackKeys(const Job& J, Scratch& sc, int64_t bh, int64_t j0, int64_t nk) {
  const int64_t b = bh / J.dm.H, h = bh % J.dm.H;
  if (nk < kBK) {
    std::memset(sc.kt.data(), 0, sizeof(uint32_t) * static_cast<size_t>(J.d2 * kBK));
    std::memset(sc.vt.data(), 0, sizeof(uint32_t) * static_cast<size_t>(J.dv2 * kBK));
    std::memset(sc.kp.data(), 0, sizeof(uint32_t) * static_cast<size_t>(kBK / 2 * J.dp));
  }
  PackPairColumns(J.k.row(b, h, j0), J.k.si, nk, J.dm.d, sc.kt.data(), kBK);
  PackPairColumns(J.v.row(b, h, j0), J.v.si, nk, J.dm.dv, sc.vt.data(), kBK);
  PackRowPairs(J.k.row(b, h, j0), J.k.si, nk, J.dm.d, sc.kp.data(), J.dp);
}

// Work item (bh, kb): dK and dV of the key block, its share of dQ into dqh (row stride dp).
QKV_BF16_TARGET void BackwardItem(const Job& J, Scratch& sc, int64_t bh, int64_t kb, float* dqh) {
  const FlashDims& dm = J.dm;
  const FlashMask& mask = *J.mask;
  const int64_t b = bh / dm.H, h = bh % dm.H, Lq = dm.Lq, Lk = dm.Lk, d2 = J.d2, dv2 = J.dv2, dp = J.dp,
                dvp = J.dvp;
  const bool general = has_general(mask), dropout = mask.dropout_p > 0.0;
  const int64_t j0 = kb * kBK, nk = std::min(kBK, Lk - j0);
  PackKeys(J, sc, bh, j0, nk);
  std::memset(sc.dk.p, 0, sizeof(float) * static_cast<size_t>(kBK * dp));
  std::memset(sc.dv.p, 0, sizeof(float) * static_cast<size_t>(kBK * dvp));
  for (int64_t i0 = 0; i0 < Lq; i0 += kQB) {
    const int64_t rows = std::min(kQB, Lq - i0);
    int64_t first = rows;  // the first micro tile with a visible key in this block
    for (int64_t r0 = 0; r0 < rows; r0 += kMR) {
      const int64_t mr = std::min(kMR, rows - r0);
      const auto [lo, hi] = key_end_range(sc.kend, i0 + r0, i0 + r0 + mr, Lk);
      uint32_t* ptile = sc.pt.data() + (r0 / 2) * kBK;
      uint32_t* dstile = sc.dst.data() + (r0 / 2) * kBK;
      if (hi <= j0) {  // no row of this micro tile sees a key of the block
        if (first < rows) {  // zeros for dK and dV, which read from the first visible tile on
          std::memset(ptile, 0, sizeof(uint32_t) * static_cast<size_t>(kMR / 2 * kBK));
          std::memset(dstile, 0, sizeof(uint32_t) * static_cast<size_t>(kMR / 2 * kBK));
        }
        continue;
      }
      if (first == rows) first = r0;
      const int64_t nvis = std::min(nk, hi - j0), nvec = ceil_div(nvis, 16);
      ScoreTile(mr, nvec, sc.qr.data() + (i0 + r0) * d2, d2, sc.kt.data(), d2, J.c, sc.s.p);
      ScoreTile(mr, nvec, sc.dor.data() + (i0 + r0) * dv2, dv2, sc.vt.data(), dv2, 1.0f, sc.dps.p);
      for (int64_t r = 0; r < mr; ++r) {
        const int64_t i = i0 + r0 + r, ke = sc.kend[static_cast<size_t>(i)];
        float* pr = sc.s.p + r * kBK;
        float* dr = sc.dps.p + r * kBK;
        if (general || lo < j0 + nvec * 16) {
          MaskBeyond(pr, nvec, ke - j0);
          if (general && ke > j0) apply_general(mask, b, h, i, j0, std::min(nk, ke - j0), pr);
        }
        const float l2 = sc.lse2.p[i];
        const __m512 vl = _mm512_set1_ps(l2), vd = _mm512_set1_ps(sc.dd.p[i]);
        for (int64_t v = 0; v < nvec; ++v) {
          const __m512 p = l2 == kNegInf ? _mm512_setzero_ps() : Exp2(_mm512_sub_ps(_mm512_load_ps(pr + v * 16), vl));
          _mm512_store_ps(pr + v * 16, p);
          if (!dropout) _mm512_store_ps(dr + v * 16, _mm512_mul_ps(p, _mm512_sub_ps(_mm512_load_ps(dr + v * 16), vd)));
        }
        if (dropout) {
          dropout_factors(mask, bh, Lq, Lk, i, j0, nvis, sc.z.data());
          for (int64_t j = 0; j < nvec * 16; ++j) {
            const float zj = j < nvis ? sc.z[static_cast<size_t>(j)] : 0.0f;
            dr[j] = pr[j] * (dr[j] * zj - sc.dd.p[i]);
            pr[j] *= zj;
          }
        }
        for (int64_t v = nvec; v < kBK / 16; ++v) {  // keys no row of this micro tile sees
          _mm512_store_ps(pr + v * 16, _mm512_setzero_ps());
          _mm512_store_ps(dr + v * 16, _mm512_setzero_ps());
        }
        uint32_t* dk2 = sc.dsk.data() + r * (kBK / 2);
        for (int64_t v = 0; v < kBK / 32; ++v)
          _mm512_storeu_si512(dk2 + v * 16, (__m512i)_mm512_cvtne2ps_pbh(_mm512_load_ps(dr + v * 32 + 16),
                                                                         _mm512_load_ps(dr + v * 32)));
      }
      for (int64_t r = 0; r < kMR; r += 2) {
        const float* p1 = r + 1 < mr ? sc.s.p + (r + 1) * kBK : nullptr;
        const float* d1 = r + 1 < mr ? sc.dps.p + (r + 1) * kBK : nullptr;
        if (r < mr) {
          PairOfRows(sc.s.p + r * kBK, p1, ptile + (r / 2) * kBK);
          PairOfRows(sc.dps.p + r * kBK, d1, dstile + (r / 2) * kBK);
        } else {
          std::memset(ptile + (r / 2) * kBK, 0, sizeof(uint32_t) * kBK);
          std::memset(dstile + (r / 2) * kBK, 0, sizeof(uint32_t) * kBK);
        }
      }
      GemmAcc(mr, dp, sc.dsk.data(), kBK / 2, 1, (nvis + 1) / 2, sc.kp.data(), dp, dqh + (i0 + r0) * dp, dp);
    }
    if (first == rows) continue;
    const int64_t t0 = first / 2, nt = (rows + 1) / 2 - t0, tq = (i0 + first) / 2;
    GemmAcc(nk, dvp, sc.pt.data() + t0 * kBK, 1, kBK, nt, sc.dop.data() + tq * dvp, dvp, sc.dv.p, dvp);
    GemmAcc(nk, dp, sc.dst.data() + t0 * kBK, 1, kBK, nt, sc.qp.data() + tq * dp, dp, sc.dk.p, dp);
  }
  for (int64_t j = 0; j < nk; ++j) {
    float* dkr = J.dk + (bh * Lk + j0 + j) * dm.d;
    float* dvr = J.dv + (bh * Lk + j0 + j) * dm.dv;
    for (int64_t c = 0; c < dm.d; ++c) dkr[c] = sc.dk.p[j * dp + c] * J.scale;
    std::memcpy(dvr, sc.dv.p + j * dvp, sizeof(float) * static_cast<size_t>(dm.dv));
  }
}

void BackwardNative(const FlashDims& dm, float scale, const FlashInBf16& q, const FlashInBf16& k,
                    const FlashInBf16& v, const FlashIn& o, const FlashIn& dout, const float* lse,
                    const FlashMask& mask, float* dq, float* dk, float* dv) {
  const int64_t B = dm.B, H = dm.H, Lq = dm.Lq, Lk = dm.Lk;
  Job J;
  J.dm = dm;
  J.scale = scale;
  J.c = scale * kLog2e;
  J.q = q;
  J.k = k;
  J.v = v;
  J.o = o;
  J.dout = dout;
  J.lse = lse;
  J.mask = &mask;
  J.dk = dk;
  J.dv = dv;
  J.d2 = (dm.d + 1) / 2;
  J.dv2 = (dm.dv + 1) / 2;
  J.dp = round_up(dm.d, 16);
  J.dvp = round_up(dm.dv, 16);
  J.lq2 = (Lq + 1) / 2;
  J.nkb = ceil_div(Lk, kBK);
  const int64_t dp = J.dp, nkb = J.nkb;

  // Cost of item (bh, kb): the query rows that see a key of the block, plus a constant for the packs.
  thread_local PassState<Scratch> state;
  thread_local std::vector<int64_t> hist_buf;
  PassState<Scratch>& st = state;
  key_block_costs(dm, mask, kBK, st.cost, hist_buf);
  const int workers = st.plan();
  const std::vector<int64_t>& bounds = st.bounds;
  const bool direct_dq = dp == dm.d;  // worker 0 accumulates straight into dq
  std::vector<Scratch>& scratch = st.scratch;
  for (int w = 0; w < workers; ++w) {
    Scratch& sc = scratch[static_cast<size_t>(w)];
    Grow(sc.qr, Lq * J.d2 + 16);
    Grow(sc.dor, Lq * J.dv2 + 16);
    Grow(sc.dob, Lq * 2 * J.dv2 + 32);
    Grow(sc.qp, J.lq2 * dp + 16);
    Grow(sc.dop, J.lq2 * J.dvp + 16);
    sc.lse2.reserve(Lq);
    sc.dd.reserve(Lq);
    Grow(sc.kend, Lq);
    Grow(sc.kt, J.d2 * kBK + 16);
    Grow(sc.vt, J.dv2 * kBK + 16);
    Grow(sc.kp, kBK / 2 * dp + 16);
    sc.dk.reserve(kBK * dp);
    sc.dv.reserve(kBK * J.dvp);
    sc.s.reserve(kMR * kBK);
    sc.dps.reserve(kMR * kBK);
    Grow(sc.pt, kQB / 2 * kBK);
    Grow(sc.dst, kQB / 2 * kBK);
    Grow(sc.dsk, kMR * kBK / 2);
    Grow(sc.z, kBK);
    if (!(direct_dq && w == 0)) {
      sc.dq.reserve(B * H * Lq * dp);
      std::memset(sc.dq.p, 0, sizeof(float) * static_cast<size_t>(B * H * Lq * dp));
    }
  }
  parallel_workers(workers, [&](int w, int) {
    Scratch& sc = scratch[static_cast<size_t>(w)];
    float* dqacc = (direct_dq && w == 0) ? dq : sc.dq.p;
    int64_t cur = -1;
    for (int64_t it = bounds[static_cast<size_t>(w)]; it < bounds[static_cast<size_t>(w) + 1]; ++it) {
      const int64_t bh = it / nkb, kb = it % nkb;
      if (bh != cur) {
        PackHead(J, sc, bh);
        cur = bh;
      }
      BackwardItem(J, sc, bh, kb, dqacc + bh * Lq * dp);
    }
  });
  sum_dq_partials(B * H * Lq, dm.d, dp, direct_dq, scratch, workers, scale, dq);
}

#endif  // QKV_BF16_NATIVE

// q, k, v widened to float32, then the float32 kernel (on the same dispatched target).
void BackwardWidened(const FlashDims& dm, float scale, const FlashInBf16& q, const FlashInBf16& k,
                     const FlashInBf16& v, const FlashIn& o, const FlashIn& dout, const float* lse,
                     const FlashMask& mask, float* dq, float* dk, float* dv) {
  const WidenedQkv w = widen_qkv(dm, q, k, v);
  flash_backward(dm, scale, w.qv, w.kv, w.vv, o, dout, lse, mask, dq, dk, dv);
}

}  // namespace

void BackwardBf16Impl(Bf16Kernel kernel, const FlashDims& dm, float scale, const FlashInBf16& q,
                      const FlashInBf16& k, const FlashInBf16& v, const FlashIn& o, const FlashIn& dout,
                      const float* lse, const FlashMask& mask, float* dq, float* dk, float* dv) {
  (void)kernel;  // flash_backward_bf16_with asks for native only where this target has it
#if QKV_BF16_NATIVE
  if (kernel == Bf16Kernel::native) {
    std::memset(dq, 0, sizeof(float) * static_cast<size_t>(dm.B * dm.H * dm.Lq * dm.d));
    std::memset(dk, 0, sizeof(float) * static_cast<size_t>(dm.B * dm.H * dm.Lk * dm.d));
    std::memset(dv, 0, sizeof(float) * static_cast<size_t>(dm.B * dm.H * dm.Lk * dm.dv));
    if (dm.B * dm.H * dm.Lq * dm.Lk == 0) return;
    BackwardNative(dm, scale, q, k, v, o, dout, lse, mask, dq, dk, dv);
    return;
  }
#endif
  BackwardWidened(dm, scale, q, k, v, o, dout, lse, mask, dq, dk, dv);
}

}  // namespace HWY_NAMESPACE
}  // namespace qkv::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkv::kernels {

HWY_EXPORT(BackwardBf16Impl);

void flash_backward_bf16_with(Bf16Kernel kernel, const FlashDims& dims, float scale, const FlashInBf16& q,
                              const FlashInBf16& k, const FlashInBf16& v, const FlashIn& out, const FlashIn& dout,
                              const float* lse, const FlashMask& mask, float* dq, float* dk, float* dv) {
  QKV_CHECK(kernel == Bf16Kernel::widened || flash_bf16_native(), "flash_backward_bf16_with: kernel is native but ",
            "this CPU has no AVX512-BF16 (or the SIMD target is below AVX-512); expected widened");
  QKV_CHECK(kernel == Bf16Kernel::widened || (!has_variant(mask) && dims.group() == 1),
            "flash_backward_bf16_with: kernel is native but the call uses a variant (window, ALiBi, softcap or ",
            "grouped K/V, group ", dims.group(), "), which only the widened kernel has; expected widened");
  HWY_DYNAMIC_DISPATCH(BackwardBf16Impl)(kernel, dims, scale, q, k, v, out, dout, lse, mask, dq, dk, dv);
}

void flash_backward_bf16(const FlashDims& dims, float scale, const FlashInBf16& q, const FlashInBf16& k,
                         const FlashInBf16& v, const FlashIn& out, const FlashIn& dout, const float* lse,
                         const FlashMask& mask, float* dq, float* dk, float* dv) {
  const bool native = flash_bf16_native() && !has_variant(mask) && dims.group() == 1;
  flash_backward_bf16_with(native ? Bf16Kernel::native : Bf16Kernel::widened, dims, scale, q, k, v, out, dout, lse,
                           mask, dq, dk, dv);
}

}  // namespace qkv::kernels
#endif
