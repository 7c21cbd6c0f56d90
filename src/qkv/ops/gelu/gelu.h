// GELU, the exact form (PyTorch's nn.GELU() default), elementwise on raw buffers (the op behind
// nn::Gelu and the MLP).
//
//   x, y: n elements (y may alias x)      dy, dx: n elements (dx may alias dy)
// Forward:  y = x·Φ(x) = 0.5·x·(1 + erf(x/√2)).  Saves nothing: the backward needs only x.
// Backward: dx = dy·gelu'(x) = dy·(Φ(x) + x·φ(x)),  φ(x) = exp(−x²/2)/√(2π)   (overwrites dx).
// Backends, chosen here by T: float runs the Highway kernel (gelu_simd.h: erf by a rational
// approximation accurate to a few float ulps, elements split over qkv's threads with a fixed
// partition); double runs the reference (gelu_reference.h, std::erf).
#pragma once

#include <cstdint>

namespace qkv {

template <typename T>
void gelu_forward(const T* x, T* y, int64_t n);

template <typename T>
void gelu_backward(const T* x, const T* dy, T* dx, int64_t n);

}  // namespace qkv
