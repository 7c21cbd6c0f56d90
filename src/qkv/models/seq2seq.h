// Encoder–decoder with Bahdanau (additive) attention over characters.
//
// Glossary: B batch, Ls source length, Lt target length, V vocabulary, E embedding width,
// H hidden width of both GRUs, A width of the additive attention's hidden layer.
//
//   encoder:  x = embedding(src) (B, Ls, E);  enc = GRU(x) (B, Ls, H)
//   decoder:  s_0 = enc[b, src_len_b − 1] (the last valid encoder state of each row)
//             for t = 0 .. Lt−1:
//               c_t = additive_attention(query s_t, keys = values = enc, valid_lens = src_lens)
//                     (B, H), one query per step (Lq = 1); padding keys get weight 0
//               s_{t+1} = GRUCell([embedding(y_{t−1}); c_t], s_t)   (input width E + H)
//               logits_t = dense([s_{t+1}; c_t])                     (B, V)
// Teacher forcing in training (y_{t−1} = tgt_in[:, t]); greedy decoding at inference
// (y_{t−1} = argmax of the previous step, y_{−1} = <bos>).
//
// Parameter names (PyTorch style): encoder.embedding.weight, encoder.rnn.{weight,bias}_{ih,hh}_l0,
// decoder.embedding.weight, decoder.attention.*, decoder.rnn.*, decoder.dense.{weight,bias}.
//
// forward() saves, for backward(): the encoder's and embeddings' own saved tensors, the
// decoder states S (B, Lt+1, H), the decoder inputs X = [emb; c] (B, Lt, E+H), the GRU gates
// (B, Lt, 4H), the dense input (B, Lt, 2H) and each step's attention state.
#pragma once

#include <memory>
#include <vector>

#include "qkv/core/rng.h"
#include "qkv/nn/embedding.h"
#include "qkv/nn/gru.h"
#include "qkv/nn/linear.h"

namespace qkv::io {
class SafeTensors;
}

namespace qkv::models {

struct Seq2SeqConfig {
  int64_t vocab = 0;       // V
  int64_t embed = 32;      // E
  int64_t hidden = 64;     // H
  int64_t attention = 64;  // A

  // Throws qkv::Error naming the field: vocab 4..65536, embed, hidden, attention 1..4096 and at
  // most 2^25 parameters in all.
  void validate() const;
  // (name, shape) of every parameter, from the config alone (loaders check files against it
  // before building the model). Call after validate().
  std::vector<std::pair<std::string, Shape>> parameter_shapes() const;
};

// What a loader checks before it builds the model from a saved file: the metadata (format
// "qkv.seq2seq.dates", vocab equal to expected_vocab, embed, hidden, attention positive integers
// within validate()'s bounds) and every tensor (present, F32, its shape, finite; no others).
// Throws qkv::FileError naming the file and the key or tensor.
Seq2SeqConfig checked_seq2seq_config(const io::SafeTensors& file, int64_t expected_vocab);

template <typename T>
struct GreedyResult {
  TensorI tokens;     // (B, steps): the argmax at every step (everything after <eos> is <pad>)
  Tensor<T> weights;  // (B, steps, Ls): each step's attention weights over the source
};

template <typename T>
class Seq2Seq : public nn::Module<T> {
 public:
  Seq2Seq(const Seq2SeqConfig& config, Rng& rng);
  ~Seq2Seq() override;

  // src (B, Ls) ids, src_lens (B,) in [1, Ls], tgt_in (B, Lt) ids. Returns logits (B, Lt, V).
  const Tensor<T>& forward(const TensorI& src, const TensorI& src_lens, const TensorI& tgt_in);
  // dlogits (B, Lt, V): accumulates the gradient of every parameter.
  void backward(const Tensor<T>& dlogits);
  // Teacher-forced attention weights of the last forward (B, Lt, Ls).
  const Tensor<T>& attention_weights() const { return weights_; }

  // Greedy decoding for `steps` steps starting from `bos`; rows that emitted `eos` keep <pad> (0).
  GreedyResult<T> greedy(const TensorI& src, const TensorI& src_lens, int64_t steps, int64_t bos, int64_t eos);

  void collect_parameters(const std::string& prefix, nn::NamedParameters<T>& out) override;
  const Seq2SeqConfig& config() const { return config_; }

 private:
  struct State;
  Seq2SeqConfig config_;
  std::unique_ptr<State> st_;
  Tensor<T> logits_;
  Tensor<T> weights_;
};

// The model saved by train::save_seq2seq: <dir>/model.safetensors, checked as above (the
// vocabulary must have expected_vocab entries). Throws qkv::FileError naming the path when the
// directory, config or weights are missing or corrupt.
std::unique_ptr<Seq2Seq<float>> load_seq2seq(const std::string& dir, int64_t expected_vocab);

}  // namespace qkv::models
