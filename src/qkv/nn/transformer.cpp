#include "qkv/nn/transformer.h"

#include "qkv/nn/residual.h"

namespace qkv::nn {
namespace {

// (L, B, E) ↔ (B, L, E) as a contiguous copy (its own inverse).
template <typename T>
Tensor<T> swap_batch(const Tensor<T>& x) {
  return x.transpose(0, 1).contiguous();
}

template <typename T>
void check_input(const char* arg, const Tensor<T>& x, int64_t E, bool batch_first) {
  QKV_CHECK(x.rank() == 3 && x.dim(2) == E, "Transformer.forward: argument '", arg, "' has shape ",
            shape_str(x.shape()), "; expected ", batch_first ? "(B, L, " : "(L, B, ", E, ") (d_model ", E, ")");
}

}  // namespace

template <typename T>
TransformerEncoder<T>::TransformerEncoder(const TransformerOptions& o, Rng& rng) : norm(o.d_model, o.layer_norm_eps) {
  for (int64_t i = 0; i < o.num_encoder_layers; ++i)
    layers.push_back(std::make_unique<TransformerEncoderLayer<T>>(o, rng));
}

template <typename T>
const Tensor<T>& TransformerEncoder<T>::forward(const Tensor<T>& src, const MhaCall& call, bool training,
                                                uint64_t seed) {
  const Tensor<T>* x = &src;
  for (size_t i = 0; i < layers.size(); ++i) x = &layers[i]->forward(*x, call, training, seed * 1009 + i);
  return norm.forward(*x);
}

template <typename T>
const Tensor<T>& TransformerEncoder<T>::backward(const Tensor<T>& dmemory) {
  const Tensor<T>* d = &norm.backward(dmemory);
  for (size_t i = layers.size(); i-- > 0;) d = &layers[i]->backward(*d);
  return *d;
}

template <typename T>
void TransformerEncoder<T>::collect_parameters(const std::string& prefix, NamedParameters<T>& out) {
  for (size_t i = 0; i < layers.size(); ++i)
    layers[i]->collect_parameters(prefix + "layers." + std::to_string(i) + ".", out);
  norm.collect_parameters(prefix + "norm.", out);
}

template <typename T>
TransformerDecoder<T>::TransformerDecoder(const TransformerOptions& o, Rng& rng) : norm(o.d_model, o.layer_norm_eps) {
  for (int64_t i = 0; i < o.num_decoder_layers; ++i)
    layers.push_back(std::make_unique<TransformerDecoderLayer<T>>(o, rng));
}

template <typename T>
const Tensor<T>& TransformerDecoder<T>::forward(const Tensor<T>& tgt, const Tensor<T>& memory,
                                                const MhaCall& self_call, const MhaCall& cross_call, bool training,
                                                uint64_t seed) {
  const Tensor<T>* x = &tgt;
  for (size_t i = 0; i < layers.size(); ++i)
    x = &layers[i]->forward(*x, memory, self_call, cross_call, training, seed * 1013 + i);
  ensure_shape(dmemory_, memory.shape());
  return norm.forward(*x);
}

template <typename T>
const Tensor<T>& TransformerDecoder<T>::backward(const Tensor<T>& dout) {
  const Tensor<T>* d = &norm.backward(dout);
  dmemory_.fill(T(0));
  for (size_t i = layers.size(); i-- > 0;) {
    d = &layers[i]->backward(*d);
    add_into(dmemory_, dmemory_, layers[i]->dmemory());
  }
  return *d;
}

template <typename T>
void TransformerDecoder<T>::collect_parameters(const std::string& prefix, NamedParameters<T>& out) {
  for (size_t i = 0; i < layers.size(); ++i)
    layers[i]->collect_parameters(prefix + "layers." + std::to_string(i) + ".", out);
  norm.collect_parameters(prefix + "norm.", out);
}

template <typename T>
Transformer<T>::Transformer(const TransformerOptions& o, Rng& rng) : options_(o) {
  o.validate();
  encoder = TransformerEncoder<T>(o, rng);
  decoder = TransformerDecoder<T>(o, rng);
}

template <typename T>
const Tensor<T>& Transformer<T>::forward(const Tensor<T>& src, const Tensor<T>& tgt, const TransformerCall& call,
                                         bool training, uint64_t seed) {
  const bool bf = options_.batch_first;
  check_input("src", src, options_.d_model, bf);
  check_input("tgt", tgt, options_.d_model, bf);
  src_ = bf ? src.contiguous() : swap_batch(src);
  tgt_ = bf ? tgt.contiguous() : swap_batch(tgt);
  QKV_CHECK(src_.dim(0) == tgt_.dim(0), "Transformer.forward: arguments 'src' and 'tgt' have batch sizes ",
            src_.dim(0), " and ", tgt_.dim(0), "; expected the same");
  const Tensor<T>& memory = encoder.forward(src_, call.src, training, seed * 2);
  const Tensor<T>& out = decoder.forward(tgt_, memory, call.tgt, call.memory, training, seed * 2 + 1);
  if (bf) return out;
  out_ = swap_batch(out);
  return out_;
}

template <typename T>
TransformerGrads<T> Transformer<T>::backward(const Tensor<T>& dout) {
  QKV_CHECK(tgt_.defined(), "Transformer.backward: called before forward");
  const bool bf = options_.batch_first;
  const Shape want = bf ? tgt_.shape() : Shape{tgt_.dim(1), tgt_.dim(0), tgt_.dim(2)};
  QKV_CHECK(dout.shape() == want, "Transformer.backward: argument 'dout' has shape ", shape_str(dout.shape()),
            "; expected ", shape_str(want));
  const Tensor<T> d = bf ? dout.contiguous() : swap_batch(dout);
  TransformerGrads<T> g;
  const Tensor<T>& dtgt = decoder.backward(d);
  g.dtgt = bf ? dtgt : swap_batch(dtgt);
  const Tensor<T>& dsrc = encoder.backward(decoder.dmemory());
  g.dsrc = bf ? dsrc : swap_batch(dsrc);
  return g;
}

template <typename T>
void Transformer<T>::collect_parameters(const std::string& prefix, NamedParameters<T>& out) {
  encoder.collect_parameters(prefix + "encoder.", out);
  decoder.collect_parameters(prefix + "decoder.", out);
}

template class TransformerEncoder<float>;
template class TransformerEncoder<double>;
template class TransformerDecoder<float>;
template class TransformerDecoder<double>;
template class Transformer<float>;
template class Transformer<double>;

}  // namespace qkv::nn
