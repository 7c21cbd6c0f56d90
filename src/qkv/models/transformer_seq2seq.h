// A sequence-to-sequence Transformer ("Attention Is All You Need") around nn::Transformer.
//
// Glossary: B batch, S source length, T target length, Vs / Vt source / target vocabularies,
// E = d_model.
//   x_src = dropout(src_embed(src)·√E + PE[0:S])            (B, S, E)
//   x_tgt = dropout(tgt_embed(tgt_in)·√E + PE[0:T])         (B, T, E)
//   h = transformer(x_src, x_tgt) with src_key_padding_mask and memory_key_padding_mask from
//       src_lens, the causal mask and tgt_key_padding_mask from tgt_lens (all in the fused SDPA)
//   logits = h Wᵀ + b                                       (B, T, Vt)
// PE is the sinusoidal table (nn/positional_encoding). W is "generator.weight" (Vt, E), or with
// tie_embeddings the target embedding itself (the two uses' gradients add up).
// Parameters: src_embed.weight (Vs, E), tgt_embed.weight (Vt, E), transformer.* (torch's
// nn.Transformer names), generator.weight (unless tied), generator.bias (Vt,).
// forward() saves what the Transformer saves plus the embedded inputs; backward(dlogits)
// accumulates every parameter gradient.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "qkv/nn/dropout.h"
#include "qkv/nn/embedding.h"
#include "qkv/nn/positional_encoding.h"
#include "qkv/nn/transformer.h"

namespace qkv::io {
class SafeTensors;
}

namespace qkv::models {

struct TransformerSeq2SeqConfig {
  int64_t src_vocab = 0, tgt_vocab = 0;
  int64_t d_model = 128, nhead = 4, encoder_layers = 3, decoder_layers = 3, dim_feedforward = 512;
  double dropout = 0.1;
  std::string activation = "relu";
  bool norm_first = true;
  bool tie_embeddings = false;
  int64_t max_len = 256;  // longest source or target sequence (rows of the position table)
  std::string task = "dates";  // what it was trained on (its vocabularies): dates or cmudict

  nn::TransformerOptions transformer_options() const;
  // Throws qkv::Error naming the field and its value (vocabularies 4..65536, d_model 1..4096,
  // at most 2^25 parameters, ...).
  void validate() const;
  // (name, shape) of every parameter from the config alone (loaders check files against it).
  std::vector<std::pair<std::string, Shape>> parameter_shapes() const;
  // The config as safetensors metadata (strings) and back; from_metadata validates.
  std::map<std::string, std::string> to_metadata() const;
  static TransformerSeq2SeqConfig from_metadata(const std::map<std::string, std::string>& meta,
                                                const std::string& where);
};

template <typename T>
class TransformerSeq2Seq : public nn::Module<T> {
 public:
  TransformerSeq2Seq(const TransformerSeq2SeqConfig& config, uint64_t seed = 0);

  // src (B, S) ids with src_lens (B,) in [1, S]; tgt_in (B, T) ids with tgt_lens (B,) in [1, T]
  // (undefined: no padding). Returns logits (B, T, Vt). need_weights keeps every attention's
  // per-head weights: transformer.encoder.layers[i]->self_attn.weights() (B, H, S, S), the
  // decoder layers' self_attn (B, H, T, T) and multihead_attn (B, H, T, S).
  const Tensor<T>& forward(const TensorI& src, const TensorI& src_lens, const TensorI& tgt_in,
                           const TensorI& tgt_lens, bool training = false, uint64_t seed = 0,
                           bool need_weights = false);
  void backward(const Tensor<T>& dlogits);

  // The encoder alone (inference): memory (B, S, E) for the cached decoder.
  const Tensor<T>& encode(const TensorI& src, const TensorI& src_lens);
  // Embedded target tokens ids (B, L) at positions start.. (B, L, E) (inference).
  Tensor<T> embed_target(const TensorI& ids, int64_t start);
  // Logits of decoder outputs h (B, L, E) → (B, L, Vt) (inference).
  Tensor<T> project(const Tensor<T>& h);

  void collect_parameters(const std::string& prefix, nn::NamedParameters<T>& out) override;
  const TransformerSeq2SeqConfig& config() const { return config_; }

  nn::Embedding<T> src_embed, tgt_embed;
  nn::Transformer<T> transformer;
  nn::Parameter<T> generator_weight, generator_bias;

 private:
  Tensor<T> embed(nn::Embedding<T>& table, const TensorI& ids, int64_t start);
  const Tensor<T>& output_weight() const;

  TransformerSeq2SeqConfig config_;
  SinusoidalPositionalEncoding<T> pe_;
  nn::Dropout<T> src_drop_{0.0}, tgt_drop_{0.0};
  Tensor<T> x_src_, x_tgt_, h_, logits_, dh_, dtable_;
  TensorB src_pad_, tgt_pad_;
};

// <dir>/model.safetensors: the weights under their names plus the config as metadata (format
// "qkv.transformer"). load_transformer checks the metadata and every tensor (present, F32,
// shape, finite; no others) before it builds the model; throws qkv::FileError naming the file.
std::unique_ptr<TransformerSeq2Seq<float>> load_transformer(const std::string& path);
TransformerSeq2SeqConfig checked_transformer_config(const io::SafeTensors& file);

}  // namespace qkv::models
