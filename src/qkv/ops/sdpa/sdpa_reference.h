// Scaled dot-product attention, the slow and obvious twin every fast kernel is tested against.
//
// Dimension glossary: B batch, H heads, Lq queries, Lk keys, d query/key width, dv value width.
//   q (B, H, Lq, d)   k (B, H, Lk, d)   v (B, H, Lk, dv)   dout/out (B, H, Lq, dv)
//   lse (B, H, Lq)    weights (B, H, Lq, Lk)
// Semantics exactly as sdpa.h and mask.h: scores s_ij = scale·q_i·k_j + bias_ij for visible keys,
// P = softmax over the visible keys, out = (P ∘ Z) V with the dropout factors
// Z_ij = 0 when counter_uniform(seed, ((b·H + h)·Lq + i)·Lk + j) < p, else 1/(1−p) (sdpa_dropout.h).
// This is the one reference of the op: every other backend and every test compares against it.
// Forward saves lse_i = log Σ_j exp(s_ij) (−inf when no key is visible, or every visible key has a
// −inf bias); such a row gets zero weights and zero output. Every score row is materialised;
// sums accumulate in double. Inputs may be strided views. Arguments are validated by the
// callers in sdpa.cpp (validate_sdpa_args + validate_mask); call those first when using these
// directly.
// Backward recomputes P_ij = exp(s_ij − lse_i) from q, k and lse, then
//   dV = (P∘Z)ᵀ dO,  dP = (dO Vᵀ)∘Z,  dS = P∘(dP − rowsum(P∘dP)),  dQ = scale·dS K,  dK = scale·dSᵀ Q.
// Rows with lse = −inf contribute nothing (zero gradients, never NaN).
// A NaN in q, k or v propagates to the rows it touches (as in PyTorch); it is never masked to zero.
#pragma once

#include "qkv/ops/sdpa/sdpa.h"
#include "qkv/ops/sdpa/sdpa_dropout.h"

namespace qkv {

template <typename T>
SdpaForward<T> sdpa_reference_forward(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                      const AttentionMask& mask, const SdpaOptions& options);

template <typename T>
SdpaGrads<T> sdpa_reference_backward(const Tensor<T>& dout, const Tensor<T>& q, const Tensor<T>& k,
                                     const Tensor<T>& v, const SdpaForward<T>& fwd, const AttentionMask& mask,
                                     const SdpaOptions& options);

// The same writing into caller-owned results (storage reused when shapes match; see sdpa.h).
template <typename T>
void sdpa_reference_forward_into(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                 const AttentionMask& mask, const SdpaOptions& options, SdpaForward<T>& fwd);

template <typename T>
void sdpa_reference_backward_into(const Tensor<T>& dout, const Tensor<T>& q, const Tensor<T>& k,
                                  const Tensor<T>& v, const SdpaForward<T>& fwd, const AttentionMask& mask,
                                  const SdpaOptions& options, SdpaGrads<T>& grads);

// The pre-dropout weights (B, H, Lq, Lk) recomputed from q, k and a saved lse (B, H, Lq):
// P_ij = exp(s_ij − lse_i) for visible keys, 0 elsewhere. For heatmaps after a fused forward.
template <typename T>
Tensor<T> sdpa_reference_weights(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& lse,
                                 const AttentionMask& mask, const SdpaOptions& options);

// Multiplier applied to weight (b, h, i, j) by dropout: 0 (dropped) or 1/(1−p) (kept); 1 when p = 0.
inline double dropout_factor(const SdpaOptions& options, int64_t b, int64_t h, int64_t i, int64_t j, int64_t H,
                             int64_t Lq, int64_t Lk) {
  if (options.dropout_p <= 0.0) return 1.0;
  if (sdpa_dropped(options.dropout_seed, options.dropout_p, b * H + h, i, j, Lq, Lk)) return 0.0;
  return 1.0 / (1.0 - options.dropout_p);
}

}  // namespace qkv
