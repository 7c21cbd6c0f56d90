// LayerNorm over the last dimension (PyTorch's nn.LayerNorm(E), elementwise affine).
//
//   x: (..., E)   weight "weight" γ: (E,)   bias "bias" β: (E,)   y: (..., E)
// forward() saves x (a view), mean (rows,) and rstd (rows,) = 1/sqrt(var + eps) (biased var).
// backward(dy) accumulates dγ, dβ and returns dx. float runs the Highway kernels of
// kernels/ew_ops.h; double runs the reference loops below (gradient checks).
#pragma once

#include "qkv/nn/parameter.h"

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

// Raw-buffer forms (rows × cols, contiguous). The float instantiation dispatches to the kernels.
template <typename T>
void layernorm_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, int64_t rows,
                       int64_t cols, double eps);
template <typename T>
void layernorm_backward(const T* dy, const T* x, const T* mean, const T* rstd, const T* gamma, T* dx, T* dgamma,
                        T* dbeta, int64_t rows, int64_t cols);

}  // namespace qkv::nn
