// 2-D convolution layer, PyTorch's nn.Conv2d layout (square kernel, no dilation or groups).
//
//   x: (B, C, H, W)   "weight": (O, C, k, k)   "bias": (O,)   y: (B, O, OH, OW), OH = (H + 2p − k)/s + 1
// forward() saves x (a view, not a copy) for backward().
// backward(dy, need_dx) accumulates dweight and dbias and returns dx (B, C, H, W), or an empty
// tensor when need_dx is false (the first layer on the images). The arithmetic (formulas,
// backends) is the op ops/conv2d/conv2d.h.
#pragma once

#include "qkv/core/rng.h"
#include "qkv/nn/parameter.h"
#include "qkv/ops/conv2d/conv2d.h"

namespace qkv::nn {

template <typename T>
class Conv2d : public Module<T> {
 public:
  Conv2d() = default;
  // Initialised like PyTorch: U(±1/√(C·k·k)) for weight and bias.
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding, bool bias,
         Rng& rng);

  const Tensor<T>& forward(const Tensor<T>& x);
  const Tensor<T>& backward(const Tensor<T>& dy, bool need_dx = true);

  void collect_parameters(const std::string& prefix, NamedParameters<T>& out) override;

  Parameter<T> weight;
  Parameter<T> bias;

 private:
  Conv2dShape shape_of(const Tensor<T>& x) const;

  int64_t stride_ = 1, padding_ = 0;
  Conv2dShape s_;
  Tensor<T> x_, y_, dx_, none_;
};

}  // namespace qkv::nn
