// Scaled dot-product attention on variable-length packed batches (FlashAttention's varlen API):
// S sequences concatenated along the token axis without padding, described by cumulative lengths.
//
//   q (total_q, H, d)   k (total_k, Hkv, d)   v (total_k, Hkv, dv)
//   out (total_q, H, dv)   lse (total_q, H)   dq, dk, dv shaped like q, k, v
//   cu_seqlens_q (S + 1), cu_seqlens_k (S + 1): 0 = c_0 <= c_1 <= … <= c_S = total
// Sequence s is q rows [cu_q[s], cu_q[s+1]) against k, v rows [cu_k[s], cu_k[s+1]); nothing
// crosses sequences. causal is per sequence and aligned bottom-right by default, as
// FlashAttention's causal=True (query i of a sequence with Lq_s queries and Lk_s keys sees keys
// j <= i + Lk_s − Lq_s: the last query sees every key); Causal::top_left (PyTorch's is_causal)
// is available too. The SdpaOptions variants (GQA, window, ALiBi, softcap) apply per sequence as in
// sdpa.h; ALiBi slopes must be (H,). Dropout of sequence s uses seed dropout_seed + s. need_weights
// is refused (each sequence's weights have their own shape).
// Each sequence runs sdpa_forward / sdpa_backward (sdpa.h) on strided (1, H, L, ·) views of the
// packed tensors (no input copies), one sequence after another, each spread over the threads: the
// variant is exact, but many very short sequences keep the threads less busy than one fused call
// over the whole pack would. What the forward saves (lse) and the backward formula are sdpa.h's.
#pragma once

#include "qkv/ops/sdpa/sdpa.h"

namespace qkv {

struct SdpaVarlen {
  TensorI cu_seqlens_q, cu_seqlens_k;  // (S + 1) each
  Causal causal = Causal::none;        // Causal::bottom_right is FlashAttention's causal=True
};

template <typename T>
SdpaForward<T> sdpa_varlen_forward(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                   const SdpaVarlen& varlen, const SdpaOptions& options = {},
                                   AttentionBackend backend = AttentionBackend::automatic);

// dout (total_q, H, dv); fwd: what sdpa_varlen_forward returned for the same arguments.
template <typename T>
SdpaGrads<T> sdpa_varlen_backward(const Tensor<T>& dout, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                  const SdpaForward<T>& fwd, const SdpaVarlen& varlen,
                                  const SdpaOptions& options = {},
                                  AttentionBackend backend = AttentionBackend::automatic);

}  // namespace qkv
