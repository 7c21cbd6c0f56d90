// The Highway GELU kernel behind gelu_simd.h, compiled once per SIMD target and dispatched at
// run time. See gelu.h for the formulas.
#include "qkv/ops/gelu/gelu_simd.h"

#include <cmath>

#include "qkv/core/parallel.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "qkv/ops/gelu/gelu_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace qkv {
namespace gelu_simd {
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

}  // namespace HWY_NAMESPACE
}  // namespace gelu_simd
}  // namespace qkv
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkv {
namespace gelu_simd {

HWY_EXPORT(GeluForwardRange);
HWY_EXPORT(GeluBackwardRange);

namespace {
constexpr int64_t kElementGrain = 16384;
}  // namespace

void forward(const float* x, float* y, int64_t n) {
  parallel_for(n, kElementGrain, [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(GeluForwardRange)(x + b, y + b, e - b); });
}

void backward(const float* x, const float* dy, float* dx, int64_t n) {
  parallel_for(n, kElementGrain,
               [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(GeluBackwardRange)(x + b, dy + b, dx + b, e - b); });
}

}  // namespace gelu_simd
}  // namespace qkv
#endif  // HWY_ONCE
