// Linear layer: y = x Wᵀ + b, PyTorch's nn.Linear layout.
//
//   x: (..., in)   W "weight": (out, in)   b "bias": (out,)   y: (..., out)
// forward() saves x (a view, not a copy) for backward().
// backward(dy) accumulates dW += dyᵀx, db += Σdy and returns dx = dy W.
// The arithmetic (raw buffers, backends) is the op ops/linear/linear.h.
#pragma once

#include "qkv/core/rng.h"
#include "qkv/nn/parameter.h"
#include "qkv/ops/linear/linear.h"

namespace qkv::nn {

template <typename T>
class Linear : public Module<T> {
 public:
  Linear() = default;
  // Initialised like PyTorch: U(-1/√in, 1/√in) for weight and bias.
  Linear(int64_t in_features, int64_t out_features, bool bias, Rng& rng);

  const Tensor<T>& forward(const Tensor<T>& x);
  const Tensor<T>& backward(const Tensor<T>& dy);

  void collect_parameters(const std::string& prefix, NamedParameters<T>& out) override;

  int64_t in_features() const { return weight.value.dim(1); }
  int64_t out_features() const { return weight.value.dim(0); }
  bool has_bias() const { return bias.value.defined(); }

  Parameter<T> weight;
  Parameter<T> bias;

 private:
  Tensor<T> x_;   // saved input, viewed as (rows, in)
  Tensor<T> y_;   // (rows, out) reused between calls
  Tensor<T> dx_;  // (rows, in) reused between calls
  Shape x_shape_;
};

}  // namespace qkv::nn
