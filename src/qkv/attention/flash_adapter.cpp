#include "qkv/attention/flash_adapter.h"

#include <cmath>

namespace qkv::flash_adapter {

kernels::FlashDims check_qkv(const char* where, const Shape& q, const Shape& k, const Shape& v) {
  QKV_CHECK(q.size() == 4, where, ": argument 'q' has shape ", shape_str(q), "; expected (B, H, Lq, d)");
  QKV_CHECK(k.size() == 4, where, ": argument 'k' has shape ", shape_str(k), "; expected (B, H, Lk, d)");
  QKV_CHECK(v.size() == 4, where, ": argument 'v' has shape ", shape_str(v), "; expected (B, H, Lk, dv)");
  QKV_CHECK(k[0] == q[0] && k[1] == q[1] && k[3] == q[3], where, ": argument 'k' has shape ", shape_str(k),
            "; expected (", q[0], ", ", q[1], ", Lk, ", q[3], ") to match 'q' ", shape_str(q));
  QKV_CHECK(v[0] == q[0] && v[1] == q[1] && v[2] == k[2], where, ": argument 'v' has shape ", shape_str(v),
            "; expected (", q[0], ", ", q[1], ", ", k[2], ", dv) to match 'q' and 'k'");
  return {q[0], q[1], q[2], k[2], q[3], v[3]};
}

float scale_of(const SdpaOptions& options, int64_t d) {
  if (options.scale) return static_cast<float>(*options.scale);
  return d > 0 ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(d))) : 1.0f;
}

Mask make_mask(const char* where, const AttentionMask& mask, const SdpaOptions& options, int64_t B, int64_t H,
               int64_t Lq, int64_t Lk) {
  Mask m;
  kernels::FlashMask& fm = m.fm;
  if (mask.causal != Causal::none) {
    fm.causal = true;
    fm.causal_offset = mask.causal == Causal::top_left ? 0 : Lk - Lq;
  }
  if (mask.valid_lens.defined()) {
    const TensorI& vl = mask.valid_lens;
    const bool per_batch = vl.rank() == 1 && vl.dim(0) == B;
    const bool per_query = vl.rank() == 2 && vl.dim(0) == B && vl.dim(1) == Lq;
    QKV_CHECK(per_batch || per_query, where, ": mask 'valid_lens' has shape ", shape_str(vl.shape()),
              "; expected (", B, ",) or (", B, ", ", Lq, ")");
    m.lens = vl.contiguous();
    for (int64_t i = 0; i < m.lens.numel(); ++i)
      QKV_CHECK(m.lens[i] >= 0 && m.lens[i] <= Lk, where, ": mask 'valid_lens' holds ", m.lens[i],
                "; expected lengths in [0, ", Lk, "]");
    fm.lens = m.lens.data();
    fm.lens_sb = per_batch ? 1 : Lq;
    fm.lens_si = per_batch ? 0 : 1;
  }
  const Shape full{B, H, Lq, Lk};
  if (mask.allowed.defined()) {
    QKV_CHECK(mask.allowed.broadcasts_to(full), where, ": mask 'allowed' has shape ", shape_str(mask.allowed.shape()),
              "; expected a shape broadcastable to ", shape_str(full));
    m.allowed = mask.allowed.expand(full);
    fm.allowed = m.allowed.data();
    fm.allowed_sb = m.allowed.stride(0);
    fm.allowed_sh = m.allowed.stride(1);
    fm.allowed_si = m.allowed.stride(2);
    fm.allowed_sj = m.allowed.stride(3);
  }
  if (mask.bias.defined()) {
    QKV_CHECK(mask.bias.broadcasts_to(full), where, ": mask 'bias' has shape ", shape_str(mask.bias.shape()),
              "; expected a shape broadcastable to ", shape_str(full));
    m.bias = mask.bias.expand(full);
    fm.bias = m.bias.data();
    fm.bias_sb = m.bias.stride(0);
    fm.bias_sh = m.bias.stride(1);
    fm.bias_si = m.bias.stride(2);
    fm.bias_sj = m.bias.stride(3);
  }
  QKV_CHECK(options.dropout_p >= 0.0 && options.dropout_p <= 1.0, where, ": argument 'dropout_p' is ",
            options.dropout_p, "; expected 0 <= dropout_p <= 1");
  fm.dropout_p = options.dropout_p;
  fm.dropout_seed = options.dropout_seed;
  return m;
}

}  // namespace qkv::flash_adapter
