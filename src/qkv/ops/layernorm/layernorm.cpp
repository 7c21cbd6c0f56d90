// LayerNorm's one backend switch: float → the Highway kernel, double → the reference.
#include "qkv/ops/layernorm/layernorm.h"

#include <type_traits>

#include "qkv/ops/layernorm/layernorm_reference.h"
#include "qkv/ops/layernorm/layernorm_simd.h"

namespace qkv {

template <typename T>
void layernorm_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, int64_t rows,
                       int64_t cols, double eps) {
  if constexpr (std::is_same_v<T, float>) {
    layernorm_simd::forward(x, gamma, beta, y, mean, rstd, rows, cols, static_cast<float>(eps));
  } else {
    layernorm_reference_forward(x, gamma, beta, y, mean, rstd, rows, cols, eps);
  }
}

template <typename T>
void layernorm_backward(const T* dy, const T* x, const T* mean, const T* rstd, const T* gamma, T* dx, T* dgamma,
                        T* dbeta, int64_t rows, int64_t cols) {
  if constexpr (std::is_same_v<T, float>) {
    layernorm_simd::backward(dy, x, mean, rstd, gamma, dx, dgamma, dbeta, rows, cols);
  } else {
    layernorm_reference_backward(dy, x, mean, rstd, gamma, dx, dgamma, dbeta, rows, cols);
  }
}

template void layernorm_forward<float>(const float*, const float*, const float*, float*, float*, float*, int64_t,
                                       int64_t, double);
template void layernorm_forward<double>(const double*, const double*, const double*, double*, double*, double*,
                                        int64_t, int64_t, double);
template void layernorm_backward<float>(const float*, const float*, const float*, const float*, const float*,
                                        float*, float*, float*, int64_t, int64_t);
template void layernorm_backward<double>(const double*, const double*, const double*, const double*,
                                         const double*, double*, double*, double*, int64_t, int64_t);

}  // namespace qkv
