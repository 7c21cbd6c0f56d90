// Highway kernels behind ew_ops.h, compiled once per SIMD target and dispatched at run time,
// plus the scalar twins. See ew_ops.h for the formulas.
#include "qkv/kernels/ew_ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "qkv/core/parallel.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "qkv/kernels/ew_ops.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace qkv {
namespace kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// erf(x) for float: odd/even rational approximation on x clamped to [-4, 4] (Eigen's
// generic_fast_erf_float); error a few ulps.
template <class D, class V>
HWY_INLINE V ErfApprox(D d, V x) {
  x = hn::Min(hn::Max(x, hn::Set(d, -4.0f)), hn::Set(d, 4.0f));
  const V x2 = hn::Mul(x, x);
  V p = hn::Set(d, -2.72614225801306e-10f);
  p = hn::MulAdd(p, x2, hn::Set(d, 2.77068142495902e-08f));
  p = hn::MulAdd(p, x2, hn::Set(d, -2.10102402082508e-06f));
  p = hn::MulAdd(p, x2, hn::Set(d, -5.69250639462346e-05f));
  p = hn::MulAdd(p, x2, hn::Set(d, -7.34990630326855e-04f));
  p = hn::MulAdd(p, x2, hn::Set(d, -2.95459980854025e-03f));
  p = hn::MulAdd(p, x2, hn::Set(d, -1.60960333262415e-02f));
  p = hn::Mul(p, x);
  V q = hn::Set(d, -1.45660718464996e-05f);
  q = hn::MulAdd(q, x2, hn::Set(d, -2.13374055278905e-04f));
  q = hn::MulAdd(q, x2, hn::Set(d, -1.68282697438203e-03f));
  q = hn::MulAdd(q, x2, hn::Set(d, -7.37332916720468e-03f));
  q = hn::MulAdd(q, x2, hn::Set(d, -1.42647390514189e-02f));
  return hn::Div(p, q);
}

inline float GeluScalar(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
inline float GeluGradScalar(float x) {
  float cdf = 0.5f * (1.0f + std::erf(x * 0.70710678118654752f));
  float pdf = 0.39894228040143268f * std::exp(-0.5f * x * x);
  return cdf + x * pdf;
}

void GeluForwardRange(const float* HWY_RESTRICT x, float* y, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto half = hn::Set(d, 0.5f), one = hn::Set(d, 1.0f), rsqrt2 = hn::Set(d, 0.70710678118654752f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    auto v = hn::LoadU(d, x + i);
    auto e = ErfApprox(d, hn::Mul(v, rsqrt2));
    hn::StoreU(hn::Mul(hn::Mul(half, v), hn::Add(one, e)), d, y + i);
  }
  for (; i < n; ++i) y[i] = GeluScalar(x[i]);
}

void GeluBackwardRange(const float* HWY_RESTRICT x, const float* dy, float* dx, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto half = hn::Set(d, 0.5f), one = hn::Set(d, 1.0f), rsqrt2 = hn::Set(d, 0.70710678118654752f);
  const auto inv_sqrt_2pi = hn::Set(d, 0.39894228040143268f), neg_half = hn::Set(d, -0.5f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    auto v = hn::LoadU(d, x + i);
    auto cdf = hn::Mul(half, hn::Add(one, ErfApprox(d, hn::Mul(v, rsqrt2))));
    auto pdf = hn::Mul(inv_sqrt_2pi, hn::Exp(d, hn::Mul(neg_half, hn::Mul(v, v))));
    auto grad = hn::MulAdd(v, pdf, cdf);
    hn::StoreU(hn::Mul(grad, hn::LoadU(d, dy + i)), d, dx + i);
  }
  for (; i < n; ++i) dx[i] = dy[i] * GeluGradScalar(x[i]);
}

void AddRange(float* HWY_RESTRICT y, const float* HWY_RESTRICT x, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Add(hn::LoadU(d, y + i), hn::LoadU(d, x + i)), d, y + i);
  for (; i < n; ++i) y[i] += x[i];
}

// One LayerNorm row: two passes (mean, then centred variance) for accuracy.
void LayerNormRow(const float* HWY_RESTRICT x, const float* HWY_RESTRICT gamma, const float* HWY_RESTRICT beta,
                  float* HWY_RESTRICT y, float* mean_out, float* rstd_out, int64_t cols, float eps) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto acc = hn::Zero(d);
  int64_t j = 0;
  for (; j + N <= cols; j += N) acc = hn::Add(acc, hn::LoadU(d, x + j));
  float sum = hn::GetLane(hn::SumOfLanes(d, acc));
  for (; j < cols; ++j) sum += x[j];
  const float mean = sum / static_cast<float>(cols);
  const auto vmean = hn::Set(d, mean);
  acc = hn::Zero(d);
  for (j = 0; j + N <= cols; j += N) {
    auto c = hn::Sub(hn::LoadU(d, x + j), vmean);
    acc = hn::MulAdd(c, c, acc);
  }
  float var = hn::GetLane(hn::SumOfLanes(d, acc));
  for (; j < cols; ++j) var += (x[j] - mean) * (x[j] - mean);
  var /= static_cast<float>(cols);
  const float rstd = 1.0f / std::sqrt(var + eps);
  const auto vrstd = hn::Set(d, rstd);
  for (j = 0; j + N <= cols; j += N) {
    auto xh = hn::Mul(hn::Sub(hn::LoadU(d, x + j), vmean), vrstd);
    hn::StoreU(hn::MulAdd(xh, hn::LoadU(d, gamma + j), hn::LoadU(d, beta + j)), d, y + j);
  }
  for (; j < cols; ++j) y[j] = (x[j] - mean) * rstd * gamma[j] + beta[j];
  *mean_out = mean;
  *rstd_out = rstd;
}

void LayerNormForwardRows(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                          float* rstd, int64_t r0, int64_t r1, int64_t cols, float eps) {
  for (int64_t r = r0; r < r1; ++r)
    LayerNormRow(x + r * cols, gamma, beta, y + r * cols, mean + r, rstd + r, cols, eps);
}

// Rows [r0, r1): writes dx and accumulates this worker's dgamma/dbeta partials.
void LayerNormBackwardRows(const float* dy, const float* x, const float* mean, const float* rstd,
                           const float* gamma, float* dx, float* dgamma, float* dbeta, int64_t r0, int64_t r1,
                           int64_t cols) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const float inv_cols = 1.0f / static_cast<float>(cols);
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    const auto vmean = hn::Set(d, mean[r]);
    const auto vrstd = hn::Set(d, rstd[r]);
    auto acc_g = hn::Zero(d), acc_gx = hn::Zero(d);
    int64_t j = 0;
    for (; j + N <= cols; j += N) {
      auto xh = hn::Mul(hn::Sub(hn::LoadU(d, xr + j), vmean), vrstd);
      auto dyv = hn::LoadU(d, dyr + j);
      auto g = hn::Mul(dyv, hn::LoadU(d, gamma + j));
      acc_g = hn::Add(acc_g, g);
      acc_gx = hn::MulAdd(g, xh, acc_gx);
      hn::StoreU(hn::MulAdd(dyv, xh, hn::LoadU(d, dgamma + j)), d, dgamma + j);
      hn::StoreU(hn::Add(dyv, hn::LoadU(d, dbeta + j)), d, dbeta + j);
    }
    float sg = hn::GetLane(hn::SumOfLanes(d, acc_g));
    float sgx = hn::GetLane(hn::SumOfLanes(d, acc_gx));
    for (; j < cols; ++j) {
      float xh = (xr[j] - mean[r]) * rstd[r];
      float g = dyr[j] * gamma[j];
      sg += g;
      sgx += g * xh;
      dgamma[j] += dyr[j] * xh;
      dbeta[j] += dyr[j];
    }
    const float a = sg * inv_cols, b = sgx * inv_cols;
    const auto va = hn::Set(d, a), vb = hn::Set(d, b);
    for (j = 0; j + N <= cols; j += N) {
      auto xh = hn::Mul(hn::Sub(hn::LoadU(d, xr + j), vmean), vrstd);
      auto g = hn::Mul(hn::LoadU(d, dyr + j), hn::LoadU(d, gamma + j));
      auto t = hn::Sub(hn::Sub(g, va), hn::Mul(xh, vb));
      hn::StoreU(hn::Mul(t, vrstd), d, dxr + j);
    }
    for (; j < cols; ++j) {
      float xh = (xr[j] - mean[r]) * rstd[r];
      dxr[j] = rstd[r] * (dyr[j] * gamma[j] - a - xh * b);
    }
  }
}

void AdamWRange(float* HWY_RESTRICT p, const float* HWY_RESTRICT g, float* HWY_RESTRICT m, float* HWY_RESTRICT v,
                int64_t n, const AdamWStep& s) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto b1 = hn::Set(d, s.beta1), b2 = hn::Set(d, s.beta2);
  const auto c1 = hn::Set(d, 1.0f - s.beta1), c2 = hn::Set(d, 1.0f - s.beta2);
  const auto eps = hn::Set(d, s.eps), decay = hn::Set(d, s.decay), neg_step = hn::Set(d, -s.step_size);
  const auto isb = hn::Set(d, s.inv_sqrt_bc2);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    auto gv = hn::LoadU(d, g + i);
    auto mv = hn::MulAdd(b1, hn::LoadU(d, m + i), hn::Mul(c1, gv));
    auto vv = hn::MulAdd(b2, hn::LoadU(d, v + i), hn::Mul(c2, hn::Mul(gv, gv)));
    hn::StoreU(mv, d, m + i);
    hn::StoreU(vv, d, v + i);
    auto denom = hn::MulAdd(hn::Sqrt(vv), isb, eps);
    auto pv = hn::Mul(hn::LoadU(d, p + i), decay);
    hn::StoreU(hn::MulAdd(neg_step, hn::Div(mv, denom), pv), d, p + i);
  }
  for (; i < n; ++i) {
    m[i] = s.beta1 * m[i] + (1.0f - s.beta1) * g[i];
    v[i] = s.beta2 * v[i] + (1.0f - s.beta2) * (g[i] * g[i]);
    float denom = std::sqrt(v[i]) * s.inv_sqrt_bc2 + s.eps;
    p[i] = p[i] * s.decay - s.step_size * (m[i] / denom);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace qkv
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkv::kernels {

HWY_EXPORT(GeluForwardRange);
HWY_EXPORT(GeluBackwardRange);
HWY_EXPORT(AddRange);
HWY_EXPORT(LayerNormForwardRows);
HWY_EXPORT(LayerNormBackwardRows);
HWY_EXPORT(AdamWRange);

namespace {
constexpr int64_t kElementGrain = 16384;

int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, 8192 / std::max<int64_t>(cols, 1)); }
}  // namespace

void gelu_forward(const float* x, float* y, int64_t n) {
  parallel_for(n, kElementGrain, [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(GeluForwardRange)(x + b, y + b, e - b); });
}

void gelu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  parallel_for(n, kElementGrain,
               [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(GeluBackwardRange)(x + b, dy + b, dx + b, e - b); });
}

void add_inplace(float* y, const float* x, int64_t n) {
  parallel_for(n, kElementGrain, [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(AddRange)(y + b, x + b, e - b); });
}

void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s) {
  parallel_for(n, kElementGrain, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(AdamWRange)(p + b, g + b, m + b, v + b, e - b, s);
  });
}

void layernorm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                       int64_t rows, int64_t cols, float eps) {
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(LayerNormForwardRows)(x, gamma, beta, y, mean, rstd, r0, r1, cols, eps);
  });
}

void layernorm_backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
                        float* dx, float* dgamma, float* dbeta, int64_t rows, int64_t cols) {
  // Each worker sums its rows' dgamma/dbeta into its own slot; slots are added in worker order.
  int64_t grain = row_grain(cols);
  int workers = static_cast<int>(std::min<int64_t>(num_threads(), std::max<int64_t>(1, rows / grain)));
  thread_local std::vector<float> partial;
  partial.assign(static_cast<size_t>(workers) * 2 * cols, 0.0f);
  float* part = partial.data();
  parallel_workers(workers, [&](int w, int nw) {
    int64_t r0 = rows * w / nw, r1 = rows * (w + 1) / nw;
    float* dg = part + static_cast<int64_t>(w) * 2 * cols;
    HWY_DYNAMIC_DISPATCH(LayerNormBackwardRows)(dy, x, mean, rstd, gamma, dx, dg, dg + cols, r0, r1, cols);
  });
  for (int w = 0; w < workers; ++w) {
    const float* dg = part + static_cast<int64_t>(w) * 2 * cols;
    for (int64_t j = 0; j < cols; ++j) {
      dgamma[j] += dg[j];
      dbeta[j] += dg[cols + j];
    }
  }
}

// ---- scalar twins ----

void scalar_layernorm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                              float* rstd, int64_t rows, int64_t cols, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    double s = 0;
    for (int64_t j = 0; j < cols; ++j) s += xr[j];
    double mu = s / static_cast<double>(cols);
    double var = 0;
    for (int64_t j = 0; j < cols; ++j) var += (xr[j] - mu) * (xr[j] - mu);
    var /= static_cast<double>(cols);
    double rs = 1.0 / std::sqrt(var + eps);
    for (int64_t j = 0; j < cols; ++j) y[r * cols + j] = static_cast<float>((xr[j] - mu) * rs * gamma[j] + beta[j]);
    mean[r] = static_cast<float>(mu);
    rstd[r] = static_cast<float>(rs);
  }
}

void scalar_layernorm_backward(const float* dy, const float* x, const float* mean, const float* rstd,
                               const float* gamma, float* dx, float* dgamma, float* dbeta, int64_t rows,
                               int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    double sg = 0, sgx = 0;
    for (int64_t j = 0; j < cols; ++j) {
      double xh = (x[r * cols + j] - mean[r]) * static_cast<double>(rstd[r]);
      double g = static_cast<double>(dy[r * cols + j]) * gamma[j];
      sg += g;
      sgx += g * xh;
      dgamma[j] += static_cast<float>(dy[r * cols + j] * xh);
      dbeta[j] += dy[r * cols + j];
    }
    double a = sg / static_cast<double>(cols), b = sgx / static_cast<double>(cols);
    for (int64_t j = 0; j < cols; ++j) {
      double xh = (x[r * cols + j] - mean[r]) * static_cast<double>(rstd[r]);
      double g = static_cast<double>(dy[r * cols + j]) * gamma[j];
      dx[r * cols + j] = static_cast<float>(rstd[r] * (g - a - xh * b));
    }
  }
}

void scalar_gelu_forward(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(0.5 * x[i] * (1.0 + std::erf(x[i] / std::sqrt(2.0))));
}

void scalar_gelu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    double xi = x[i];
    double cdf = 0.5 * (1.0 + std::erf(xi / std::sqrt(2.0)));
    double pdf = std::exp(-0.5 * xi * xi) / std::sqrt(2.0 * M_PI);
    dx[i] = static_cast<float>(dy[i] * (cdf + xi * pdf));
  }
}

void scalar_adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s) {
  for (int64_t i = 0; i < n; ++i) {
    m[i] = s.beta1 * m[i] + (1.0f - s.beta1) * g[i];
    v[i] = s.beta2 * v[i] + (1.0f - s.beta2) * (g[i] * g[i]);
    float denom = std::sqrt(v[i]) * s.inv_sqrt_bc2 + s.eps;
    p[i] = p[i] * s.decay - s.step_size * (m[i] / denom);
  }
}

}  // namespace qkv::kernels
#endif  // HWY_ONCE
