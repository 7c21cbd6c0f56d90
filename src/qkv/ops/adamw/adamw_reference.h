// The one reference of the AdamW update (adamw.h has the formulas): the obvious loop in T, single
// thread. It is the double backend and the twin the float kernel is tested against.
#pragma once

#include <cmath>
#include <cstdint>

#include "qkv/ops/adamw/adamw.h"

namespace qkv {

template <typename T>
void adamw_reference_update(T* p, const T* g, T* m, T* v, int64_t n, const AdamWStep<T>& s) {
  for (int64_t j = 0; j < n; ++j) {
    m[j] = s.beta1 * m[j] + (1 - s.beta1) * g[j];
    v[j] = s.beta2 * v[j] + (1 - s.beta2) * g[j] * g[j];
    const T denom = std::sqrt(v[j]) * s.inv_sqrt_bc2 + s.eps;
    p[j] = p[j] * s.decay - s.step_size * (m[j] / denom);
  }
}

}  // namespace qkv
