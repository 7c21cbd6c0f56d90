// Dropout (inverted): in training, element i is zeroed when counter_uniform(seed, i) < p and
// the rest are scaled by 1/(1−p); in evaluation (or p = 0) it is the identity.
//
//   x: any shape   y: same shape
// The decision for element i is a pure function of (seed, i), so the backward recomputes it
// instead of storing a mask; forward() saves the seed and whether it was active.
#pragma once

#include <cstdint>

#include "qkv/core/tensor.h"

namespace qkv::nn {

template <typename T>
class Dropout {
 public:
  explicit Dropout(double p = 0.0);

  // Returns x itself (no copy) when inactive.
  const Tensor<T>& forward(const Tensor<T>& x, bool training, uint64_t seed);
  const Tensor<T>& backward(const Tensor<T>& dy);

  double p() const { return p_; }

 private:
  double p_;
  bool active_ = false;
  uint64_t seed_ = 0;
  Tensor<T> x_, y_, dx_;
};

}  // namespace qkv::nn
