// 2-D convolution (cross-correlation, PyTorch's nn.Conv2d without dilation or groups) on raw
// NCHW buffers: the op behind nn::Conv2d and the ViT's convolutional stem.
//
// Glossary: B batch, C input channels, H×W input size, O output channels, k kernel side,
// s stride, p zero padding, OH = (H + 2p − k)/s + 1, OW likewise, K = C·k·k.
//   x: (B, C, H, W)   w: (O, C, k, k)   b: (O,) or nullptr   y: (B, O, OH, OW)
// Forward:  y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v] · x[n, c, i·s + u − p, j·s + v − p]
//           (x is zero outside the image). Saves nothing: the backward needs x and w.
// Backward: dx[n,c,y,z] = Σ over the (o,i,j,u,v) that read x[n,c,y,z] of dy[n,o,i,j]·w[o,c,u,v]
//           (overwrites, if dx != nullptr);  dw[o,c,u,v] += Σ_{n,i,j} dy[n,o,i,j]·x[n,c,i·s+u−p,j·s+v−p];
//           db[o] += Σ_{n,i,j} dy[n,o,i,j] (if db != nullptr).
// Backends, chosen here by T: float runs oneDNN's convolution primitives (conv2d.cpp); double
// runs the reference (conv2d_reference.h: plain loops summing in double), the twin the float path
// is tested against.
#pragma once

#include <cstdint>

namespace qkv {

struct Conv2dShape {
  int64_t batch = 0, in_channels = 0, height = 0, width = 0, out_channels = 0, kernel = 0, stride = 1, padding = 0;

  int64_t out_height() const { return (height + 2 * padding - kernel) / stride + 1; }
  int64_t out_width() const { return (width + 2 * padding - kernel) / stride + 1; }
  // Throws qkv::Error naming `who` and the bad field (sizes ≥ 1, padding ≥ 0, kernel ≤ padded input).
  void validate(const char* who) const;
};

template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y);

template <typename T>
void conv2d_backward(const Conv2dShape& s, const T* dy, const T* x, const T* w, T* dx, T* dw, T* db);

}  // namespace qkv
