// Until the fused kernels land, no mask/option combination is supported, so sdpa.cpp
// routes every call to the reference backend.
#include "qkv/attention/sdpa_fused.h"

namespace qkv {

bool sdpa_fused_supports(const AttentionMask&, const SdpaOptions&) { return false; }

SdpaForward<float> sdpa_fused_forward(const TensorF&, const TensorF&, const TensorF&, const AttentionMask&,
                                      const SdpaOptions&) {
  fail("scaled_dot_product_attention: the fused backend is not available in this build");
}

SdpaGrads<float> sdpa_fused_backward(const TensorF&, const TensorF&, const TensorF&, const TensorF&,
                                     const SdpaForward<float>&, const AttentionMask&, const SdpaOptions&) {
  fail("scaled_dot_product_attention_backward: the fused backend is not available in this build");
}

}  // namespace qkv
