// The fused backend of sdpa (see sdpa_fused.h): adapts the arguments to flash.h and runs it.
#include "qkv/ops/sdpa/sdpa_fused.h"

#include "qkv/ops/sdpa/flash_adapter.h"

namespace qkv {

void sdpa_fused_forward_unchecked(const TensorF& q, const TensorF& k, const TensorF& v, const AttentionMask& mask,
                                  const SdpaOptions& options, SdpaForward<float>& fwd, kernels::KeyNorms* key_norms) {
  const kernels::FlashDims dm = flash_adapter::dims_of(q.shape(), k.shape(), v.shape());
  const flash_adapter::Mask m = flash_adapter::make_mask(mask, options, dm.B, dm.H, dm.Lq, dm.Lk);
  const float scale = flash_adapter::scale_of(options, dm.d);
  TensorF qk, kk, vk;
  const kernels::FlashIn qv = flash_adapter::view_of(q, qk), kv = flash_adapter::view_of(k, kk),
                         vv = flash_adapter::view_of(v, vk);
  // The kernels write every element of out, lse and weights (masked rows get zeros / −inf).
  ensure_shape(fwd.out, {dm.B, dm.H, dm.Lq, dm.dv});
  ensure_shape(fwd.lse, {dm.B, dm.H, dm.Lq});
  kernels::flash_forward(dm, scale, qv, kv, vv, m.fm, fwd.out.data(), fwd.lse.data(), key_norms);
  if (options.need_weights) {
    ensure_shape(fwd.weights, {dm.B, dm.H, dm.Lq, dm.Lk});
    kernels::flash_weights(dm, scale, qv, kv, fwd.lse.data(), m.fm, fwd.weights.data());
  } else {
    fwd.weights = TensorF();
  }
}

void sdpa_fused_backward_unchecked(const TensorF& dout, const TensorF& q, const TensorF& k, const TensorF& v,
                                   const SdpaForward<float>& fwd, const AttentionMask& mask,
                                   const SdpaOptions& options, SdpaGrads<float>& g) {
  const kernels::FlashDims dm = flash_adapter::dims_of(q.shape(), k.shape(), v.shape());
  const flash_adapter::Mask m = flash_adapter::make_mask(mask, options, dm.B, dm.H, dm.Lq, dm.Lk);
  const float scale = flash_adapter::scale_of(options, dm.d);
  TensorF qk, kk, vk, ok, dk_;
  const kernels::FlashIn qv = flash_adapter::view_of(q, qk), kv = flash_adapter::view_of(k, kk),
                         vv = flash_adapter::view_of(v, vk), ov = flash_adapter::view_of(fwd.out, ok),
                         dov = flash_adapter::view_of(dout, dk_);
  const TensorF lse = fwd.lse.contiguous();
  // The kernel zeroes dq, dk and dv before accumulating.
  ensure_shape(g.dq, {dm.B, dm.H, dm.Lq, dm.d});
  ensure_shape(g.dk, {dm.B, dm.kv_heads(), dm.Lk, dm.d});
  ensure_shape(g.dv, {dm.B, dm.kv_heads(), dm.Lk, dm.dv});
  kernels::flash_backward(dm, scale, qv, kv, vv, ov, dov, lse.data(), m.fm, g.dq.data(), g.dk.data(), g.dv.data());
}

void check_sdpa_fused_backward_shapes(const char* where, const Shape& q, const Shape& v, const TensorF& dout,
                                      const SdpaForward<float>& fwd) {
  const Shape out_shape{q[0], q[1], q[2], v[3]};
  check_shape(where, "dout", dout, out_shape);
  check_shape(where, "fwd.out", fwd.out, out_shape);
  check_shape(where, "fwd.lse", fwd.lse, {q[0], q[1], q[2]});
}

SdpaForward<float> sdpa_fused_forward(const TensorF& q, const TensorF& k, const TensorF& v, const AttentionMask& mask,
                                      const SdpaOptions& options) {
  validate_sdpa_args("scaled_dot_product_attention", q.shape(), k.shape(), v.shape(), mask, options);
  SdpaForward<float> fwd;
  sdpa_fused_forward_unchecked(q, k, v, mask, options, fwd);
  return fwd;
}

SdpaGrads<float> sdpa_fused_backward(const TensorF& dout, const TensorF& q, const TensorF& k, const TensorF& v,
                                     const SdpaForward<float>& fwd, const AttentionMask& mask,
                                     const SdpaOptions& options) {
  const char* where = "scaled_dot_product_attention_backward";
  validate_sdpa_args(where, q.shape(), k.shape(), v.shape(), mask, options);
  check_sdpa_fused_backward_shapes(where, q.shape(), v.shape(), dout, fwd);
  SdpaGrads<float> g;
  sdpa_fused_backward_unchecked(dout, q, k, v, fwd, mask, options, g);
  return g;
}

}  // namespace qkv
