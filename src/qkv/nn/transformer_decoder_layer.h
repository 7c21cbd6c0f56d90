// PyTorch 1.13's nn.TransformerDecoderLayer (batch-first inside; the stacks translate layouts).
//
//   x (B, T, E), memory (B, S, E) → out (B, T, E)
//   post-norm: x1 = norm1(x + dropout1(SA(x)));  x2 = norm2(x1 + dropout2(CA(x1, memory)));
//              out = norm3(x2 + FF(x2))
//   pre-norm:  x1 = x + dropout1(SA(norm1(x)));  x2 = x1 + dropout2(CA(norm2(x1), memory));
//              out = x2 + FF(norm3(x2))
// SA: self-attention with tgt_mask / tgt_key_padding_mask / is_causal (the `self_call`); CA:
// attention over the memory (self_attn's sibling "multihead_attn") with memory_mask /
// memory_key_padding_mask (the `cross_call`); both through the fused SDPA kernels.
// Parameters (torch names): self_attn.*, multihead_attn.* (in_proj_weight (3E, E), in_proj_bias,
// out_proj.weight, out_proj.bias), linear1.*, linear2.*, norm1.*, norm2.*, norm3.*.
// forward() saves what its modules save plus the residual sums; x and memory must stay
// unchanged until backward(dout), which accumulates every parameter gradient, returns dx
// (B, T, E) and leaves the memory's gradient (dkey + dvalue of CA, (B, S, E)) in dmemory().
#pragma once

#include "qkv/nn/transformer_encoder_layer.h"

namespace qkv::nn {

template <typename T>
class TransformerDecoderLayer : public Module<T> {
 public:
  TransformerDecoderLayer() = default;
  TransformerDecoderLayer(const TransformerOptions& o, Rng& rng);

  const Tensor<T>& forward(const Tensor<T>& x, const Tensor<T>& memory, const MhaCall& self_call,
                           const MhaCall& cross_call, bool training, uint64_t seed);
  const Tensor<T>& backward(const Tensor<T>& dout);
  const Tensor<T>& dmemory() const { return dmemory_; }
  void collect_parameters(const std::string& prefix, NamedParameters<T>& out) override;
  bool norm_first() const { return norm_first_; }

  MultiheadAttention<T> self_attn, multihead_attn;
  TransformerFeedForward<T> ff;
  LayerNorm<T> norm1, norm2, norm3;

 private:
  bool norm_first_ = false;
  Dropout<T> dropout1_{0.0}, dropout2_{0.0};
  Tensor<T> s1_, x1_, s2_, x2_, out_, dx2_, dx1_, dx_, dmemory_;
};

}  // namespace qkv::nn
