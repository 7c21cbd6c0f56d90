// Fused elementwise kernels of the training hot path (float32): LayerNorm, exact GELU, AdamW.
//
// Glossary: rows = tokens (B·L), cols = the normalised width E, n = element count.
// Each function dispatches at run time to the best SIMD target Highway compiled in (AVX-512,
// AVX2, SSE4, ...) and splits rows or elements over qkv's threads with a fixed partition, so
// results are reproducible bit for bit for a given thread count. The scalar_* twins are the
// slow, obvious versions the tests compare against (they use std::erf and double sums).
//
// LayerNorm forward saves mean (rows,) and rstd (rows,) = 1/sqrt(var + eps) for the backward.
// GELU is the exact form 0.5·x·(1 + erf(x/√2)) (PyTorch's default), erf by a rational
// approximation accurate to a few float ulps.
#pragma once

#include <cstdint>

namespace qkv::kernels {

// y = (x − mean)·rstd·gamma + beta per row; x, y: (rows, cols); gamma, beta: (cols,).
void layernorm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                       int64_t rows, int64_t cols, float eps);
// dx = rstd·(dy·γ − mean(dy·γ) − x̂·mean(dy·γ·x̂)) (overwrites); dgamma += Σ dy·x̂; dbeta += Σ dy.
void layernorm_backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
                        float* dx, float* dgamma, float* dbeta, int64_t rows, int64_t cols);

// y = gelu(x) over n elements (y may alias x).
void gelu_forward(const float* x, float* y, int64_t n);
// dx = dy · gelu'(x) = dy · (Φ(x) + x·φ(x)) (dx may alias dy).
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n);

// y += x over n elements (residual connections and gradient accumulation).
void add_inplace(float* y, const float* x, int64_t n);

// One AdamW step (PyTorch's torch.optim.AdamW) over n elements:
//   p ← p·decay;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//   p ← p − step_size · m / (sqrt(v)·inv_sqrt_bc2 + eps)
// where decay = 1 − lr·weight_decay, step_size = lr / (1 − β1^t), inv_sqrt_bc2 = 1/sqrt(1 − β2^t).
struct AdamWStep {
  float beta1, beta2, eps, decay, step_size, inv_sqrt_bc2;
};
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s);

// The slow twins (single thread, no SIMD).
void scalar_layernorm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                              float* rstd, int64_t rows, int64_t cols, float eps);
void scalar_layernorm_backward(const float* dy, const float* x, const float* mean, const float* rstd,
                               const float* gamma, float* dx, float* dgamma, float* dbeta, int64_t rows,
                               int64_t cols);
void scalar_gelu_forward(const float* x, float* y, int64_t n);
void scalar_gelu_backward(const float* x, const float* dy, float* dx, int64_t n);
void scalar_adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s);

}  // namespace qkv::kernels
