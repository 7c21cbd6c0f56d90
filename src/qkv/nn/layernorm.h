// LayerNorm over the last dimension (PyTorch's nn.LayerNorm(E), elementwise affine).
//
//   x: (..., E)   weight "weight" γ: (E,)   bias "bias" β: (E,)   y: (..., E)
// forward() saves x (a view), mean (rows,) and rstd (rows,) = 1/sqrt(var + eps) (biased var).
// backward(dy) accumulates dγ, dβ and returns dx. The arithmetic (formulas, backends) is the op
// ops/layernorm/layernorm.h.
#pragma once

#include "qkv/nn/parameter.h"
#include "qkv/ops/layernorm/layernorm.h"

namespace qkv::nn {

template <typename T>
class LayerNorm : public Module<T> {
 public:
  LayerNorm() = default;
  explicit LayerNorm(int64_t dim, double eps = 1e-5);  // γ = 1, β = 0

  const Tensor<T>& forward(const Tensor<T>& x);
  const Tensor<T>& backward(const Tensor<T>& dy);
  void collect_parameters(const std::string& prefix, NamedParameters<T>& out) override;

  int64_t dim() const { return weight.value.dim(0); }
  Parameter<T> weight, bias;
  double eps = 1e-5;

 private:
  Tensor<T> x_, y_, dx_, mean_, rstd_;
};

}  // namespace qkv::nn
