// The Highway kernel behind add_inplace.h (float), compiled once per SIMD target and dispatched
// at run time, and the plain loop (double).
#include "qkv/kernels/add_inplace.h"

#include "qkv/core/parallel.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "qkv/kernels/add_inplace.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace qkv {
namespace kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void AddRange(float* HWY_RESTRICT y, const float* HWY_RESTRICT x, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Add(hn::LoadU(d, y + i), hn::LoadU(d, x + i)), d, y + i);
  for (; i < n; ++i) y[i] += x[i];
}

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace qkv
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkv::kernels {

HWY_EXPORT(AddRange);

void add_inplace(float* y, const float* x, int64_t n) {
  parallel_for(n, 16384, [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(AddRange)(y + b, x + b, e - b); });
}

void add_inplace(double* y, const double* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace qkv::kernels
#endif  // HWY_ONCE
