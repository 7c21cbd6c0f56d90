// Scaled dot-product attention: softmax(Q Kᵀ · scale + mask) V, forward and backward.
//
//   q: (B, H, Lq, d)   k: (B, H, Lk, d)   v: (B, H, Lk, dv)   out: (B, H, Lq, dv)
// scale defaults to 1/√d. Dropout (dropout_p > 0, as torch's functional API: applied whenever
// p > 0; modules pass 0 in eval) zeroes weight (b, h, i, j) when
// counter_uniform(dropout_seed, ((b·H + h)·Lq + i)·Lk + j) < p and scales the rest by 1/(1−p),
// so every backend and the backward recompute the same decisions.
// The forward saves the per-row log-sum-exp `lse` (B, H, Lq) of the scaled, masked scores
// (−inf for rows with no visible key); the backward recomputes the weights from q, k and lse.
//
// Backends: `reference` is the slow, obvious twin (any T); `fused` is the tiled online-softmax
// kernel (float32 only, never materialises Lq×Lk); `automatic` picks fused when it can.
#pragma once

#include <optional>

#include "qkv/ops/mask/mask.h"

namespace qkv {

struct SdpaOptions {
  std::optional<double> scale;  // default 1/sqrt(d)
  double dropout_p = 0.0;
  uint64_t dropout_seed = 0;
  bool need_weights = false;    // also return the (pre-dropout) weights (B, H, Lq, Lk)
};

enum class AttentionBackend { automatic, reference, fused };

template <typename T>
struct SdpaForward {
  Tensor<T> out;      // (B, H, Lq, dv)
  Tensor<T> lse;      // (B, H, Lq)   saved for the backward
  Tensor<T> weights;  // (B, H, Lq, Lk) when need_weights, else undefined
};

template <typename T>
struct SdpaGrads {
  Tensor<T> dq, dk, dv;
};

template <typename T>
SdpaForward<T> sdpa_forward(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                            const AttentionMask& mask = {}, const SdpaOptions& options = {},
                            AttentionBackend backend = AttentionBackend::automatic);

// dout: (B, H, Lq, dv); fwd: what sdpa_forward returned for the same q, k, v, mask and options.
template <typename T>
SdpaGrads<T> sdpa_backward(const Tensor<T>& dout, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                           const SdpaForward<T>& fwd, const AttentionMask& mask = {},
                           const SdpaOptions& options = {},
                           AttentionBackend backend = AttentionBackend::automatic);

// The same two operations writing into caller-owned results: each tensor of `result` / `grads`
// keeps its storage when it is already defined, contiguous and of the right shape (so a training
// loop calling these every step allocates nothing in steady state), else it is replaced by a new
// one. Tensors sharing that storage see the new values. The results must not alias the inputs.
// result.weights is left undefined unless options.need_weights. The value-returning functions
// above are these with fresh results.
template <typename T>
void sdpa_forward_into(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const AttentionMask& mask,
                       const SdpaOptions& options, SdpaForward<T>& result,
                       AttentionBackend backend = AttentionBackend::automatic);

template <typename T>
void sdpa_backward_into(const Tensor<T>& dout, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                        const SdpaForward<T>& fwd, const AttentionMask& mask, const SdpaOptions& options,
                        SdpaGrads<T>& grads, AttentionBackend backend = AttentionBackend::automatic);

// Validates shapes (q, k, v, mask, scale, dropout_p) for both directions; throws qkv::Error.
void validate_sdpa_args(const char* where, const Shape& q, const Shape& k, const Shape& v,
                        const AttentionMask& mask, const SdpaOptions& options);

}  // namespace qkv
