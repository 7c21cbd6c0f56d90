// Additive (Bahdanau) attention, d2l's AdditiveAttention as a module with forward and backward.
//
// Dimension glossary: B batch, Lq queries, Lk keys, q_size / k_size query / key widths (may
// differ), h hidden width (num_hiddens), dv value width.
//   queries (B, Lq, q_size)   keys (B, Lk, k_size)   values (B, Lk, dv)
//   valid_lens: undefined, int64 (B,) or (B, Lq)      out (B, Lq, dv)   weights (B, Lq, Lk)
//   score_ij = w_v · tanh(W_q q_i + W_k k_j)   weights = masked_softmax(scores)   out = weights · values
// Parameters (d2l's nn.Linear(..., bias=False) layers, PyTorch names and layouts):
//   "W_q.weight" (h, q_size)   "W_k.weight" (h, k_size)   "w_v.weight" (1, h)
// Rows with no valid key (length 0) give zero weights, zero output and zero gradients.
// Dropout on the weights (d2l's AdditiveAttention(dropout)), training only: with dropout_p > 0,
// weight (b, i, j) is zeroed when counter_uniform(dropout_seed, (b·Lq + i)·Lk + j) < p and the rest
// are scaled by 1/(1−p); `weights` stay the pre-dropout ones (for heatmaps). Step by step, pass a
// different seed per step. Pass 0 (the default) in evaluation.
//
// Two ways to call it:
// 1. All queries at once:
//      const auto& fwd = attn.forward(queries, keys, values, valid_lens);   // fwd.out(), fwd.weights()
//      auto g = attn.backward(dout);    // g.dq, g.dk, g.dv (queries, keys, values); parameter grads +=
//    forward() saves what backward needs inside the module (as every module does), so call
//    backward before the next forward.
// 2. One decoder step at a time (Bahdanau decoding, Lq = 1 per step): the keys are projected once
//    per sequence, not once per step, and each step keeps only its small context.
//      AdditiveMemory<T> mem = attn.prepare(enc_outputs, enc_outputs, valid_lens);  // keys, values
//      for t: AdditiveStep<T> s_t = attn.step(mem, query_t);   // query_t (B, 1, q_size) → s_t.out (B, 1, dv)
//      ... later, in reverse order (any order works; the gradients only accumulate):
//      for t: Tensor<T> dquery_t = attn.step_backward(mem, s_t, dout_t);   // (B, 1, q_size)
//      AdditiveGrads<T> g = attn.memory_backward(mem);   // g.dk, g.dv for the whole sequence
//    step_backward accumulates into mem (its key-projection and value gradients) and into the
//    W_q / w_v gradients; memory_backward turns the key-projection gradient into dk and the
//    W_k gradient, and resets mem's accumulators. When keys and values are the same tensor (as
//    in d2l's decoder), its gradient is dk + dv.
// What is saved: AdditiveMemory keeps keys, values (views), valid_lens and keys W_kᵀ (B, Lk, h);
// AdditiveStep keeps the query (a view), the tanh features (B, Lq, Lk, h) and the weights.
// Per step the cost is O(B·(q_size·h + Lk·h + Lk·dv)).
#pragma once

#include "qkv/core/rng.h"
#include "qkv/nn/parameter.h"

namespace qkv {

template <typename T>
struct AdditiveMemory {
  Tensor<T> keys;         // (B, Lk, k_size)
  Tensor<T> values;       // (B, Lk, dv)
  TensorI valid_lens;     // undefined, (B,) or (B, Lq)
  Tensor<T> keys_proj;    // (B, Lk, h) = keys W_kᵀ
  Tensor<T> dkeys_proj;   // (B, Lk, h) gradient accumulated by step_backward
  Tensor<T> dvalues;      // (B, Lk, dv) gradient accumulated by step_backward
};

template <typename T>
struct AdditiveStep {
  Tensor<T> query;     // (B, Lq, q_size)
  Tensor<T> features;  // (B, Lq, Lk, h) tanh(W_q q_i + W_k k_j)
  Tensor<T> weights;   // (B, Lq, Lk) before dropout
  Tensor<T> dropped;   // (B, Lq, Lk) after dropout; undefined without dropout
  Tensor<T> out;       // (B, Lq, dv)
  double dropout_p = 0.0;
  uint64_t dropout_seed = 0;
};

template <typename T>
struct AdditiveForward {
  AdditiveMemory<T> memory;
  AdditiveStep<T> step;
  const Tensor<T>& out() const { return step.out; }
  const Tensor<T>& weights() const { return step.weights; }
};

template <typename T>
struct AdditiveGrads {
  Tensor<T> dq;  // queries (B, Lq, q_size); undefined from memory_backward
  Tensor<T> dk;  // keys (B, Lk, k_size)
  Tensor<T> dv;  // values (B, Lk, dv)
};

template <typename T>
class AdditiveAttention : public nn::Module<T> {
 public:
  AdditiveAttention() = default;
  // d2l's argument order. Initialised like nn.Linear: U(−1/√in, 1/√in).
  AdditiveAttention(int64_t key_size, int64_t query_size, int64_t num_hiddens, Rng& rng);

  const AdditiveForward<T>& forward(const Tensor<T>& queries, const Tensor<T>& keys, const Tensor<T>& values,
                                    const TensorI& valid_lens = {}, double dropout_p = 0.0,
                                    uint64_t dropout_seed = 0);
  // The gradients of the last forward's inputs for the upstream dout (B, Lq, dv).
  AdditiveGrads<T> backward(const Tensor<T>& dout);

  AdditiveMemory<T> prepare(const Tensor<T>& keys, const Tensor<T>& values, const TensorI& valid_lens = {});
  AdditiveStep<T> step(const AdditiveMemory<T>& memory, const Tensor<T>& query, double dropout_p = 0.0,
                       uint64_t dropout_seed = 0);
  Tensor<T> step_backward(AdditiveMemory<T>& memory, const AdditiveStep<T>& step, const Tensor<T>& dout);
  AdditiveGrads<T> memory_backward(AdditiveMemory<T>& memory);

  void collect_parameters(const std::string& prefix, nn::NamedParameters<T>& out) override;

  int64_t query_size() const { return W_q.value.dim(1); }
  int64_t key_size() const { return W_k.value.dim(1); }
  int64_t num_hiddens() const { return W_q.value.dim(0); }

  nn::Parameter<T> W_q;  // "W_q.weight" (h, q_size)
  nn::Parameter<T> W_k;  // "W_k.weight" (h, k_size)
  nn::Parameter<T> w_v;  // "w_v.weight" (1, h)

 private:
  AdditiveForward<T> fwd_;  // the last forward, for backward
};

}  // namespace qkv
