// The fused backend of sdpa_forward / sdpa_backward (float32): the tiled online-softmax kernels
// of flash.h behind the attention API's tensors, AttentionMask and SdpaOptions. Every mask kind
// (causal both alignments, valid_lens (B,) or (B, Lq), allowed, bias), dropout and need_weights
// (recomputed from the saved lse) are supported.
//
//   q (B, H, Lq, d)   k (B, H, Lk, d)   v (B, H, Lk, dv)   dout, out (B, H, Lq, dv)   lse (B, H, Lq)
// The forward saves lse (and out, which the backward reads for rowsum(dO∘O)); the backward is
// the formula of sdpa.h, recomputing the weights from q, k and lse.
#pragma once

#include "qkv/ops/sdpa/sdpa.h"

namespace qkv {
namespace kernels {
struct KeyNorms;
}

// Unchecked: the arguments must have passed validate_sdpa_args, and dout, fwd.out and fwd.lse
// must have the shapes above. sdpa.cpp validates once and calls these. Results are written into
// caller-owned tensors (storage reused when shapes match; see sdpa.h). key_norms (optional): what
// the kernel measured of K's row norms (flash.h's KeyNorms), for sdpa.cpp's score-range check.
void sdpa_fused_forward_unchecked(const TensorF& q, const TensorF& k, const TensorF& v, const AttentionMask& mask,
                                  const SdpaOptions& options, SdpaForward<float>& result,
                                  kernels::KeyNorms* key_norms = nullptr);

void sdpa_fused_backward_unchecked(const TensorF& dout, const TensorF& q, const TensorF& k, const TensorF& v,
                                   const SdpaForward<float>& fwd, const AttentionMask& mask,
                                   const SdpaOptions& options, SdpaGrads<float>& grads);

// This backend alone with its arguments validated (for its tests): validate_sdpa_args and the
// shapes of dout, fwd.out and fwd.lse, then the unchecked entries.
SdpaForward<float> sdpa_fused_forward(const TensorF& q, const TensorF& k, const TensorF& v,
                                      const AttentionMask& mask, const SdpaOptions& options);

SdpaGrads<float> sdpa_fused_backward(const TensorF& dout, const TensorF& q, const TensorF& k, const TensorF& v,
                                     const SdpaForward<float>& fwd, const AttentionMask& mask,
                                     const SdpaOptions& options);

// The shapes the backward reads besides q, k and v: dout, fwd.out (B, H, Lq, dv), fwd.lse (B, H, Lq).
void check_sdpa_fused_backward_shapes(const char* where, const Shape& q, const Shape& v, const TensorF& dout,
                                      const SdpaForward<float>& fwd);

}  // namespace qkv
