// GELU's one backend switch: float → the Highway kernel, double → the reference.
#include "qkv/ops/gelu/gelu.h"

#include <type_traits>

#include "qkv/ops/gelu/gelu_reference.h"
#include "qkv/ops/gelu/gelu_simd.h"

namespace qkv {

template <typename T>
void gelu_forward(const T* x, T* y, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    gelu_simd::forward(x, y, n);
  } else {
    gelu_reference_forward(x, y, n);
  }
}

template <typename T>
void gelu_backward(const T* x, const T* dy, T* dx, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    gelu_simd::backward(x, dy, dx, n);
  } else {
    gelu_reference_backward(x, dy, dx, n);
  }
}

template void gelu_forward<float>(const float*, float*, int64_t);
template void gelu_forward<double>(const double*, double*, int64_t);
template void gelu_backward<float>(const float*, const float*, float*, int64_t);
template void gelu_backward<double>(const double*, const double*, double*, int64_t);

}  // namespace qkv
