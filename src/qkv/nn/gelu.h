// GELU, the exact form (PyTorch's nn.GELU() default): y = x·Φ(x) = 0.5·x·(1 + erf(x/√2)).
//
//   x: any shape   y: same shape
// forward() saves x (a view); backward(dy) returns dx = dy·(Φ(x) + x·φ(x)).
// float: Highway kernels (kernels/ew_ops.h); double: std::erf loops (gradient checks).
#pragma once

#include "qkv/core/tensor.h"

namespace qkv::nn {

template <typename T>
void gelu_forward(const T* x, T* y, int64_t n);
template <typename T>
void gelu_backward(const T* x, const T* dy, T* dx, int64_t n);

template <typename T>
class Gelu {
 public:
  const Tensor<T>& forward(const Tensor<T>& x);
  const Tensor<T>& backward(const Tensor<T>& dy);

 private:
  Tensor<T> x_, y_, dx_;
};

}  // namespace qkv::nn
