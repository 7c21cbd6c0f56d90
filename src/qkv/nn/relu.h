// ReLU (PyTorch's nn.ReLU): y = max(x, 0).
//
//   x: any shape   y: same shape
// forward() saves x (a contiguous view); backward(dy) returns dx = dy where x > 0, else 0.
// One comparison per element: the plain loop is the only backend (no slow/fast pair to keep).
#pragma once

#include "qkv/core/tensor.h"

namespace qkv::nn {

template <typename T>
class Relu {
 public:
  const Tensor<T>& forward(const Tensor<T>& x);
  const Tensor<T>& backward(const Tensor<T>& dy);

 private:
  Tensor<T> x_, y_, dx_;
};

}  // namespace qkv::nn
