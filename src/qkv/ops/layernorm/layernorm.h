// LayerNorm over the last dimension on raw buffers (the op behind nn::LayerNorm).
//
// Glossary: rows = tokens (B·L), cols = the normalised width E.
//   x, y: (rows, cols) contiguous   gamma γ, beta β: (cols,)   mean, rstd: (rows,)
// Forward:  mean = Σ_j x_j / cols;  var = Σ_j (x_j − mean)² / cols (biased; two passes, centred);
//           rstd = 1/sqrt(var + eps);  x̂ = (x − mean)·rstd;  y = x̂·γ + β.
// Forward saves mean and rstd (rows,) for the backward (which also needs x and γ).
// Backward: dx = rstd·(dy·γ − mean_j(dy·γ) − x̂·mean_j(dy·γ·x̂))   (overwrites dx)
//           dgamma += Σ_rows dy·x̂;  dbeta += Σ_rows dy               (accumulate)
// Backends, chosen here by T: float runs the Highway kernel (layernorm_simd.h: best SIMD target
// at run time, rows split over qkv's threads with a fixed partition, so results are reproducible
// bit for bit for a given thread count); double runs the reference (layernorm_reference.h).
#pragma once

#include <cstdint>

namespace qkv {

template <typename T>
void layernorm_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, int64_t rows,
                       int64_t cols, double eps);

template <typename T>
void layernorm_backward(const T* dy, const T* x, const T* mean, const T* rstd, const T* gamma, T* dx, T* dgamma,
                        T* dbeta, int64_t rows, int64_t cols);

}  // namespace qkv
