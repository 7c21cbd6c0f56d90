// Test helpers for the fused attention kernels: random inputs, named sweep cases and an
// obvious double-precision attention (the slow twin of ops/sdpa/flash_f32.cpp).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "qkv/ops/sdpa/sdpa.h"
#include "qkv/core/rng.h"

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

inline TensorF randn(const Shape& shape, Rng& rng, double sd = 1.0) {
  TensorF t(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(rng.normal(0.0, sd));
  return t;
}

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

// Attention in double, one score row at a time: out, lse, weights and the gradients.
struct Naive {
  TensorD out, lse, weights, dq, dk, dv;
};

inline Naive naive_attention(const TensorF& q, const TensorF& k, const TensorF& v, const TensorF& dout,
                             const AttentionMask& mask, const SdpaOptions& opt) {
  const int64_t B = q.dim(0), H = q.dim(1), Lq = q.dim(2), Lk = k.dim(2), d = q.dim(3), dv = v.dim(3);
  const double scale = opt.scale ? *opt.scale : 1.0 / std::sqrt(static_cast<double>(d));
  const double ninf = -std::numeric_limits<double>::infinity();
  Naive r{TensorD({B, H, Lq, dv}), TensorD({B, H, Lq}), TensorD({B, H, Lq, Lk}), TensorD({B, H, Lq, d}),
          TensorD({B, H, Lk, d}), TensorD({B, H, Lk, dv})};
  TensorB allowed = mask.allowed.defined() ? mask.allowed.expand({B, H, Lq, Lk}) : TensorB();
  TensorF bias = mask.bias.defined() ? mask.bias.expand({B, H, Lq, Lk}) : TensorF();
  std::vector<double> s(static_cast<size_t>(Lk)), p(static_cast<size_t>(Lk)), z(static_cast<size_t>(Lk)),
      dp(static_cast<size_t>(Lk));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Lq; ++i) {
        double mx = ninf;
        for (int64_t j = 0; j < Lk; ++j) {
          bool vis = causal_allows(mask.causal, i, j, Lq, Lk);
          if (mask.valid_lens.defined()) {
            int64_t len = mask.valid_lens.rank() == 1 ? mask.valid_lens.at({b}) : mask.valid_lens.at({b, i});
            vis = vis && j < len;
          }
          if (allowed.defined()) vis = vis && allowed.at({b, h, i, j});
          double sc = ninf;
          if (vis) {
            double acc = 0;
            for (int64_t c = 0; c < d; ++c) acc += double(q.at({b, h, i, c})) * double(k.at({b, h, j, c}));
            sc = scale * acc + (bias.defined() ? double(bias.at({b, h, i, j})) : 0.0);
          }
          s[size_t(j)] = sc;
          mx = std::max(mx, sc);
          double zz = 1.0;
          if (opt.dropout_p > 0) {
            uint64_t ctr = static_cast<uint64_t>(((b * H + h) * Lq + i) * Lk + j);
            zz = counter_uniform(opt.dropout_seed, ctr) < opt.dropout_p ? 0.0 : 1.0 / (1.0 - opt.dropout_p);
          }
          z[size_t(j)] = zz;
        }
        if (mx == ninf) {
          r.lse.at({b, h, i}) = ninf;
          continue;  // zero weights, output and gradients
        }
        double sum = 0;
        for (int64_t j = 0; j < Lk; ++j) sum += s[size_t(j)] == ninf ? 0.0 : std::exp(s[size_t(j)] - mx);
        r.lse.at({b, h, i}) = mx + std::log(sum);
        for (int64_t j = 0; j < Lk; ++j) {
          p[size_t(j)] = s[size_t(j)] == ninf ? 0.0 : std::exp(s[size_t(j)] - mx) / sum;
          r.weights.at({b, h, i, j}) = p[size_t(j)];
        }
        for (int64_t c = 0; c < dv; ++c) {
          double acc = 0;
          for (int64_t j = 0; j < Lk; ++j) acc += p[size_t(j)] * z[size_t(j)] * double(v.at({b, h, j, c}));
          r.out.at({b, h, i, c}) = acc;
        }
        double D = 0;
        for (int64_t j = 0; j < Lk; ++j) {
          double acc = 0;
          for (int64_t c = 0; c < dv; ++c) acc += double(dout.at({b, h, i, c})) * double(v.at({b, h, j, c}));
          dp[size_t(j)] = acc * z[size_t(j)];
          D += p[size_t(j)] * dp[size_t(j)];
        }
        for (int64_t j = 0; j < Lk; ++j) {
          const double pj = p[size_t(j)];
          if (pj == 0.0) continue;
          const double ds = pj * (dp[size_t(j)] - D);
          for (int64_t c = 0; c < dv; ++c) r.dv.at({b, h, j, c}) += pj * z[size_t(j)] * double(dout.at({b, h, i, c}));
          for (int64_t c = 0; c < d; ++c) {
            r.dq.at({b, h, i, c}) += scale * ds * double(k.at({b, h, j, c}));
            r.dk.at({b, h, j, c}) += scale * ds * double(q.at({b, h, i, c}));
          }
        }
      }
  return r;
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

}  // namespace qkv::flash_test
