// Internal: turns the attention API's tensors, AttentionMask and SdpaOptions into the raw
// pointers, strides and FlashMask of the fused kernels (flash.h). Used by
// sdpa_fused.cpp (float32) and sdpa_bf16.cpp (bfloat16). Nothing is saved and nothing computed.
#pragma once

#include "qkv/ops/sdpa/sdpa.h"
#include "qkv/ops/sdpa/flash.h"

namespace qkv::flash_adapter {

// A FlashMask with the tensors it points into (kept alive by this object).
struct Mask {
  kernels::FlashMask fm;
  TensorI lens;
  TensorB allowed;
  TensorF bias;
  TensorF alibi;
};

// The callers validate q, k, v, mask and options with validate_sdpa_args (sdpa.h) first; these
// only translate what has been checked.
Mask make_mask(const AttentionMask& mask, const SdpaOptions& options, int64_t B, int64_t H, int64_t Lq,
               int64_t Lk);

// Sizes of q (B, H, Lq, d), k (B, Hkv, Lk, d), v (B, Hkv, Lk, dv).
kernels::FlashDims dims_of(const Shape& q, const Shape& k, const Shape& v);

// sdpa_scale (sdpa.h) in float32.
float scale_of(const SdpaOptions& options, int64_t d);

// A view of a rank-4 tensor whose last dimension is contiguous (`keep` holds a copy if needed).
template <typename T>
kernels::FlashView<T> view_of(const Tensor<T>& t, Tensor<T>& keep) {
  keep = t.stride(3) == 1 || t.dim(3) <= 1 ? t : t.contiguous();
  return {keep.data(), keep.stride(0), keep.stride(1), keep.stride(2)};
}

}  // namespace qkv::flash_adapter
