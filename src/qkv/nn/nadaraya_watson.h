// Attention pooling of scalars: average pooling and Nadaraya–Watson kernel regression.
//
// Dimension glossary: n queries, m keys (training inputs x_i), optional batch B.
//   queries (n,) or (B, n)   keys (m,) or (B, m)   values (m,) or (B, m)
//   predictions (n,) or (B, n)   weights (n, m) or (B, n, m)
// Average pooling:  f(x) = (1/m) Σ_i y_i for every query.
// Nadaraya–Watson:  f(x) = Σ_i softmax_i(−((x − x_i)·w)²/2) y_i, a Gaussian kernel of width 1/w.
//   Non-parametric: w = 1. Parametric: w is learned (NadarayaWatson module, parameter "w" (1,)).
//   exclude_self (needs n == m): query i does not see key i (leave-one-out training, as d2l trains
//   the parametric model so that each point is predicted from the others).
// It is the generic scoring path of scoring.h with the Gaussian score on d = 1.
// The forward saves the weights (in NWForward); the backward recomputes nothing else:
//   dv_j = Σ_i P_ij dpred_i;  dS = P ∘ (dP − rowsum(P∘dP)) with dP_ij = dpred_i y_j;
//   dw = Σ dS_ij · (−w (x_i − x_j)²);  dq_i = Σ_j dS_ij · (−w²(x_i − x_j)); dk = −(column sums).
// Gradients are named d + the input's short name: dq (queries), dk (keys), dv (values), dw.
// Templates on T, instantiated for float and double.
#pragma once

#include "qkv/core/rng.h"
#include "qkv/nn/parameter.h"

namespace qkv {

// values (m,) or (B, m) → (num_queries,) or (B, num_queries), each the mean of the values.
template <typename T>
Tensor<T> average_pooling(const Tensor<T>& values, int64_t num_queries);
// dpred (n,) or (B, n) → dvalues (m,) or (B, m): every value gets Σ dpred / m.
template <typename T>
Tensor<T> average_pooling_backward(const Tensor<T>& dpred, int64_t num_keys);

template <typename T>
struct NWForward {
  Tensor<T> predictions;  // (n,) or (B, n)
  Tensor<T> weights;      // (n, m) or (B, n, m)
};

template <typename T>
struct NWGrads {
  Tensor<T> dq, dk, dv;  // shapes of queries, keys, values
  double dw = 0;
};

template <typename T>
NWForward<T> nadaraya_watson(const Tensor<T>& queries, const Tensor<T>& keys, const Tensor<T>& values,
                             double w = 1.0, bool exclude_self = false);

// Same queries, keys, values, w and exclude_self as the forward that returned `fwd`.
template <typename T>
NWGrads<T> nadaraya_watson_backward(const Tensor<T>& dpred, const Tensor<T>& queries, const Tensor<T>& keys,
                                    const Tensor<T>& values, const NWForward<T>& fwd, double w = 1.0,
                                    bool exclude_self = false);

// Parametric Nadaraya–Watson (d2l's NWKernelRegression): one learnable width "w" of shape (1,).
// forward() saves its inputs (views) and the weights; backward(dpred) adds dw to w.grad and returns
// the input gradients.
template <typename T>
class NadarayaWatson : public nn::Module<T> {
 public:
  explicit NadarayaWatson(double w_init = 1.0);
  explicit NadarayaWatson(Rng& rng);  // w ~ U[0, 1), as torch.rand((1,))

  const NWForward<T>& forward(const Tensor<T>& queries, const Tensor<T>& keys, const Tensor<T>& values,
                              bool exclude_self = false);
  NWGrads<T> backward(const Tensor<T>& dpred);

  void collect_parameters(const std::string& prefix, nn::NamedParameters<T>& out) override;
  double width() const { return static_cast<double>(w.value[0]); }

  nn::Parameter<T> w;  // "w" (1,)

 private:
  Tensor<T> queries_, keys_, values_;
  bool exclude_self_ = false;
  NWForward<T> fwd_;
};

}  // namespace qkv
