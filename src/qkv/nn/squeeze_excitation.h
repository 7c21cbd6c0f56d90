// Squeeze-and-excitation (channel attention, Hu et al. 2018): weights generated from the content
// itself rescale the channels.
//
//   x (B, C, H, W) → s = mean over H×W (B, C) → z = ReLU(fc1(s)) (B, C/r) → g = σ(fc2(z)) (B, C)
//   y = x ∘ g[:, :, None, None]   (B, C, H, W)
// Parameters: fc1.weight (C/r, C), fc1.bias (C/r,), fc2.weight (C, C/r), fc2.bias (C,)
// (torchvision's SqueezeExcitation holds the same numbers as 1×1 convolutions (out, in, 1, 1)).
// forward() saves x (a view), z (after the ReLU) and g; backward(dy) accumulates the parameter
// gradients and returns dx = dy ∘ g + (1/(H·W)) · ds broadcast over H×W, where
//   dg = Σ_hw dy ∘ x,  d(fc2 pre-activation) = dg ∘ g(1 − g),  dz → ReLU mask → fc1 → ds.
#pragma once

#include "qkv/core/rng.h"
#include "qkv/nn/linear.h"

namespace qkv::nn {

template <typename T>
class SqueezeExcitation : public Module<T> {
 public:
  SqueezeExcitation() = default;
  // reduction r: the hidden width is max(1, channels / r).
  SqueezeExcitation(int64_t channels, int64_t reduction, Rng& rng);

  const Tensor<T>& forward(const Tensor<T>& x);
  const Tensor<T>& backward(const Tensor<T>& dy);
  // The channel weights g (B, C) of the last forward.
  const Tensor<T>& channel_weights() const { return g_; }
  const Tensor<T>& squeezed() const { return s_; }  // s (B, C)

  void collect_parameters(const std::string& prefix, NamedParameters<T>& out) override;
  int64_t channels() const { return fc1.in_features(); }
  int64_t hidden() const { return fc1.out_features(); }

  Linear<T> fc1, fc2;

 private:
  Tensor<T> x_;   // (B, C, H, W) saved view
  Tensor<T> s_;   // (B, C)
  Tensor<T> z_;   // (B, C/r) after ReLU
  Tensor<T> g_;   // (B, C)
  Tensor<T> y_;   // (B, C, H, W)
  Tensor<T> dx_;  // (B, C, H, W)
};

}  // namespace qkv::nn
