// Scaled dot-product attention on inputs with any leading dims, as torch.nn.functional takes them
// (and as the Python module does): the leading dims fold onto the (B, H) of sdpa.h and unfold
// again on the results.
//
//   q (..., Lq, d)   k (..., Lk, d)   v (..., Lk, dv)   the same leading dims "..." (possibly none)
//   out (..., Lq, dv)   lse (..., Lq)   weights (..., Lq, Lk)   dq, dk, dv shaped like q, k, v
// Folding: () → (B, H) = (1, 1); (N) → (N, 1); (b1, …, bn, H) → (b1·…·bn, H).
// The mask parts are given against the unfolded shapes:
//   allowed, bias   broadcastable (NumPy rules) to (..., Lq, Lk); bool 1 = may attend
//   valid_lens      the batch dims ("..." without H when q has rank >= 4), optionally followed by Lq
//   causal          as in mask.h
// The variants are SdpaOptions (sdpa.h): with enable_gqa, k and v may have fewer heads (the last
// leading dim, when q has rank >= 4); alibi_slopes is (H,) or (batch dims..., H).
// Folding is a view for contiguous tensors (a copy otherwise); a mask broadcast over some but not
// all of several batch dims is materialised. What the forward saves (lse) and the backward
// formula are those of sdpa.h; the gradients are named after the inputs (dq, dk, dv).
#pragma once

#include "qkv/ops/sdpa/sdpa.h"

namespace qkv {

// The sizes of one call and how its leading dims fold.
struct SdpaLayout {
  Shape lead;  // the leading dims "..."
  int64_t B = 1, H = 1, Lq = 0, Lk = 0, d = 0, dv = 0;
  int64_t Hkv = 1;  // heads of k and v: H unless grouped-query (enable_gqa)

  // (..., L, last...): the leading dims followed by `tail`.
  Shape unfolded(std::initializer_list<int64_t> tail) const;
  // The batch dims valid_lens is indexed by ("..." without H when there are two or more).
  Shape batch() const;
  // The layout of k and v: the same with Hkv heads (their leading dims end in Hkv).
  SdpaLayout kv() const;
};

// Checks that q, k and v have the same leading dims, that k has q's head dim d and v has k's
// length; throws qkv::Error naming the argument, the expected and the actual shape. With gqa
// (SdpaOptions::enable_gqa) and rank >= 4, k and v may have Hkv heads (the last leading dim),
// Hkv dividing q's H.
SdpaLayout sdpa_layout(const char* where, const Shape& q, const Shape& k, const Shape& v, bool gqa = false);

// `mask` given against the unfolded shapes, as an AttentionMask over (B, H, Lq, Lk). Errors name
// the mask parts 'allowed', 'bias' and 'valid_lens', or `mask_name` for allowed and bias.
AttentionMask fold_mask(const char* where, const AttentionMask& mask, const SdpaLayout& layout,
                        const char* mask_name = nullptr);

// The options with alibi_slopes given as (batch dims..., H) reshaped to (B, H); (H,) unchanged.
SdpaOptions fold_options(const SdpaOptions& options, const SdpaLayout& layout);

// (..., L, w) → (B, H, L, w), and back: (B, H, L, rest...) → (..., L, rest...).
template <typename T>
Tensor<T> fold(const Tensor<T>& t, const SdpaLayout& layout);
template <typename T>
Tensor<T> unfold(const Tensor<T>& t, const SdpaLayout& layout);

// sdpa_forward / sdpa_backward of sdpa.h on the unfolded shapes (fwd holds unfolded results).
template <typename T>
SdpaForward<sdpa_result_t<T>> sdpa_forward_nd(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                              const AttentionMask& mask = {}, const SdpaOptions& options = {},
                                              AttentionBackend backend = AttentionBackend::automatic);

template <typename T>
SdpaGrads<sdpa_result_t<T>> sdpa_backward_nd(const Tensor<sdpa_result_t<T>>& dout, const Tensor<T>& q,
                                             const Tensor<T>& k, const Tensor<T>& v,
                                             const SdpaForward<sdpa_result_t<T>>& fwd,
                                             const AttentionMask& mask = {}, const SdpaOptions& options = {},
                                             AttentionBackend backend = AttentionBackend::automatic);

}  // namespace qkv
