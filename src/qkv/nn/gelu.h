// GELU, the exact form (PyTorch's nn.GELU() default): y = x·Φ(x) = 0.5·x·(1 + erf(x/√2)).
//
//   x: any shape   y: same shape
// forward() saves x (a view); backward(dy) returns dx = dy·(Φ(x) + x·φ(x)).
// The arithmetic (formulas, backends) is the op ops/gelu/gelu.h.
#pragma once

#include "qkv/core/tensor.h"
#include "qkv/ops/gelu/gelu.h"

namespace qkv::nn {

template <typename T>
class Gelu {
 public:
  const Tensor<T>& forward(const Tensor<T>& x);
  const Tensor<T>& backward(const Tensor<T>& dy);

 private:
  Tensor<T> x_, y_, dx_;
};

}  // namespace qkv::nn
