// PyTorch 1.13's nn.TransformerEncoder, nn.TransformerDecoder and nn.Transformer.
//
// Glossary: B batch, S source length, T target length, E = d_model, H = nhead.
//   encoder: memory = norm(layer_{N-1}(… layer_0(src)))               src (B, S, E) → (B, S, E)
//   decoder: out = norm(layer_{M-1}(… layer_0(tgt, memory), memory))  tgt (B, T, E) → (B, T, E)
//   Transformer: out = decoder(tgt, encoder(src))   (L, B, E) layouts when batch_first is false
// Masks (nn.MultiheadAttention's polarity: bool True = do not attend, floats are added; a row
// with every key masked gives zeros), mapped onto the three attention calls of TransformerCall:
//   src.attn_mask / attn_bias  = src_mask (S, S) or (B·H, S, S)
//   src.key_padding_mask/bias  = src_key_padding_mask (B, S)
//   tgt.attn_mask / attn_bias  = tgt_mask (T, T) or (B·H, T, T);  tgt.is_causal = tgt_is_causal
//                                (the causal mask itself, computed in the fused kernel)
//   tgt.key_padding_mask/bias  = tgt_key_padding_mask (B, T)
//   memory.attn_mask / bias    = memory_mask (T, S) or (B·H, T, S)
//   memory.key_padding_mask    = memory_key_padding_mask (B, S)
// Parameters (torch's state_dict names): encoder.layers.i.* (TransformerEncoderLayer),
// encoder.norm.{weight, bias}, decoder.layers.i.* (TransformerDecoderLayer), decoder.norm.*.
// forward() saves what the layers save (the inputs as contiguous batch-first copies or views);
// backward(dout) accumulates every parameter gradient and returns dsrc and dtgt in the layout
// of the inputs.
#pragma once

#include <memory>
#include <vector>

#include "qkv/nn/transformer_decoder_layer.h"

namespace qkv::nn {

template <typename T>
class TransformerEncoder : public Module<T> {
 public:
  TransformerEncoder() = default;
  TransformerEncoder(const TransformerOptions& o, Rng& rng);

  // src (B, S, E), unchanged until backward → memory (B, S, E).
  const Tensor<T>& forward(const Tensor<T>& src, const MhaCall& call, bool training, uint64_t seed);
  const Tensor<T>& backward(const Tensor<T>& dmemory);  // → dsrc (B, S, E)
  void collect_parameters(const std::string& prefix, NamedParameters<T>& out) override;

  std::vector<std::unique_ptr<TransformerEncoderLayer<T>>> layers;
  LayerNorm<T> norm;
};

template <typename T>
class TransformerDecoder : public Module<T> {
 public:
  TransformerDecoder() = default;
  TransformerDecoder(const TransformerOptions& o, Rng& rng);

  // tgt (B, T, E) and memory (B, S, E), unchanged until backward → (B, T, E).
  const Tensor<T>& forward(const Tensor<T>& tgt, const Tensor<T>& memory, const MhaCall& self_call,
                           const MhaCall& cross_call, bool training, uint64_t seed);
  const Tensor<T>& backward(const Tensor<T>& dout);  // → dtgt (B, T, E)
  const Tensor<T>& dmemory() const { return dmemory_; }  // Σ over layers, (B, S, E)
  void collect_parameters(const std::string& prefix, NamedParameters<T>& out) override;

  std::vector<std::unique_ptr<TransformerDecoderLayer<T>>> layers;
  LayerNorm<T> norm;

 private:
  Tensor<T> dmemory_;
};

struct TransformerCall {
  MhaCall src, tgt, memory;  // see the table above; training and dropout_seed are set per layer
};

template <typename T>
struct TransformerGrads {
  Tensor<T> dsrc, dtgt;
};

template <typename T>
class Transformer : public Module<T> {
 public:
  Transformer() = default;
  Transformer(const TransformerOptions& o, Rng& rng);

  // src (B, S, E) and tgt (B, T, E) with batch_first, else (S, B, E) and (T, B, E).
  const Tensor<T>& forward(const Tensor<T>& src, const Tensor<T>& tgt, const TransformerCall& call = {},
                           bool training = false, uint64_t seed = 0);
  TransformerGrads<T> backward(const Tensor<T>& dout);
  void collect_parameters(const std::string& prefix, NamedParameters<T>& out) override;
  const TransformerOptions& options() const { return options_; }

  TransformerEncoder<T> encoder;
  TransformerDecoder<T> decoder;

 private:
  TransformerOptions options_;
  Tensor<T> src_, tgt_, out_;  // batch-first inputs and the output in the caller's layout
};

}  // namespace qkv::nn
