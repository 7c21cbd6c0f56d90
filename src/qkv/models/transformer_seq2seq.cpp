#include "qkv/models/transformer_seq2seq.h"

#include <cmath>

#include "qkv/io/module_weights.h"
#include "qkv/ops/linear/linear.h"

namespace qkv::models {
namespace {

// (B, L) padding mask, 1 at positions >= lens[b] (nn.MultiheadAttention's polarity).
TensorB padding_mask(const char* arg, const TensorI& lens, int64_t B, int64_t L, TensorB& mask) {
  if (!lens.defined()) return TensorB();
  check_shape("TransformerSeq2Seq.forward", arg, lens, {B});
  ensure_shape(mask, {B, L});
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = lens[b];
    QKV_CHECK(n >= 1 && n <= L, "TransformerSeq2Seq.forward: ", arg, "[", b, "] is ", n, "; expected 1..", L);
    for (int64_t j = 0; j < L; ++j) mask.data()[b * L + j] = j >= n;
  }
  return mask;
}

}  // namespace

template <typename T>
TransformerSeq2Seq<T>::TransformerSeq2Seq(const TransformerSeq2SeqConfig& c, uint64_t seed)
    : config_(c), pe_(c.d_model, c.max_len), src_drop_(c.dropout), tgt_drop_(c.dropout) {
  c.validate();
  Rng rng(seed);
  src_embed = nn::Embedding<T>(c.src_vocab, c.d_model, rng);
  tgt_embed = nn::Embedding<T>(c.tgt_vocab, c.d_model, rng);
  // N(0, 1/E): the scaled embedding (×√E) starts with unit variance, like the position encoding.
  const double std = 1.0 / std::sqrt(static_cast<double>(c.d_model));
  for (nn::Embedding<T>* e : {&src_embed, &tgt_embed})
    for (int64_t i = 0; i < e->weight.value.numel(); ++i) e->weight.value[i] = static_cast<T>(rng.normal() * std);
  transformer = nn::Transformer<T>(c.transformer_options(), rng);
  if (!c.tie_embeddings) {
    generator_weight = nn::Parameter<T>({c.tgt_vocab, c.d_model});
    const double bound = 1.0 / std::sqrt(static_cast<double>(c.d_model));
    for (int64_t i = 0; i < generator_weight.value.numel(); ++i)
      generator_weight.value[i] = static_cast<T>(rng.uniform(-bound, bound));
  }
  generator_bias = nn::Parameter<T>({c.tgt_vocab}, /*decay=*/false);
}

template <typename T>
void TransformerSeq2Seq<T>::collect_parameters(const std::string& prefix, nn::NamedParameters<T>& out) {
  src_embed.collect_parameters(prefix + "src_embed.", out);
  tgt_embed.collect_parameters(prefix + "tgt_embed.", out);
  transformer.collect_parameters(prefix + "transformer.", out);
  if (!config_.tie_embeddings) out.emplace_back(prefix + "generator.weight", &generator_weight);
  out.emplace_back(prefix + "generator.bias", &generator_bias);
}

template <typename T>
const Tensor<T>& TransformerSeq2Seq<T>::output_weight() const {
  return config_.tie_embeddings ? tgt_embed.weight.value : generator_weight.value;
}

template <typename T>
Tensor<T> TransformerSeq2Seq<T>::embed(nn::Embedding<T>& table, const TensorI& ids, int64_t start) {
  QKV_CHECK(start + ids.dim(1) <= config_.max_len, "TransformerSeq2Seq: a sequence of ", start + ids.dim(1),
            " tokens is longer than max_len=", config_.max_len);
  const Tensor<T>& e = table.forward(ids);
  Tensor<T> scaled(e.shape());
  const T s = static_cast<T>(std::sqrt(static_cast<double>(config_.d_model)));
  for (int64_t i = 0; i < e.numel(); ++i) scaled[i] = e[i] * s;
  return pe_.forward(scaled, start);
}

template <typename T>
const Tensor<T>& TransformerSeq2Seq<T>::forward(const TensorI& src, const TensorI& src_lens, const TensorI& tgt_in,
                                                const TensorI& tgt_lens, bool training, uint64_t seed,
                                                bool need_weights) {
  check_rank("TransformerSeq2Seq.forward", "src", src, 2);
  check_rank("TransformerSeq2Seq.forward", "tgt_in", tgt_in, 2);
  const int64_t B = src.dim(0), S = src.dim(1), L = tgt_in.dim(1);
  QKV_CHECK(tgt_in.dim(0) == B, "TransformerSeq2Seq.forward: arguments 'src' and 'tgt_in' have batch sizes ", B,
            " and ", tgt_in.dim(0));
  nn::TransformerCall call;
  call.src.key_padding_mask = padding_mask("src_lens", src_lens, B, S, src_pad_);
  call.memory.key_padding_mask = call.src.key_padding_mask;
  call.tgt.key_padding_mask = padding_mask("tgt_lens", tgt_lens, B, L, tgt_pad_);
  call.tgt.is_causal = true;
  for (nn::MhaCall* a : {&call.src, &call.tgt, &call.memory}) {
    a->need_weights = need_weights;
    a->average_attn_weights = false;
  }
  x_src_ = src_drop_.forward(embed(src_embed, src, 0), training, seed * 3 + 1).clone();
  x_tgt_ = tgt_drop_.forward(embed(tgt_embed, tgt_in, 0), training, seed * 3 + 2).clone();
  const Tensor<T>& h = transformer.forward(x_src_, x_tgt_, call, training, seed * 3 + 3);
  h_ = h;
  const int64_t V = config_.tgt_vocab, E = config_.d_model;
  ensure_shape(logits_, {B, L, V});
  linear_forward(h.data(), output_weight().data(), generator_bias.value.data(), logits_.data(), B * L, E, V);
  return logits_;
}

template <typename T>
void TransformerSeq2Seq<T>::backward(const Tensor<T>& dlogits) {
  QKV_CHECK(h_.defined(), "TransformerSeq2Seq.backward: called before forward");
  check_shape("TransformerSeq2Seq.backward", "dlogits", dlogits, logits_.shape());
  const int64_t rows = h_.dim(0) * h_.dim(1), V = config_.tgt_vocab, E = config_.d_model;
  const Tensor<T> g = dlogits.contiguous();
  ensure_shape(dh_, h_.shape());
  T* dw = config_.tie_embeddings ? tgt_embed.weight.grad.data() : generator_weight.grad.data();
  linear_backward<T>(g.data(), h_.data(), output_weight().data(), dh_.data(), dw, generator_bias.grad.data(), rows, E,
                     V);
  nn::TransformerGrads<T> d = transformer.backward(dh_);
  const T s = static_cast<T>(std::sqrt(static_cast<double>(E)));
  auto to_table = [&](nn::Embedding<T>& table, nn::Dropout<T>& drop, const Tensor<T>& dx) {
    Tensor<T> de = drop.backward(dx).clone();
    for (int64_t i = 0; i < de.numel(); ++i) de[i] *= s;
    table.backward(de);
  };
  to_table(src_embed, src_drop_, d.dsrc);
  to_table(tgt_embed, tgt_drop_, d.dtgt);
}

template <typename T>
const Tensor<T>& TransformerSeq2Seq<T>::encode(const TensorI& src, const TensorI& src_lens) {
  check_rank("TransformerSeq2Seq.encode", "src", src, 2);
  nn::MhaCall call;
  call.key_padding_mask = padding_mask("src_lens", src_lens, src.dim(0), src.dim(1), src_pad_);
  x_src_ = embed(src_embed, src, 0);
  return transformer.encoder.forward(x_src_, call, false, 0);
}

template <typename T>
Tensor<T> TransformerSeq2Seq<T>::embed_target(const TensorI& ids, int64_t start) {
  check_rank("TransformerSeq2Seq.embed_target", "ids", ids, 2);
  return embed(tgt_embed, ids, start);
}

template <typename T>
Tensor<T> TransformerSeq2Seq<T>::project(const Tensor<T>& h_in) {
  check_shape("TransformerSeq2Seq.project", "h", h_in, {-1, -1, config_.d_model});
  const Tensor<T> h = h_in.contiguous();
  Tensor<T> logits({h.dim(0), h.dim(1), config_.tgt_vocab});
  linear_forward(h.data(), output_weight().data(), generator_bias.value.data(), logits.data(), h.dim(0) * h.dim(1),
                 config_.d_model, config_.tgt_vocab);
  return logits;
}

template class TransformerSeq2Seq<float>;
template class TransformerSeq2Seq<double>;

std::unique_ptr<TransformerSeq2Seq<float>> load_transformer(const std::string& path) {
  io::SafeTensors f = io::read_safetensors(path);
  auto model = std::make_unique<TransformerSeq2Seq<float>>(checked_transformer_config(f));
  io::load_module_weights(*model, f);
  return model;
}

}  // namespace qkv::models
