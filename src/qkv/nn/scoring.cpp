#include "qkv/nn/scoring.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "qkv/ops/masked_softmax/masked_softmax.h"
#include "qkv/ops/sdpa/sdpa.h"
#include "qkv/kernels/gemm.h"

namespace qkv {

namespace {

// q (B, Lq, d) and k (B, Lk, d) with the same B and d.
template <typename T>
void check_qk(const char* where, const Tensor<T>& q, const Tensor<T>& k) {
  check_rank(where, "q", q, 3);
  check_rank(where, "k", k, 3);
  check_shape(where, "k", k, {q.dim(0), -1, q.dim(2)});
}

// tanh of the additive score. double: std::tanh (what the gradient checks use). float: the
// rational minimax approximation Eigen uses for float (odd degree-13 over even degree-6
// polynomial on [−7.9, 7.9], ±1 beyond); |error| < 4e-7 over the whole line, a few float ulps,
// about 5× faster than libm, which otherwise dominates a Bahdanau decoder step.
inline double tanh_of(double x) { return std::tanh(x); }
inline float tanh_of(float x) {
  const float c = 7.90531110763549805f;
  x = std::min(std::max(x, -c), c);
  const float x2 = x * x;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return x * p / q;
}

}  // namespace

// ---------------------------------------------------------------- dot product
template <typename T>
Tensor<T> dot_product_scores(const Tensor<T>& q_in, const Tensor<T>& k_in, double scale) {
  check_qk("dot_product_scores", q_in, k_in);
  const Tensor<T> q = q_in.contiguous(), k = k_in.contiguous();
  const int64_t B = q.dim(0), Lq = q.dim(1), Lk = k.dim(1), d = q.dim(2);
  Tensor<T> s({B, Lq, Lk});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Lq; ++i) {
      const T* qi = q.data() + (b * Lq + i) * d;
      for (int64_t j = 0; j < Lk; ++j) {
        const T* kj = k.data() + (b * Lk + j) * d;
        double acc = 0;
        for (int64_t c = 0; c < d; ++c) acc += static_cast<double>(qi[c]) * static_cast<double>(kj[c]);
        s.data()[(b * Lq + i) * Lk + j] = static_cast<T>(scale * acc);
      }
    }
  return s;
}

template <typename T>
ScoreGrads<T> dot_product_scores_backward(const Tensor<T>& ds_in, const Tensor<T>& q_in, const Tensor<T>& k_in,
                                          double scale) {
  constexpr const char* where = "dot_product_scores_backward";
  check_qk(where, q_in, k_in);
  check_shape(where, "dscores", ds_in, {q_in.dim(0), q_in.dim(1), k_in.dim(1)});
  const Tensor<T> q = q_in.contiguous(), k = k_in.contiguous(), ds = ds_in.contiguous();
  const int64_t B = q.dim(0), Lq = q.dim(1), Lk = k.dim(1), d = q.dim(2);
  ScoreGrads<T> g{Tensor<T>(q.shape()), Tensor<T>(k.shape())};
  std::vector<double> dq(static_cast<size_t>(d)), dk(static_cast<size_t>(Lk * d));
  for (int64_t b = 0; b < B; ++b) {
    std::fill(dk.begin(), dk.end(), 0.0);
    for (int64_t i = 0; i < Lq; ++i) {
      std::fill(dq.begin(), dq.end(), 0.0);
      const T* qi = q.data() + (b * Lq + i) * d;
      for (int64_t j = 0; j < Lk; ++j) {
        const double gs = scale * static_cast<double>(ds.data()[(b * Lq + i) * Lk + j]);
        const T* kj = k.data() + (b * Lk + j) * d;
        for (int64_t c = 0; c < d; ++c) {
          dq[c] += gs * static_cast<double>(kj[c]);
          dk[j * d + c] += gs * static_cast<double>(qi[c]);
        }
      }
      for (int64_t c = 0; c < d; ++c) g.dq.data()[(b * Lq + i) * d + c] = static_cast<T>(dq[c]);
    }
    for (int64_t x = 0; x < Lk * d; ++x) g.dk.data()[b * Lk * d + x] = static_cast<T>(dk[x]);
  }
  return g;
}

// ---------------------------------------------------------------- additive
template <typename T>
AdditiveScores<T> additive_scores(const Tensor<T>& qp_in, const Tensor<T>& kp_in, const Tensor<T>& w_v_in) {
  constexpr const char* where = "additive_scores";
  check_qk(where, qp_in, kp_in);
  const int64_t B = qp_in.dim(0), Lq = qp_in.dim(1), Lk = kp_in.dim(1), h = qp_in.dim(2);
  check_shape(where, "w_v", w_v_in, {1, h});
  const Tensor<T> qp = qp_in.contiguous(), kp = kp_in.contiguous(), w_v = w_v_in.contiguous();
  AdditiveScores<T> r{Tensor<T>({B, Lq, Lk}), Tensor<T>({B, Lq, Lk, h})};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Lq; ++i) {
      const T* qi = qp.data() + (b * Lq + i) * h;
      for (int64_t j = 0; j < Lk; ++j) {
        const T* kj = kp.data() + (b * Lk + j) * h;
        T* f = r.features.data() + ((b * Lq + i) * Lk + j) * h;
        for (int64_t c = 0; c < h; ++c) f[c] = tanh_of(qi[c] + kj[c]);
        double acc = 0;
        for (int64_t c = 0; c < h; ++c) acc += static_cast<double>(w_v.data()[c]) * static_cast<double>(f[c]);
        r.scores.data()[(b * Lq + i) * Lk + j] = static_cast<T>(acc);
      }
    }
  return r;
}

template <typename T>
AdditiveScoreGrads<T> additive_scores_backward(const Tensor<T>& ds_in, const Tensor<T>& features_in,
                                               const Tensor<T>& w_v_in) {
  constexpr const char* where = "additive_scores_backward";
  check_rank(where, "features", features_in, 4);
  const int64_t B = features_in.dim(0), Lq = features_in.dim(1), Lk = features_in.dim(2), h = features_in.dim(3);
  check_shape(where, "dscores", ds_in, {B, Lq, Lk});
  check_shape(where, "w_v", w_v_in, {1, h});
  const Tensor<T> ds = ds_in.contiguous(), f = features_in.contiguous(), w_v = w_v_in.contiguous();
  AdditiveScoreGrads<T> g{Tensor<T>({B, Lq, h}), Tensor<T>({B, Lk, h}), Tensor<T>({1, h})};
  std::vector<double> dw(static_cast<size_t>(h), 0.0), dq(static_cast<size_t>(h)), dk(static_cast<size_t>(Lk * h));
  for (int64_t b = 0; b < B; ++b) {
    std::fill(dk.begin(), dk.end(), 0.0);
    for (int64_t i = 0; i < Lq; ++i) {
      std::fill(dq.begin(), dq.end(), 0.0);
      for (int64_t j = 0; j < Lk; ++j) {
        const double gs = static_cast<double>(ds.data()[(b * Lq + i) * Lk + j]);
        if (gs == 0.0) continue;
        const T* fj = f.data() + ((b * Lq + i) * Lk + j) * h;
        for (int64_t c = 0; c < h; ++c) {
          const double t = static_cast<double>(fj[c]);
          dw[c] += gs * t;
          const double dpre = gs * static_cast<double>(w_v.data()[c]) * (1.0 - t * t);  // through tanh
          dq[c] += dpre;
          dk[j * h + c] += dpre;
        }
      }
      for (int64_t c = 0; c < h; ++c) g.dq.data()[(b * Lq + i) * h + c] = static_cast<T>(dq[c]);
    }
    for (int64_t x = 0; x < Lk * h; ++x) g.dk.data()[b * Lk * h + x] = static_cast<T>(dk[x]);
  }
  for (int64_t c = 0; c < h; ++c) g.dw_v.data()[c] = static_cast<T>(dw[c]);
  return g;
}

// ---------------------------------------------------------------- Gaussian kernel
template <typename T>
Tensor<T> gaussian_scores(const Tensor<T>& q_in, const Tensor<T>& k_in, double w) {
  check_qk("gaussian_scores", q_in, k_in);
  QKV_CHECK(std::isfinite(w), "gaussian_scores: argument 'w' is ", w, "; expected a finite width");
  const Tensor<T> q = q_in.contiguous(), k = k_in.contiguous();
  const int64_t B = q.dim(0), Lq = q.dim(1), Lk = k.dim(1), d = q.dim(2);
  Tensor<T> s({B, Lq, Lk});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Lq; ++i)
      for (int64_t j = 0; j < Lk; ++j) {
        double dist2 = 0;
        for (int64_t c = 0; c < d; ++c) {
          const double diff = static_cast<double>(q.data()[(b * Lq + i) * d + c]) -
                              static_cast<double>(k.data()[(b * Lk + j) * d + c]);
          dist2 += diff * diff;
        }
        s.data()[(b * Lq + i) * Lk + j] = static_cast<T>(-0.5 * w * w * dist2);
      }
  return s;
}

template <typename T>
GaussianScoreGrads<T> gaussian_scores_backward(const Tensor<T>& ds_in, const Tensor<T>& q_in, const Tensor<T>& k_in,
                                               double w) {
  constexpr const char* where = "gaussian_scores_backward";
  check_qk(where, q_in, k_in);
  check_shape(where, "dscores", ds_in, {q_in.dim(0), q_in.dim(1), k_in.dim(1)});
  const Tensor<T> q = q_in.contiguous(), k = k_in.contiguous(), ds = ds_in.contiguous();
  const int64_t B = q.dim(0), Lq = q.dim(1), Lk = k.dim(1), d = q.dim(2);
  GaussianScoreGrads<T> g{Tensor<T>(q.shape()), Tensor<T>(k.shape()), 0.0};
  std::vector<double> dq(static_cast<size_t>(d)), dk(static_cast<size_t>(Lk * d));
  const double w2 = w * w;
  for (int64_t b = 0; b < B; ++b) {
    std::fill(dk.begin(), dk.end(), 0.0);
    for (int64_t i = 0; i < Lq; ++i) {
      std::fill(dq.begin(), dq.end(), 0.0);
      for (int64_t j = 0; j < Lk; ++j) {
        const double gs = static_cast<double>(ds.data()[(b * Lq + i) * Lk + j]);
        double dist2 = 0;
        for (int64_t c = 0; c < d; ++c) {
          const double diff = static_cast<double>(q.data()[(b * Lq + i) * d + c]) -
                              static_cast<double>(k.data()[(b * Lk + j) * d + c]);
          dist2 += diff * diff;
          dq[c] -= gs * w2 * diff;  // ∂s/∂q = −w²(q − k)
          dk[j * d + c] += gs * w2 * diff;
        }
        g.dw -= gs * w * dist2;  // ∂s/∂w = −w‖q − k‖²
      }
      for (int64_t c = 0; c < d; ++c) g.dq.data()[(b * Lq + i) * d + c] = static_cast<T>(dq[c]);
    }
    for (int64_t x = 0; x < Lk * d; ++x) g.dk.data()[b * Lk * d + x] = static_cast<T>(dk[x]);
  }
  return g;
}

// ---------------------------------------------------------------- weighted sum
template <typename T>
Tensor<T> weighted_sum(const Tensor<T>& p_in, const Tensor<T>& v_in) {
  constexpr const char* where = "weighted_sum";
  check_rank(where, "weights", p_in, 3);
  check_rank(where, "v", v_in, 3);
  check_shape(where, "v", v_in, {p_in.dim(0), p_in.dim(2), -1});
  const Tensor<T> p = p_in.contiguous(), v = v_in.contiguous();
  const int64_t B = p.dim(0), Lq = p.dim(1), Lk = p.dim(2), dv = v.dim(2);
  Tensor<T> out({B, Lq, dv});
  std::vector<double> acc(static_cast<size_t>(dv));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Lq; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j < Lk; ++j) {
        const double pij = static_cast<double>(p.data()[(b * Lq + i) * Lk + j]);
        if (pij == 0.0) continue;
        const T* vj = v.data() + (b * Lk + j) * dv;
        for (int64_t c = 0; c < dv; ++c) acc[c] += pij * static_cast<double>(vj[c]);
      }
      for (int64_t c = 0; c < dv; ++c) out.data()[(b * Lq + i) * dv + c] = static_cast<T>(acc[c]);
    }
  return out;
}

template <typename T>
WeightedSumGrads<T> weighted_sum_backward(const Tensor<T>& dout_in, const Tensor<T>& p_in, const Tensor<T>& v_in) {
  constexpr const char* where = "weighted_sum_backward";
  check_rank(where, "weights", p_in, 3);
  check_shape(where, "v", v_in, {p_in.dim(0), p_in.dim(2), -1});
  check_shape(where, "dout", dout_in, {p_in.dim(0), p_in.dim(1), v_in.dim(2)});
  const Tensor<T> p = p_in.contiguous(), v = v_in.contiguous(), dout = dout_in.contiguous();
  const int64_t B = p.dim(0), Lq = p.dim(1), Lk = p.dim(2), dv = v.dim(2);
  WeightedSumGrads<T> g{Tensor<T>(p.shape()), Tensor<T>(v.shape())};
  std::vector<double> dvacc(static_cast<size_t>(Lk * dv));
  for (int64_t b = 0; b < B; ++b) {
    std::fill(dvacc.begin(), dvacc.end(), 0.0);
    for (int64_t i = 0; i < Lq; ++i) {
      const T* go = dout.data() + (b * Lq + i) * dv;
      for (int64_t j = 0; j < Lk; ++j) {
        const T* vj = v.data() + (b * Lk + j) * dv;
        const double pij = static_cast<double>(p.data()[(b * Lq + i) * Lk + j]);
        double acc = 0;
        for (int64_t c = 0; c < dv; ++c) {
          acc += static_cast<double>(go[c]) * static_cast<double>(vj[c]);
          dvacc[j * dv + c] += pij * static_cast<double>(go[c]);
        }
        g.dweights.data()[(b * Lq + i) * Lk + j] = static_cast<T>(acc);
      }
    }
    for (int64_t x = 0; x < Lk * dv; ++x) g.dv.data()[b * Lk * dv + x] = static_cast<T>(dvacc[x]);
  }
  return g;
}

// ---------------------------------------------------------------- projection
// x (B, L, in) · Wᵀ (in → out) = (B, L, out).
template <typename T>
Tensor<T> project(const Tensor<T>& x_in, const Tensor<T>& W) {
  check_rank("project", "x", x_in, 3);
  check_rank("project", "W", W, 2);
  check_shape("project", "W", W, {-1, x_in.dim(2)});
  const Tensor<T> x = x_in.contiguous();
  const int64_t rows = x.dim(0) * x.dim(1), in = x.dim(2), out = W.dim(0);
  Tensor<T> y({x.dim(0), x.dim(1), out});
  if (rows > 0 && out > 0) kernels::gemm(false, true, rows, out, in, T(1), x.data(), in, W.data(), in, T(0), y.data(), out);
  return y;
}

// dy (B, L, out): dW += dyᵀ x, returns dx = dy W (B, L, in).
template <typename T>
Tensor<T> project_backward(const Tensor<T>& dy_in, const Tensor<T>& x_in, const Tensor<T>& W, Tensor<T>& dW) {
  check_rank("project_backward", "x", x_in, 3);
  check_shape("project_backward", "dy", dy_in, {x_in.dim(0), x_in.dim(1), W.dim(0)});
  check_shape("project_backward", "dW", dW, W.shape());
  const Tensor<T> dy = dy_in.contiguous(), x = x_in.contiguous();
  const int64_t rows = x.dim(0) * x.dim(1), in = x.dim(2), out = W.dim(0);
  Tensor<T> dx(x.shape());
  if (rows == 0 || out == 0) return dx;
  kernels::gemm(false, false, rows, in, out, T(1), dy.data(), out, W.data(), in, T(0), dx.data(), in);
  kernels::gemm(true, false, out, in, rows, T(1), dy.data(), out, x.data(), in, T(1), dW.data(), in);
  return dx;
}


// ---------------------------------------------------------------- scorers
template <typename T>
Tensor<T> DotProductScorer<T>::forward(const Tensor<T>& q, const Tensor<T>& k) {
  check_qk("DotProductScorer.forward", q, k);
  q_ = q;
  k_ = k;
  return dot_product_scores(q, k, sdpa_scale({.scale = scale_}, q.dim(2)));
}

template <typename T>
ScoreGrads<T> DotProductScorer<T>::backward(const Tensor<T>& dscores) {
  QKV_CHECK(q_.defined(), "DotProductScorer.backward: called before forward");
  return dot_product_scores_backward(dscores, q_, k_, sdpa_scale({.scale = scale_}, q_.dim(2)));
}

template <typename T>
AdditiveScorer<T>::AdditiveScorer(nn::Parameter<T>& W_q, nn::Parameter<T>& W_k, nn::Parameter<T>& w_v)
    : W_q_(W_q), W_k_(W_k), w_v_(w_v) {
  constexpr const char* where = "AdditiveScorer";
  check_rank(where, "W_q", W_q.value, 2);
  const int64_t h = W_q.value.dim(0);
  check_shape(where, "W_k", W_k.value, {h, -1});
  check_shape(where, "w_v", w_v.value, {1, h});
}


template <typename T>
Tensor<T> AdditiveScorer<T>::forward(const Tensor<T>& q, const Tensor<T>& k) {
  constexpr const char* where = "AdditiveScorer.forward";
  check_rank(where, "q", q, 3);
  check_rank(where, "k", k, 3);
  check_shape(where, "q", q, {-1, -1, W_q_.value.dim(1)});
  check_shape(where, "k", k, {q.dim(0), -1, W_k_.value.dim(1)});
  q_ = q;
  k_ = k;
  auto r = additive_scores(project(q, W_q_.value), project(k, W_k_.value), w_v_.value);
  features_ = r.features;
  return r.scores;
}

template <typename T>
ScoreGrads<T> AdditiveScorer<T>::backward(const Tensor<T>& dscores) {
  QKV_CHECK(features_.defined(), "AdditiveScorer.backward: called before forward");
  auto g = additive_scores_backward(dscores, features_, w_v_.value);
  for (int64_t c = 0; c < g.dw_v.numel(); ++c) w_v_.grad.data()[c] += g.dw_v[c];
  ScoreGrads<T> out;
  out.dq = project_backward(g.dq, q_, W_q_.value, W_q_.grad);
  out.dk = project_backward(g.dk, k_, W_k_.value, W_k_.grad);
  return out;
}

template <typename T>
Tensor<T> GaussianScorer<T>::forward(const Tensor<T>& q, const Tensor<T>& k) {
  check_shape("GaussianScorer", "w", w_.value, {1});
  q_ = q;
  k_ = k;
  return gaussian_scores(q, k, static_cast<double>(w_.value[0]));
}

template <typename T>
ScoreGrads<T> GaussianScorer<T>::backward(const Tensor<T>& dscores) {
  QKV_CHECK(q_.defined(), "GaussianScorer.backward: called before forward");
  auto g = gaussian_scores_backward(dscores, q_, k_, static_cast<double>(w_.value[0]));
  w_.grad.data()[0] += static_cast<T>(g.dw);
  return {g.dq, g.dk};
}

// ---------------------------------------------------------------- generic path
template <typename T>
Attended<T> attend(Scorer<T>& scorer, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                   const AttentionMask& mask) {
  constexpr const char* where = "attend";
  check_rank(where, "q", q, 3);
  check_rank(where, "k", k, 3);
  check_rank(where, "v", v, 3);
  check_shape(where, "k", k, {q.dim(0), -1, -1});
  check_shape(where, "v", v, {q.dim(0), k.dim(1), -1});
  Tensor<T> scores = scorer.forward(q, k);
  Attended<T> r;
  r.weights = masked_softmax(scores, mask);
  r.out = weighted_sum(r.weights, v);
  r.v = v;
  return r;
}

template <typename T>
AttendGrads<T> attend_backward(Scorer<T>& scorer, const Attended<T>& fwd, const Tensor<T>& dout) {
  QKV_CHECK(fwd.weights.defined(), "attend_backward: argument 'fwd' is empty; pass what attend returned");
  check_shape("attend_backward", "dout", dout, fwd.out.shape());
  auto ws = weighted_sum_backward(dout, fwd.weights, fwd.v);
  auto sg = scorer.backward(masked_softmax_backward(ws.dweights, fwd.weights));
  return {sg.dq, sg.dk, ws.dv};
}

#define QKV_INSTANTIATE(T)                                                                                      \
  template Tensor<T> dot_product_scores(const Tensor<T>&, const Tensor<T>&, double);                           \
  template ScoreGrads<T> dot_product_scores_backward(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,     \
                                                     double);                                                  \
  template AdditiveScores<T> additive_scores(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&);           \
  template AdditiveScoreGrads<T> additive_scores_backward(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&); \
  template Tensor<T> gaussian_scores(const Tensor<T>&, const Tensor<T>&, double);                              \
  template GaussianScoreGrads<T> gaussian_scores_backward(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, \
                                                          double);                                             \
  template Tensor<T> weighted_sum(const Tensor<T>&, const Tensor<T>&);                                         \
  template WeightedSumGrads<T> weighted_sum_backward(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&);    \
  template Tensor<T> project(const Tensor<T>&, const Tensor<T>&);                                              \
  template Tensor<T> project_backward(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, Tensor<T>&);       \
  template class DotProductScorer<T>;                                                                           \
  template class AdditiveScorer<T>;                                                                             \
  template class GaussianScorer<T>;                                                                             \
  template Attended<T> attend(Scorer<T>&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,                 \
                              const AttentionMask&);                                                            \
  template AttendGrads<T> attend_backward(Scorer<T>&, const Attended<T>&, const Tensor<T>&);
QKV_INSTANTIATE(float)
QKV_INSTANTIATE(double)
#undef QKV_INSTANTIATE

}  // namespace qkv
