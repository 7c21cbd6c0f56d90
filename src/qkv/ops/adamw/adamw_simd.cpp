// The Highway AdamW update behind adamw_simd.h, compiled once per SIMD target and dispatched at
// run time. See adamw.h for the formulas.
#include "qkv/ops/adamw/adamw_simd.h"

#include <cmath>

#include "qkv/core/parallel.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "qkv/ops/adamw/adamw_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace qkv {
namespace adamw_simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void AdamWRange(float* HWY_RESTRICT p, const float* HWY_RESTRICT g, float* HWY_RESTRICT m, float* HWY_RESTRICT v,
                int64_t n, const AdamWStep<float>& s) {
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
}  // namespace adamw_simd
}  // namespace qkv
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkv::adamw_simd {

HWY_EXPORT(AdamWRange);

void update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep<float>& s) {
  parallel_for(n, 16384, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(AdamWRange)(p + b, g + b, m + b, v + b, e - b, s);
  });
}

}  // namespace qkv::adamw_simd
#endif  // HWY_ONCE
