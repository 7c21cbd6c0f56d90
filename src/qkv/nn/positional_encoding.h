// Positional encodings added to token embeddings X (B, L, E).
//
// Dimension glossary: B batch, L sequence length, E embedding width, max_len table rows.
// Sinusoidal (the Transformer's fixed table, d2l's PositionalEncoding without its dropout):
//   P[pos, 2i]   = sin(pos / 10000^(2i/E))
//   P[pos, 2i+1] = cos(pos / 10000^(2i/E))      (odd E: the last column is a sine)
//   forward: Y = X + P[start : start + L];  backward: dX = dY (P is not learned).
// Learned (ViT's position embedding): a Parameter "weight" (max_len, E) initialised N(0, std²);
//   forward: Y = X + weight[start : start + L]; saves nothing but L and start;
//   backward: dX = dY, weight.grad[start + l] += Σ_b dY[b, l].
// `start` lets a decoder add the encoding of position t one step at a time (L = 1, start = t).
// Templates on T, instantiated for float and double.
#pragma once

#include "qkv/core/rng.h"
#include "qkv/nn/parameter.h"

namespace qkv {

// The (max_len, E) sinusoidal table.
template <typename T>
Tensor<T> sinusoidal_table(int64_t max_len, int64_t E);

template <typename T>
class SinusoidalPositionalEncoding {
 public:
  SinusoidalPositionalEncoding() = default;
  explicit SinusoidalPositionalEncoding(int64_t E, int64_t max_len = 1000);

  Tensor<T> forward(const Tensor<T>& x, int64_t start = 0) const;
  Tensor<T> backward(const Tensor<T>& dy) const { return dy; }
  const Tensor<T>& table() const { return table_; }

 private:
  Tensor<T> table_;  // (max_len, E)
};

template <typename T>
class LearnedPositionalEncoding : public nn::Module<T> {
 public:
  LearnedPositionalEncoding() = default;
  LearnedPositionalEncoding(int64_t max_len, int64_t E, Rng& rng, double stddev = 0.02);

  Tensor<T> forward(const Tensor<T>& x, int64_t start = 0);
  Tensor<T> backward(const Tensor<T>& dy);  // accumulates weight.grad; returns dx = dy

  void collect_parameters(const std::string& prefix, nn::NamedParameters<T>& out) override;

  nn::Parameter<T> weight;  // "weight" (max_len, E); no weight decay

 private:
  int64_t start_ = -1, length_ = 0;
};

}  // namespace qkv
