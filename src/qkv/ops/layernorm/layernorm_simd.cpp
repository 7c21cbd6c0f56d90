// The Highway LayerNorm kernel behind layernorm_simd.h, compiled once per SIMD target and
// dispatched at run time. See layernorm.h for the formulas.
#include "qkv/ops/layernorm/layernorm_simd.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "qkv/core/parallel.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "qkv/ops/layernorm/layernorm_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace qkv {
namespace layernorm_simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

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

}  // namespace HWY_NAMESPACE
}  // namespace layernorm_simd
}  // namespace qkv
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkv {
namespace layernorm_simd {

HWY_EXPORT(LayerNormForwardRows);
HWY_EXPORT(LayerNormBackwardRows);

namespace {
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, 8192 / std::max<int64_t>(cols, 1)); }
}  // namespace

void forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
             int64_t rows, int64_t cols, float eps) {
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(LayerNormForwardRows)(x, gamma, beta, y, mean, rstd, r0, r1, cols, eps);
  });
}

void backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
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

}  // namespace layernorm_simd
}  // namespace qkv
#endif  // HWY_ONCE
