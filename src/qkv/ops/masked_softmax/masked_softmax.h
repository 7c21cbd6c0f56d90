// Masked softmax over the last axis, d2l's masked_softmax with qkv's treatment of empty rows.
//
// Dimension glossary: B batch, Lq queries (rows), Lk keys (columns).
//   x (B, Lq, Lk) scores    valid_lens: undefined, int64 (B,) or (B, Lq)    y (B, Lq, Lk)
// Keys at positions >= the row's valid length are masked: y = 0 there, and the visible entries of
// the row are softmax(x) over the visible keys. Entries of x equal to −inf are masked too.
// A row with no visible key (length 0, or every visible entry −inf) is all zeros, and so is its
// gradient. d2l instead fills masked scores with −1e6, which turns a length-0 row into *uniform*
// weights 1/Lk (attention to padding); qkv gives zeros, so padding never leaks into the output.
// The general overload takes any AttentionMask (causal, valid_lens, allowed, bias), validated
// against (B, 1, Lq, Lk); bias is added to x before the softmax.
// The forward saves nothing beyond its output: backward needs only y.
//   backward: dx = y ∘ (dy − rowsum(y ∘ dy))     (0 wherever y is 0, so masked entries get 0)
// Templates on T, instantiated for float and double. Inputs may be strided views.
#pragma once

#include "qkv/ops/mask/mask.h"

namespace qkv {

template <typename T>
Tensor<T> masked_softmax(const Tensor<T>& x, const TensorI& valid_lens = {});

template <typename T>
Tensor<T> masked_softmax(const Tensor<T>& x, const AttentionMask& mask);

// dy, y: (B, Lq, Lk) → dx (B, Lq, Lk).
template <typename T>
Tensor<T> masked_softmax_backward(const Tensor<T>& dy, const Tensor<T>& y);

}  // namespace qkv
