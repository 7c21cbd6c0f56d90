// Scaled dot-product attention on bfloat16 inputs, float32 accumulation.
//
//   q: (B, H, Lq, d)   k: (B, H, Lk, d)   v: (B, H, Lk, dv)   bfloat16
//   returns out (B, H, Lq, dv) and lse (B, H, Lq) in float32, and the weights (B, H, Lq, Lk)
//   when options.need_weights (recomputed in float32 from the saved lse).
// Masks, scale and dropout mean exactly what they mean for sdpa_forward (sdpa.h, mask.h).
// Runs the fused kernel with vdpbf16ps where the CPU has AVX512-BF16 (the weights are rounded
// to bf16 before the product with V), else the float32 fused kernel on widened inputs.
// The backward widens q, k, v to float32 and runs the float32 fused backward (no bf16 speed-up).
#pragma once

#include "qkv/ops/sdpa/sdpa.h"
#include "qkv/core/bf16.h"

namespace qkv {

SdpaForward<float> sdpa_forward_bf16(const Tensor<bf16>& q, const Tensor<bf16>& k, const Tensor<bf16>& v,
                                     const AttentionMask& mask = {}, const SdpaOptions& options = {});

// dout (B, H, Lq, dv) float32; fwd: what sdpa_forward_bf16 returned. Gradients in float32.
SdpaGrads<float> sdpa_backward_bf16(const TensorF& dout, const Tensor<bf16>& q, const Tensor<bf16>& k,
                                    const Tensor<bf16>& v, const SdpaForward<float>& fwd,
                                    const AttentionMask& mask = {}, const SdpaOptions& options = {});

}  // namespace qkv
