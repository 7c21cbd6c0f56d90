// Rotary position embeddings (RoPE, Su et al. 2021, "RoFormer"), applied to queries and keys before
// attention so that q·k depends on the positions only through their difference.
//
// Dimension glossary: B batch, H heads, L sequence length, d head width, r rotated width (r ≤ d, even).
//   x: (B, H, L, d) → y: (B, H, L, d). The first r channels are rotated in pairs, the rest copied.
//   Pair p (p = 0 … r/2 − 1) of token l of batch b turns by the angle
//     a = (offset_b + l) · θ_p,   θ_p = base^(−2p / r)
//   Half-split layout (GPT-NeoX, Hugging Face `rotate_half`, LLaMA): the pair is (x[p], x[p + r/2]).
//   Interleaved layout (RoFormer, GPT-J):                           the pair is (x[2p], x[2p + 1]).
//     y_first  = x_first · cos a − x_second · sin a
//     y_second = x_first · sin a + x_second · cos a
//   offset_b is the position of token 0 (a decoder applies RoPE to one new token at the position
//   the KV cache has reached): `position_offsets` is empty (all 0), one value, or one per batch.
// Forward saves nothing. Backward: the rotation is orthogonal, so dx = R(−a) dy (the same formula
// with sin a negated); the pass-through channels copy dy.
// Templates on T, instantiated for float and double.
#pragma once

#include <vector>

#include "qkv/core/tensor.h"

namespace qkv {

struct RotaryOptions {
  double base = 10000.0;
  int64_t rotary_dim = 0;  // r; 0 means the whole head width d
  bool interleaved = false;
  std::vector<int64_t> position_offsets;  // {}, {offset}, or B values
};

template <typename T>
Tensor<T> rotary_forward(const Tensor<T>& x, const RotaryOptions& options = {});

// dy: (B, H, L, d), the gradient of rotary_forward's result; returns dx.
template <typename T>
Tensor<T> rotary_backward(const Tensor<T>& dy, const RotaryOptions& options = {});

}  // namespace qkv
