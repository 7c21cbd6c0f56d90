// Translation of the attention API's arguments into the fused kernels' (see flash_adapter.h).
#include "qkv/ops/sdpa/flash_adapter.h"

namespace qkv::flash_adapter {

kernels::FlashDims dims_of(const Shape& q, const Shape& k, const Shape& v) {
  kernels::FlashDims dm{q[0], q[1], q[2], k[2], q[3], v[3]};
  dm.Hkv = k[1];
  return dm;
}

float scale_of(const SdpaOptions& options, int64_t d) { return static_cast<float>(sdpa_scale(options, d)); }

Mask make_mask(const AttentionMask& mask, const SdpaOptions& options, int64_t B, int64_t H, int64_t Lq,
               int64_t Lk) {
  Mask m;
  kernels::FlashMask& fm = m.fm;
  if (mask.causal != Causal::none) {
    fm.causal = true;
    fm.causal_offset = mask.causal == Causal::top_left ? 0 : Lk - Lq;
  }
  if (mask.valid_lens.defined()) {
    const bool per_batch = mask.valid_lens.rank() == 1;
    m.lens = mask.valid_lens.contiguous();
    fm.lens = m.lens.data();
    fm.lens_sb = per_batch ? 1 : Lq;
    fm.lens_si = per_batch ? 0 : 1;
  }
  const Shape full{B, H, Lq, Lk};
  if (mask.allowed.defined()) {
    m.allowed = mask.allowed.expand(full);
    fm.allowed = m.allowed.data();
    fm.allowed_sb = m.allowed.stride(0);
    fm.allowed_sh = m.allowed.stride(1);
    fm.allowed_si = m.allowed.stride(2);
    fm.allowed_sj = m.allowed.stride(3);
  }
  if (mask.bias.defined()) {
    m.bias = mask.bias.expand(full);
    fm.bias = m.bias.data();
    fm.bias_sb = m.bias.stride(0);
    fm.bias_sh = m.bias.stride(1);
    fm.bias_si = m.bias.stride(2);
    fm.bias_sj = m.bias.stride(3);
  }
  fm.dropout_p = options.dropout_p;
  fm.dropout_seed = options.dropout_seed;
  fm.window_left = options.window_left;
  fm.window_right = options.window_right;
  fm.window_offset = Lk - Lq;
  fm.softcap = static_cast<float>(options.softcap);
  if (options.alibi_slopes.defined()) {
    m.alibi = options.alibi_slopes.contiguous();
    fm.alibi = m.alibi.data();
    fm.alibi_sb = m.alibi.rank() == 2 ? H : 0;
    fm.alibi_sh = 1;
  }
  return m;
}

}  // namespace qkv::flash_adapter
