// Attention scoring functions and the generic "score → masked softmax → weighted sum" path.
//
// Dimension glossary: B batch, Lq queries, Lk keys, d query/key width (q_size, k_size when they
// differ, as in additive attention), h hidden width of additive attention, dv value width.
//   q (B, Lq, d or q_size)   k (B, Lk, d or k_size)   v (B, Lk, dv)
//   scores, weights (B, Lq, Lk)   out (B, Lq, dv)
//
// Score functions (forward and backward side by side, every sum accumulated in double; the float
// additive score uses a rational tanh accurate to < 4e-7, double uses std::tanh):
//   dot product          s_ij = scale · q_i·k_j            (scale 1: plain; 1/√d: scaled)
//   additive (Bahdanau)  s_ij = w_v · tanh(W_q q_i + W_k k_j)   q_size ≠ k_size and Lq ≠ Lk allowed
//   Gaussian kernel      s_ij = −((q_i − k_j)·w)²/2 = −w²‖q_i − k_j‖²/2   (Nadaraya–Watson; d = 1)
// Generic path: weights = masked_softmax(scores, mask); out = weights · v.
//   attend(scorer, q, k, v, mask) → {out, weights}; it keeps v and the weights for
//   attend_backward(scorer, fwd, dout) → {dq, dk, dv}, which also accumulates the scorer's
//   parameter gradients (Parameter::grad, +=).
// A Scorer saves what its backward needs in its last forward (q, k views; additive: the tanh
// features (B, Lq, Lk, h)), so call backward before the next forward on the same scorer.
// Templates on T, instantiated for float and double.
#pragma once

#include <optional>

#include "qkv/ops/mask/mask.h"
#include "qkv/nn/parameter.h"

namespace qkv {

template <typename T>
struct ScoreGrads {
  Tensor<T> dq, dk;
};

// ---- dot product: q (B, Lq, d), k (B, Lk, d) ----
template <typename T>
Tensor<T> dot_product_scores(const Tensor<T>& q, const Tensor<T>& k, double scale = 1.0);
template <typename T>
ScoreGrads<T> dot_product_scores_backward(const Tensor<T>& dscores, const Tensor<T>& q, const Tensor<T>& k,
                                          double scale = 1.0);

// ---- additive, on already projected queries qp = q W_qᵀ (B, Lq, h) and keys kp = k W_kᵀ (B, Lk, h) ----
// w_v: (1, h) (nn.Linear(h, 1, bias=False).weight). Saves features = tanh(qp_i + kp_j) (B, Lq, Lk, h).
template <typename T>
struct AdditiveScores {
  Tensor<T> scores;    // (B, Lq, Lk)
  Tensor<T> features;  // (B, Lq, Lk, h)
};
template <typename T>
struct AdditiveScoreGrads {
  Tensor<T> dq, dk;  // of the projected qp (B, Lq, h) and kp (B, Lk, h)
  Tensor<T> dw_v;      // (1, h)
};
template <typename T>
AdditiveScores<T> additive_scores(const Tensor<T>& qp, const Tensor<T>& kp, const Tensor<T>& w_v);
template <typename T>
AdditiveScoreGrads<T> additive_scores_backward(const Tensor<T>& dscores, const Tensor<T>& features,
                                               const Tensor<T>& w_v);

// ---- Gaussian kernel: q (B, Lq, d), k (B, Lk, d), scalar width w ----
template <typename T>
struct GaussianScoreGrads {
  Tensor<T> dq, dk;
  double dw = 0;
};
template <typename T>
Tensor<T> gaussian_scores(const Tensor<T>& q, const Tensor<T>& k, double w = 1.0);
template <typename T>
GaussianScoreGrads<T> gaussian_scores_backward(const Tensor<T>& dscores, const Tensor<T>& q, const Tensor<T>& k,
                                               double w = 1.0);

// ---- weighted sum of values: weights (B, Lq, Lk), v (B, Lk, dv) → out (B, Lq, dv) ----
template <typename T>
struct WeightedSumGrads {
  Tensor<T> dweights, dv;
};
template <typename T>
Tensor<T> weighted_sum(const Tensor<T>& weights, const Tensor<T>& v);
template <typename T>
WeightedSumGrads<T> weighted_sum_backward(const Tensor<T>& dout, const Tensor<T>& weights, const Tensor<T>& v);

// ---- projection without bias (nn.Linear(in, out, bias=False)): x (B, L, in), W (out, in) ----
// project: x Wᵀ (B, L, out). project_backward: dW += dyᵀ x (accumulates), returns dx = dy W (B, L, in).
template <typename T>
Tensor<T> project(const Tensor<T>& x, const Tensor<T>& W);
template <typename T>
Tensor<T> project_backward(const Tensor<T>& dy, const Tensor<T>& x, const Tensor<T>& W, Tensor<T>& dW);

// ---- the generic path ----
template <typename T>
class Scorer {
 public:
  virtual ~Scorer() = default;
  // scores (B, Lq, Lk); saves what backward needs.
  virtual Tensor<T> forward(const Tensor<T>& q, const Tensor<T>& k) = 0;
  // dscores (B, Lq, Lk) → dq, dk of the last forward; accumulates parameter gradients.
  virtual ScoreGrads<T> backward(const Tensor<T>& dscores) = 0;
};

// Dot product with scale; std::nullopt means 1/√d (scaled dot product), 1.0 the plain dot product.
template <typename T>
class DotProductScorer : public Scorer<T> {
 public:
  explicit DotProductScorer(std::optional<double> scale = std::nullopt) : scale_(scale) {}
  Tensor<T> forward(const Tensor<T>& q, const Tensor<T>& k) override;
  ScoreGrads<T> backward(const Tensor<T>& dscores) override;

 private:
  std::optional<double> scale_;
  Tensor<T> q_, k_;
};

// Additive attention with W_q (h, q_size), W_k (h, k_size), w_v (1, h); the parameters are owned by
// the caller (e.g. AdditiveAttention) and must outlive the scorer.
template <typename T>
class AdditiveScorer : public Scorer<T> {
 public:
  AdditiveScorer(nn::Parameter<T>& W_q, nn::Parameter<T>& W_k, nn::Parameter<T>& w_v);
  Tensor<T> forward(const Tensor<T>& q, const Tensor<T>& k) override;
  ScoreGrads<T> backward(const Tensor<T>& dscores) override;

 private:
  nn::Parameter<T>& W_q_;
  nn::Parameter<T>& W_k_;
  nn::Parameter<T>& w_v_;
  Tensor<T> q_, k_, features_;
};

// Gaussian kernel with a learnable width w: a Parameter of shape (1,) owned by the caller.
template <typename T>
class GaussianScorer : public Scorer<T> {
 public:
  explicit GaussianScorer(nn::Parameter<T>& w) : w_(w) {}
  Tensor<T> forward(const Tensor<T>& q, const Tensor<T>& k) override;
  ScoreGrads<T> backward(const Tensor<T>& dscores) override;

 private:
  nn::Parameter<T>& w_;
  Tensor<T> q_, k_;
};

template <typename T>
struct Attended {
  Tensor<T> out;      // (B, Lq, dv)
  Tensor<T> weights;  // (B, Lq, Lk), saved for the backward
  Tensor<T> v;        // the values (a view), saved for the backward
};

template <typename T>
struct AttendGrads {
  Tensor<T> dq, dk, dv;
};

// mask: validated against (B, 1, Lq, Lk); its valid_lens may be (B,) or (B, Lq).
template <typename T>
Attended<T> attend(Scorer<T>& scorer, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                   const AttentionMask& mask = {});
template <typename T>
AttendGrads<T> attend_backward(Scorer<T>& scorer, const Attended<T>& fwd, const Tensor<T>& dout);

}  // namespace qkv
