// The seam between the attention API (sdpa.h) and the fused kernels (flash_*.cpp).
// sdpa.cpp calls these for AttentionBackend::fused / automatic; float32 only.
#pragma once

#include "qkv/ops/sdpa/sdpa.h"

namespace qkv {

// True when the fused kernels handle this mask and these options.
bool sdpa_fused_supports(const AttentionMask& mask, const SdpaOptions& options);

SdpaForward<float> sdpa_fused_forward(const TensorF& q, const TensorF& k, const TensorF& v,
                                      const AttentionMask& mask, const SdpaOptions& options);

SdpaGrads<float> sdpa_fused_backward(const TensorF& dout, const TensorF& q, const TensorF& k, const TensorF& v,
                                     const SdpaForward<float>& fwd, const AttentionMask& mask,
                                     const SdpaOptions& options);

// The same writing into caller-owned results (storage reused when shapes match; see sdpa.h).
void sdpa_fused_forward_into(const TensorF& q, const TensorF& k, const TensorF& v, const AttentionMask& mask,
                             const SdpaOptions& options, SdpaForward<float>& result);

void sdpa_fused_backward_into(const TensorF& dout, const TensorF& q, const TensorF& k, const TensorF& v,
                              const SdpaForward<float>& fwd, const AttentionMask& mask, const SdpaOptions& options,
                              SdpaGrads<float>& grads);

}  // namespace qkv
