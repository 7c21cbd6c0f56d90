// The bfloat16 backend of sdpa (see sdpa_bf16.h).
#include "qkv/ops/sdpa/sdpa_bf16.h"

#include "qkv/ops/sdpa/flash_adapter.h"
#include "qkv/ops/sdpa/flash_bf16_backward.h"
#include "qkv/ops/sdpa/flash_common.h"

namespace qkv {
namespace {

static_assert(sizeof(bf16) == sizeof(uint16_t), "bf16 is stored as its 16 bits");

kernels::FlashInBf16 bf16_view(const Tensor<bf16>& t, Tensor<bf16>& keep) {
  keep = t.stride(3) == 1 || t.dim(3) <= 1 ? t : t.contiguous();
  return {reinterpret_cast<const uint16_t*>(keep.data()), keep.stride(0), keep.stride(1), keep.stride(2)};
}

}  // namespace

TensorF widen_bf16(const Tensor<bf16>& t) {
  QKV_CHECK(t.rank() == 4, "widen_bf16: argument 't' has shape ", shape_str(t.shape()), "; expected (B, H, L, w)");
  TensorF out(t.shape());
  Tensor<bf16> keep;
  kernels::FlashDims dm;
  dm.B = t.dim(0);
  dm.H = t.dim(1);
  kernels::flash::widen(dm, bf16_view(t, keep), t.dim(2), t.dim(3), out.data());
  return out;
}

void sdpa_bf16_forward_unchecked(const Tensor<bf16>& q, const Tensor<bf16>& k, const Tensor<bf16>& v,
                                 const AttentionMask& mask, const SdpaOptions& options, SdpaForward<float>& fwd,
                                 kernels::KeyNorms* key_norms) {
  const kernels::FlashDims dm = flash_adapter::dims_of(q.shape(), k.shape(), v.shape());
  const flash_adapter::Mask m = flash_adapter::make_mask(mask, options, dm.B, dm.H, dm.Lq, dm.Lk);
  const float scale = flash_adapter::scale_of(options, dm.d);
  Tensor<bf16> qk, kk, vk;
  ensure_shape(fwd.out, {dm.B, dm.H, dm.Lq, dm.dv});
  ensure_shape(fwd.lse, {dm.B, dm.H, dm.Lq});
  kernels::flash_forward_bf16(dm, scale, bf16_view(q, qk), bf16_view(k, kk), bf16_view(v, vk), m.fm, fwd.out.data(),
                              fwd.lse.data(), key_norms);
  if (options.need_weights) {
    const TensorF qf = widen_bf16(q), kf = widen_bf16(k);
    ensure_shape(fwd.weights, {dm.B, dm.H, dm.Lq, dm.Lk});
    kernels::flash_weights(dm, scale, {qf.data(), qf.stride(0), qf.stride(1), qf.stride(2)},
                           {kf.data(), kf.stride(0), kf.stride(1), kf.stride(2)}, fwd.lse.data(), m.fm,
                           fwd.weights.data());
  } else {
    fwd.weights = TensorF();
  }
}

void sdpa_bf16_backward_unchecked(const TensorF& dout, const Tensor<bf16>& q, const Tensor<bf16>& k,
                                  const Tensor<bf16>& v, const SdpaForward<float>& fwd, const AttentionMask& mask,
                                  const SdpaOptions& options, SdpaGrads<float>& grads) {
  const kernels::FlashDims dm = flash_adapter::dims_of(q.shape(), k.shape(), v.shape());
  const flash_adapter::Mask m = flash_adapter::make_mask(mask, options, dm.B, dm.H, dm.Lq, dm.Lk);
  const float scale = flash_adapter::scale_of(options, dm.d);
  Tensor<bf16> qk, kk, vk;
  TensorF ok, dk_;
  const TensorF lse = fwd.lse.contiguous();
  // The kernel zeroes dq, dk and dv before accumulating.
  ensure_shape(grads.dq, {dm.B, dm.H, dm.Lq, dm.d});
  ensure_shape(grads.dk, {dm.B, dm.kv_heads(), dm.Lk, dm.d});
  ensure_shape(grads.dv, {dm.B, dm.kv_heads(), dm.Lk, dm.dv});
  kernels::flash_backward_bf16(dm, scale, bf16_view(q, qk), bf16_view(k, kk), bf16_view(v, vk),
                               flash_adapter::view_of(fwd.out, ok), flash_adapter::view_of(dout, dk_), lse.data(), m.fm,
                               grads.dq.data(), grads.dk.data(), grads.dv.data());
}

}  // namespace qkv
