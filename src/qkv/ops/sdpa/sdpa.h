// Scaled dot-product attention: softmax(Q Kᵀ · scale + mask) V, forward and backward.
//
//   q: (B, H, Lq, d)   k: (B, Hkv, Lk, d)   v: (B, Hkv, Lk, dv)   out: (B, H, Lq, dv)
// (Hkv = H unless options.enable_gqa; the variants — GQA, window, ALiBi, softcap — are SdpaOptions.)
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

// The variants (issue 16) are options here, in one struct, so every backend takes the same ones.
// With Lq queries and Lk keys, off = Lk − Lq (bottom-right alignment, as FlashAttention): the
// window and the ALiBi distance are measured from key i + off for query i, whatever the mask's
// causal alignment (Causal::top_left, PyTorch's is_causal, is off = 0; Causal::bottom_right is
// FlashAttention's causal=True). The score of query i and key j is
//   s_ij = cap(scale · q_i·k_j) − slope_bh · |i + off − j| + bias_ij,   cap(x) = softcap·tanh(x/softcap)
// (cap only when softcap > 0, the ALiBi term only with alibi_slopes), and key j is visible when
// every mask part allows it and i + off − window_left <= j <= i + off + window_right.
struct SdpaOptions {
  std::optional<double> scale;  // default 1/sqrt(d)
  double dropout_p = 0.0;
  uint64_t dropout_seed = 0;
  bool need_weights = false;    // also return the (pre-dropout) weights (B, H, Lq, Lk)
  // Grouped-query / multi-query attention: k and v may have H_kv heads, H a multiple of H_kv;
  // query head h uses key/value head h / (H / H_kv) (repeat-interleave, as torch 2.5's
  // enable_gqa). K and V are never copied; dk, dv (B, H_kv, Lk, ·) sum over each group.
  bool enable_gqa = false;
  // Sliding window, FlashAttention's window_size: −1 = unbounded on that side.
  int64_t window_left = -1, window_right = -1;
  // ALiBi slopes, shape (H,) or (B, H); the bias is computed in the kernels, never materialised.
  // Constants: no gradient flows to them.
  Tensor<float> alibi_slopes;
  // Logit soft-capping (Gemma 2): > 0 caps the scaled scores before any bias; 0 = off.
  double softcap = 0.0;
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

// The variant options alone (window, softcap, alibi_slopes against B and H); validate_sdpa_args
// calls it.
void validate_sdpa_variants(const char* where, int64_t B, int64_t H, const SdpaOptions& options);

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
