// Test helpers for the fused attention kernels: random inputs, named sweep cases, and the one
// reference (sdpa_reference) in double precision to compare them with.
#pragma once

#include <gtest/gtest.h>

#include <hwy/targets.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "qkv/core/rng.h"
#include "qkv/core/error.h"
#include "qkv/ops/sdpa/flash.h"
#include "qkv/ops/sdpa/sdpa.h"
#include "qkv/ops/sdpa/sdpa_reference.h"

namespace qkv::flash_test {

enum class MaskKind { none, causal_tl, causal_br, lens_b, lens_bq, allowed, bias, combined };

inline const char* mask_name(MaskKind m) {
  switch (m) {
    case MaskKind::none: return "none";
    case MaskKind::causal_tl: return "causal_top_left";
    case MaskKind::causal_br: return "causal_bottom_right";
    case MaskKind::lens_b: return "valid_lens_B";
    case MaskKind::lens_bq: return "valid_lens_BLq";
    case MaskKind::allowed: return "allowed";
    case MaskKind::bias: return "bias";
    case MaskKind::combined: return "causal+lens+allowed+bias";
  }
  return "?";
}

struct Case {
  int64_t B = 1, H = 1, Lq = 1, Lk = 1, d = 16, dv = 16;
  MaskKind mask = MaskKind::none;
  int threads = 1;
  double dropout = 0.0;
  bool weights = false;
  std::string name() const {
    return "B" + std::to_string(B) + " H" + std::to_string(H) + " Lq" + std::to_string(Lq) + " Lk" +
           std::to_string(Lk) + " d" + std::to_string(d) + " dv" + std::to_string(dv) + " mask=" + mask_name(mask) +
           " threads=" + std::to_string(threads) + (dropout > 0 ? " dropout=" + std::to_string(dropout) : "") +
           (weights ? " weights" : "");
  }
};

// float32 draws of the shared test::randn (tests/support/gradcheck.h).
inline TensorF randn(const Shape& shape, Rng& rng, double sd = 1.0) { return test::randn<float>(shape, rng, sd); }

// A mask of the given kind for (B, H, Lq, Lk); valid lengths include 0 (fully masked rows).
inline AttentionMask make_mask(MaskKind kind, int64_t B, int64_t H, int64_t Lq, int64_t Lk, Rng& rng) {
  AttentionMask m;
  auto lens_b = [&] {
    TensorI l({B});
    for (int64_t b = 0; b < B; ++b) l[b] = b == 1 ? 0 : static_cast<int64_t>(rng.below(static_cast<uint64_t>(Lk) + 1));
    if (B == 1) l[0] = std::max<int64_t>(1, Lk - Lk / 3);
    return l;
  };
  auto lens_bq = [&] {
    TensorI l({B, Lq});
    for (int64_t i = 0; i < l.numel(); ++i)
      l[i] = i % 5 == 2 ? 0 : static_cast<int64_t>(rng.below(static_cast<uint64_t>(Lk) + 1));
    return l;
  };
  auto allowed = [&] {
    TensorB a({B, 1, Lq, Lk});  // broadcast over heads
    for (int64_t i = 0; i < a.numel(); ++i) a[i] = rng.uniform() < 0.7 ? 1 : 0;
    for (int64_t j = 0; j < Lk; ++j) a[(Lq / 2) * Lk + j] = 0;  // one fully masked row
    return a;
  };
  auto bias = [&] {
    TensorF f({1, H, Lq, Lk});  // broadcast over the batch
    for (int64_t i = 0; i < f.numel(); ++i)
      f[i] = rng.uniform() < 0.1 ? -std::numeric_limits<float>::infinity() : static_cast<float>(rng.normal(0, 1));
    return f;
  };
  switch (kind) {
    case MaskKind::none: break;
    case MaskKind::causal_tl: m.causal = Causal::top_left; break;
    case MaskKind::causal_br: m.causal = Causal::bottom_right; break;
    case MaskKind::lens_b: m.valid_lens = lens_b(); break;
    case MaskKind::lens_bq: m.valid_lens = lens_bq(); break;
    case MaskKind::allowed: m.allowed = allowed(); break;
    case MaskKind::bias: m.bias = bias(); break;
    case MaskKind::combined:
      m.causal = Causal::bottom_right;
      m.valid_lens = lens_bq();
      m.allowed = allowed();
      m.bias = bias();
      break;
  }
  return m;
}

// The one reference (sdpa_reference.h) in float64 on the same inputs: out, lse, weights (always
// computed) and the gradients for the upstream dout.
struct ReferenceInFloat64 {
  TensorD out, lse, weights, dq, dk, dv;
};

inline ReferenceInFloat64 reference_in_float64(const TensorF& q, const TensorF& k, const TensorF& v, const TensorF& dout,
                             const AttentionMask& mask, const SdpaOptions& opt) {
  SdpaOptions o = opt;
  o.need_weights = true;
  const TensorD qd = q.cast<double>(), kd = k.cast<double>(), vd = v.cast<double>();
  const SdpaForward<double> f = sdpa_reference_forward(qd, kd, vd, mask, o);
  const SdpaGrads<double> g = sdpa_reference_backward(dout.cast<double>(), qd, kd, vd, f, mask, o);
  return {f.out, f.lse, f.weights, g.dq, g.dk, g.dv};
}

// Max |a − b| relative to max(max |b|, 1) (the inputs are O(1)); infinities must match exactly.
template <typename A>
inline void expect_close(const Tensor<A>& a, const TensorD& b, double rtol, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  double ref = 0, err = 0;
  int64_t worst = -1;
  auto av = a.contiguous();
  auto bv = b.contiguous();
  for (int64_t i = 0; i < b.numel(); ++i) {
    const double x = double(av[i]), y = bv[i];
    if (std::isinf(y) || std::isinf(x)) {
      ASSERT_EQ(x, y) << what << ": element " << i;
      continue;
    }
    ASSERT_FALSE(std::isnan(x)) << what << ": NaN at element " << i;
    ref = std::max(ref, std::abs(y));
    if (std::abs(x - y) > err) {
      err = std::abs(x - y);
      worst = i;
    }
  }
  EXPECT_LE(err, rtol * std::max(ref, 1.0)) << what << ": max error " << err << " at element " << worst << " (max |ref| "
                                    << ref << ")";
}

// A float32 forward + backward (fwd: out, lse, weights; g: dq, dk, dv) against a reference's
// results of the same names: the forward within fwd_rtol (weights only when asked for), the
// gradients within grad_rtol.
template <typename F, typename G, typename RF, typename RG>
inline void expect_attention_close(const F& fwd, const G& g, const RF& rf, const RG& rg, bool weights, double fwd_rtol,
                                   double grad_rtol) {
  expect_close(fwd.out, rf.out, fwd_rtol, "out");
  expect_close(fwd.lse, rf.lse, fwd_rtol, "lse");
  if (weights) expect_close(fwd.weights, rf.weights, fwd_rtol, "weights");
  expect_close(g.dq, rg.dq, grad_rtol, "dq");
  expect_close(g.dk, rg.dk, grad_rtol, "dk");
  expect_close(g.dv, rg.dv, grad_rtol, "dv");
}

// bfloat16 copies of a float32 tensor: the bf16 values, and the same values back in float32.
inline Tensor<bf16> to_bf16(const TensorF& t) {
  Tensor<bf16> out(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = bf16(t[i]);
  return out;
}

inline TensorF bf16_rounded(const TensorF& t) {
  TensorF out(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = static_cast<float>(bf16(t[i]));
  return out;
}

// The kernels' view of a (B, H, L, w) bf16 tensor whose last dim is contiguous.
inline kernels::FlashInBf16 bf16_view(const Tensor<bf16>& t) {
  return {reinterpret_cast<const uint16_t*>(t.data()), t.stride(0), t.stride(1), t.stride(2)};
}

// The decoding sweep of both forward kernels (float32: test_flash_sweep.cpp; bf16:
// test_flash_bf16.cpp). Up to four query rows per head score straight from K's rows
// (decode_scores_avx512.h): head dims with vector tails, 256 and beyond it (panels again; so are
// 5 rows), key counts around the 256-key step, every mask kind, dropout, value widths with column
// tails of 16, 32 and 64.
inline std::vector<Case> decoding_cases() {
  std::vector<Case> cases;
  for (int64_t d : {3, 17, 64, 100, 256, 300})
    for (int64_t Lq : {1, 2, 4, 5}) cases.push_back({2, 2, Lq, 257, d, 24, MaskKind::combined, 2, 0.0, true});
  for (int64_t Lk : {1, 7, 256, 1100})
    for (MaskKind m : {MaskKind::none, MaskKind::lens_bq, MaskKind::causal_br, MaskKind::allowed, MaskKind::bias})
      cases.push_back({1, 3, 1, Lk, 64, 64, m, Lk % 2 ? 1 : 2});
  cases.push_back({1, 2, 2, 300, 32, 32, MaskKind::combined, 2, 0.3, true});
  for (int64_t Lq : {1, 2}) cases.push_back({1, 2, Lq, 300, 32, 32, MaskKind::none, 2, 0.3});  // every key visible
  // Value widths past one slab (256 columns) of the bf16 kernel's P·V from V's rows (one row per
  // head) and with partial 32-value chunks; 2 and 3 rows multiply packed key pairs.
  for (int64_t Lq : {1, 2, 3})
    for (int64_t dv : {1, 33, 100, 130, 300}) cases.push_back({1, 2, Lq, 301, 32, dv, MaskKind::lens_bq, 2});
  return cases;
}

// On every SIMD target compiled in and supported here (forced one at a time) where the native bf16
// kernels do not run (flash_bf16_native() false), call_native (a call naming Bf16Kernel::native)
// must throw a qkv::Error that says "kernel is native" and "expected widened". At least one
// target must be checked.
inline void expect_native_refused_where_unavailable(const std::function<void()>& call_native) {
  int checked = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    if (kernels::flash_bf16_native()) continue;
    SCOPED_TRACE(std::string("target ") + hwy::TargetName(target));
    ++checked;
    try {
      call_native();
      ADD_FAILURE() << "no qkv::Error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("kernel is native"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("expected widened"), std::string::npos) << e.what();
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GT(checked, 0) << "every compiled target runs the native kernel";
}

}  // namespace qkv::flash_test
