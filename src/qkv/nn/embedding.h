// Embedding table: row lookup, PyTorch's nn.Embedding layout.
//
//   ids: int64 (B, L)   weight "weight": (V, E)   y: (B, L, E)
// forward() saves the ids (a copy) for backward(); backward(dy) scatter-adds dy into
// weight.grad (rows used several times accumulate every contribution). Ids outside [0, V)
// throw qkv::Error naming the position and the value.
#pragma once

#include "qkv/core/rng.h"
#include "qkv/nn/parameter.h"

namespace qkv::nn {

template <typename T>
class Embedding : public Module<T> {
 public:
  Embedding() = default;
  // Initialised like PyTorch: N(0, 1).
  Embedding(int64_t num_embeddings, int64_t embedding_dim, Rng& rng);

  const Tensor<T>& forward(const TensorI& ids);
  void backward(const Tensor<T>& dy);

  void collect_parameters(const std::string& prefix, NamedParameters<T>& out) override;

  int64_t num_embeddings() const { return weight.value.dim(0); }
  int64_t embedding_dim() const { return weight.value.dim(1); }

  Parameter<T> weight;

 private:
  TensorI ids_;  // saved (contiguous copy)
  Tensor<T> y_;
};

// y[i] = w[ids[i]] for n ids (rows of E); throws on ids out of [0, V).
template <typename T>
void embedding_forward(const int64_t* ids, int64_t n, const T* w, int64_t V, int64_t E, T* y);
// dw[ids[i]] += dy[i]
template <typename T>
void embedding_backward(const int64_t* ids, int64_t n, const T* dy, int64_t E, T* dw);

}  // namespace qkv::nn
