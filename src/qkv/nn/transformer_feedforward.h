// The feed-forward half of a Transformer layer (PyTorch's TransformerEncoderLayer._ff_block):
//   y = dropout_out(linear2(dropout(activation(linear1(x)))))
//
//   x: (..., E)   linear1 "linear1.weight" (F, E), "linear1.bias" (F,)
//                 linear2 "linear2.weight" (E, F), "linear2.bias" (E,)   y: (..., E)
// The names are the layer's own (torch keeps linear1/linear2 directly in the layer), so
// collect_parameters(prefix) appends prefix + "linear1.weight" etc.
// forward() keeps what the linears, the activation and the dropouts save (views of their inputs);
// backward(dy) accumulates the four parameter gradients and returns dx.
#pragma once

#include "qkv/nn/dropout.h"
#include "qkv/nn/gelu.h"
#include "qkv/nn/linear.h"
#include "qkv/nn/relu.h"
#include "qkv/nn/transformer_options.h"

namespace qkv::nn {

template <typename T>
class TransformerFeedForward : public Module<T> {
 public:
  TransformerFeedForward() = default;
  TransformerFeedForward(const TransformerOptions& o, Rng& rng);

  // seed: this call's dropout seed (ignored when not training or dropout is 0).
  const Tensor<T>& forward(const Tensor<T>& x, bool training, uint64_t seed);
  const Tensor<T>& backward(const Tensor<T>& dy);
  void collect_parameters(const std::string& prefix, NamedParameters<T>& out) override;

  Linear<T> linear1, linear2;

 private:
  Activation activation_ = Activation::relu;
  Relu<T> relu_;
  Gelu<T> gelu_;
  Dropout<T> dropout_{0.0}, dropout_out_{0.0};
};

}  // namespace qkv::nn
