// Linear layer: y = x Wᵀ + b, PyTorch's nn.Linear layout.
//
//   x: (..., in)   W "weight": (out, in)   b "bias": (out,)   y: (..., out)
// forward() saves x (a view, not a copy) for backward().
// backward(dy) accumulates dW += dyᵀx, db += Σdy and returns dx = dy W.
#pragma once

#include "qkv/core/rng.h"
#include "qkv/nn/parameter.h"

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

// y = x Wᵀ + b on raw row-major buffers (x: rows×in, W: out×in, y: rows×out).
template <typename T>
void linear_forward(const T* x, const T* w, const T* b, T* y, int64_t rows, int64_t in, int64_t out);
// dx = dy W (overwrites, if dx != nullptr); dW += dyᵀ x; db += Σ_rows dy (if db != nullptr).
template <typename T>
void linear_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, int64_t rows, int64_t in,
                     int64_t out);

}  // namespace qkv::nn
