// The bfloat16 backend of sdpa_forward / sdpa_backward (sdpa.h): bf16 inputs, float32 results.
//
//   q: (B, H, Lq, d)   k: (B, H, Lk, d)   v: (B, H, Lk, dv)   bfloat16
//   out (B, H, Lq, dv) and lse (B, H, Lq) in float32, and the weights (B, H, Lq, Lk) when
//   options.need_weights (recomputed in float32 from the saved lse).
// Masks, scale and dropout mean exactly what they mean for float (sdpa.h, mask.h). The forward
// saves lse (and out) like the float32 fused backend.
// Forward: the fused kernel with vdpbf16ps where the CPU has AVX512-BF16 (the weights are rounded
// to bf16 before the product with V), else the float32 fused kernel on widened inputs; the
// choice is made inside kernels::flash_forward_bf16.
// Backward: the fused bf16 backward (flash_bf16_backward.h): vdpbf16ps products with float32
// accumulation where the CPU has AVX512-BF16 (dout, P and dS rounded to bf16 before their
// products), else q, k, v widened to float32 and the float32 fused backward; dout and the
// gradients dq, dk, dv are float32.
// Callers use sdpa_forward / sdpa_backward on Tensor<bf16> (sdpa.h); the dispatcher validates
// the arguments once and calls these unchecked entries.
#pragma once

#include "qkv/ops/sdpa/sdpa.h"

namespace qkv {
namespace kernels {
struct KeyNorms;
}

void sdpa_bf16_forward_unchecked(const Tensor<bf16>& q, const Tensor<bf16>& k, const Tensor<bf16>& v,
                                 const AttentionMask& mask, const SdpaOptions& options, SdpaForward<float>& result,
                                 kernels::KeyNorms* key_norms = nullptr);

void sdpa_bf16_backward_unchecked(const TensorF& dout, const Tensor<bf16>& q, const Tensor<bf16>& k,
                                  const Tensor<bf16>& v, const SdpaForward<float>& fwd, const AttentionMask& mask,
                                  const SdpaOptions& options, SdpaGrads<float>& grads);

// bf16 widened to float32 (any strides in, contiguous out): what the reference backend and the
// backward run on.
TensorF widen_bf16(const Tensor<bf16>& t);

}  // namespace qkv
