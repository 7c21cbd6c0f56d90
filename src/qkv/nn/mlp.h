// The transformer MLP (timm's Mlp): fc1 → GELU → dropout → fc2 → dropout.
//
//   x: (..., E)   fc1 "fc1.weight" (hidden, E), "fc1.bias"   fc2 "fc2.weight" (E, hidden), "fc2.bias"
//   y: (..., E)
// forward() keeps what fc1, GELU, the dropouts and fc2 save (their inputs, as views);
// backward(dy) accumulates the four parameter gradients and returns dx.
#pragma once

#include "qkv/nn/dropout.h"
#include "qkv/nn/gelu.h"
#include "qkv/nn/linear.h"

namespace qkv::nn {

template <typename T>
class Mlp : public Module<T> {
 public:
  Mlp() = default;
  Mlp(int64_t dim, int64_t hidden, double dropout, Rng& rng);

  // seed: dropout seed for this call (ignored when not training or dropout is 0).
  const Tensor<T>& forward(const Tensor<T>& x, bool training = false, uint64_t seed = 0);
  const Tensor<T>& backward(const Tensor<T>& dy);
  void collect_parameters(const std::string& prefix, NamedParameters<T>& out) override;

  Linear<T> fc1, fc2;

 private:
  Gelu<T> act_;
  Dropout<T> drop1_{0.0}, drop2_{0.0};
};

}  // namespace qkv::nn
