// Scaled dot-product attention: softmax(Q Kᵀ · scale + mask) V, forward and backward.
//
//   q: (B, H, Lq, d)   k: (B, H, Lk, d)   v: (B, H, Lk, dv)   out: (B, H, Lq, dv)
// (sdpa_shapes.h takes any leading dims instead of (B, H): (L, d), (N, L, d), …)
// scale defaults to 1/√d (sdpa_scale). Dropout (dropout_p > 0, as torch's functional API: applied
// whenever p > 0; modules pass 0 in eval) zeroes weight (b, h, i, j) when
// counter_uniform(dropout_seed, ((b·H + h)·Lq + i)·Lk + j) < p (sdpa_dropout.h) and scales the
// rest by 1/(1−p), so every backend and the backward recompute the same decisions.
// The forward saves the per-row log-sum-exp `lse` (B, H, Lq) of the scaled, masked scores
// (−inf for rows with no visible key); the backward recomputes the weights P from q, k and lse:
//   dV = (P∘Z)ᵀ dO,  dP = (dO Vᵀ)∘Z,  dS = P∘(dP − rowsum(P∘dP)),  dQ = scale·dS K,  dK = scale·dSᵀ Q.
// Gradients are named after the inputs: dq, dk, dv.
//
// Element types T: float, double and bf16. Results are of type sdpa_result_t<T>: T itself, except
// that bf16 inputs give float32 results (out, lse, weights, and the gradients, whose dout is
// float32 too).
// Backends: `reference` is the slow, obvious twin (sdpa_reference.h, any type; bf16 is widened to
// float32); `fused` is the tiled online-softmax kernel (float32 and bf16, never materialises
// Lq×Lk). `automatic` is one rule, by dtype and CPU feature (sdpa_backend):
//   float → fused;  double → reference;  bf16 → fused, whose forward runs vdpbf16ps where the CPU
//   has AVX512-BF16, else the float32 kernel on widened inputs; the bf16 backward likewise
//   (flash_bf16_backward.h).
#pragma once

#include <optional>
#include <type_traits>

#include "qkv/core/bf16.h"
#include "qkv/ops/mask/mask.h"

namespace qkv {

struct SdpaOptions {
  std::optional<double> scale;  // default 1/sqrt(d)
  double dropout_p = 0.0;
  uint64_t dropout_seed = 0;
  bool need_weights = false;    // also return the (pre-dropout) weights (B, H, Lq, Lk)
};

enum class AttentionBackend { automatic, reference, fused };

// The element type of the results for inputs of type T: float for bf16, else T.
template <typename T>
using sdpa_result_t = std::conditional_t<std::is_same_v<T, bf16>, float, T>;

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

// The scale actually used: options.scale, or 1/√d. The one place the default is computed.
double sdpa_scale(const SdpaOptions& options, int64_t d);

// The backend a call of element type T runs (the rule above): `reference` or `fused`, never
// `automatic`. Throws an error naming `where` when `requested` is `fused` for double.
template <typename T>
AttentionBackend sdpa_backend(AttentionBackend requested, const char* where = "scaled_dot_product_attention");

template <typename T>
SdpaForward<sdpa_result_t<T>> sdpa_forward(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                           const AttentionMask& mask = {}, const SdpaOptions& options = {},
                                           AttentionBackend backend = AttentionBackend::automatic);

// dout: (B, H, Lq, dv); fwd: what sdpa_forward returned for the same q, k, v, mask and options.
template <typename T>
SdpaGrads<sdpa_result_t<T>> sdpa_backward(const Tensor<sdpa_result_t<T>>& dout, const Tensor<T>& q,
                                          const Tensor<T>& k, const Tensor<T>& v,
                                          const SdpaForward<sdpa_result_t<T>>& fwd, const AttentionMask& mask = {},
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
                       const SdpaOptions& options, SdpaForward<sdpa_result_t<T>>& result,
                       AttentionBackend backend = AttentionBackend::automatic);

template <typename T>
void sdpa_backward_into(const Tensor<sdpa_result_t<T>>& dout, const Tensor<T>& q, const Tensor<T>& k,
                        const Tensor<T>& v, const SdpaForward<sdpa_result_t<T>>& fwd, const AttentionMask& mask,
                        const SdpaOptions& options, SdpaGrads<sdpa_result_t<T>>& grads,
                        AttentionBackend backend = AttentionBackend::automatic);

// Validates shapes (q, k, v, mask, scale, dropout_p) for both directions; throws qkv::Error.
void validate_sdpa_args(const char* where, const Shape& q, const Shape& k, const Shape& v,
                        const AttentionMask& mask, const SdpaOptions& options);

// sdpa_forward_into / sdpa_backward_into for a caller that has already run validate_sdpa_args on
// these shapes, mask and options (a module validating once per call); the backward also trusts
// that dout and fwd come from the matching forward. The score-range and finite-result checks
// (sdpa_range.h) still run.
template <typename T>
void sdpa_forward_into_validated(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                 const AttentionMask& mask, const SdpaOptions& options,
                                 SdpaForward<sdpa_result_t<T>>& result, AttentionBackend backend);

template <typename T>
void sdpa_backward_into_validated(const Tensor<sdpa_result_t<T>>& dout, const Tensor<T>& q, const Tensor<T>& k,
                                  const Tensor<T>& v, const SdpaForward<sdpa_result_t<T>>& fwd,
                                  const AttentionMask& mask, const SdpaOptions& options,
                                  SdpaGrads<sdpa_result_t<T>>& grads, AttentionBackend backend);

}  // namespace qkv
