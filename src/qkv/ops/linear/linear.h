// Linear map on raw row-major buffers, PyTorch's nn.Linear layout (the op behind nn::Linear, the
// attention projections and the ViT patch embedding).
//
//   x: (rows, in)   W: (out, in)   b: (out,) or nullptr   y: (rows, out)
// Forward:  y = x Wᵀ + b.  Saves nothing: the backward needs x and W.
// Backward: dx = dy W (overwrites, if dx != nullptr);  dW += dyᵀ x;  db += Σ_rows dy (if db != nullptr).
// Backends, chosen here by T: float runs oneDNN's matmul (kernels/gemm.h); double runs the
// reference (linear_reference.h: kernels::gemm_reference, a triple loop summing in double).
#pragma once

#include <cstdint>

namespace qkv {

template <typename T>
void linear_forward(const T* x, const T* w, const T* b, T* y, int64_t rows, int64_t in, int64_t out);

template <typename T>
void linear_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, int64_t rows, int64_t in,
                     int64_t out);

}  // namespace qkv
