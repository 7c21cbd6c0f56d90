// PyTorch 1.13's nn.TransformerEncoderLayer (batch-first inside; the stacks translate layouts).
//
//   x (B, S, E) → out (B, S, E)
//   post-norm (norm_first=false):  x1 = norm1(x + dropout1(SA(x)));  out = norm2(x1 + FF(x1))
//   pre-norm  (norm_first=true):   x1 = x + dropout1(SA(norm1(x)));  out = x1 + FF(norm2(x1))
// SA is self-attention with the call's masks (src_mask as attn_mask, src_key_padding_mask as
// key_padding_mask; nn.MultiheadAttention's polarity, through the fused SDPA kernels); FF is
// linear1 → activation → dropout → linear2 → dropout2 (TransformerFeedForward).
// Parameters (torch names): self_attn.{in_proj_weight (3E, E), in_proj_bias, out_proj.weight,
// out_proj.bias}, linear1.{weight (F, E), bias}, linear2.{weight (E, F), bias}, norm1.{weight,
// bias}, norm2.{weight, bias}.
// forward() saves what its modules save plus x1 and the residual sums; x must stay unchanged
// until backward(dout), which accumulates every parameter gradient and returns dx (B, S, E).
#pragma once

#include "qkv/nn/layernorm.h"
#include "qkv/nn/multihead_attention.h"
#include "qkv/nn/transformer_feedforward.h"

namespace qkv::nn {

template <typename T>
class TransformerEncoderLayer : public Module<T> {
 public:
  TransformerEncoderLayer() = default;
  TransformerEncoderLayer(const TransformerOptions& o, Rng& rng);

  // call: the masks of the self-attention (its training and dropout_seed are set here).
  const Tensor<T>& forward(const Tensor<T>& x, const MhaCall& call, bool training, uint64_t seed);
  const Tensor<T>& backward(const Tensor<T>& dout);
  void collect_parameters(const std::string& prefix, NamedParameters<T>& out) override;

  MultiheadAttention<T> self_attn;
  TransformerFeedForward<T> ff;
  LayerNorm<T> norm1, norm2;

 private:
  bool norm_first_ = false;
  Dropout<T> dropout1_{0.0};
  Tensor<T> s1_, x1_, out_, dx1_, dx_;
};

// The MHA options of a Transformer's attention blocks: E, H, bias, dropout on the weights.
inline MhaOptions transformer_mha_options(const TransformerOptions& o) {
  MhaOptions m;
  m.embed_dim = o.d_model;
  m.num_heads = o.nhead;
  m.dropout = o.dropout;
  return m;
}

}  // namespace qkv::nn
