#include "qkv/ops/sdpa/sdpa_reference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "qkv/core/parallel.h"

namespace qkv {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// The sizes of one call, read from q (B, H, Lq, d), k (B, Hkv, Lk, d), v (B, Hkv, Lk, dv);
// G = H / Hkv query heads per key/value head.
struct Dims {
  int64_t B, H, Lq, Lk, d, dv, Hkv, G;
  Dims(const Shape& q, const Shape& k, const Shape& v)
      : B(q[0]), H(q[1]), Lq(q[2]), Lk(k[2]), d(q[3]), dv(v[3]), Hkv(k[1]), G(q[1] / k[1]) {}
  int64_t kv_head(int64_t b, int64_t h) const { return b * Hkv + h / G; }  // repeat-interleave
};

// What the variant options of sdpa.h mean for one head (b, h), written out as their formulas.
struct Variant {
  int64_t off = 0;                       // Lk − Lq: key i + off is query i's diagonal
  int64_t left = -1, right = -1;         // the window
  double softcap = 0.0;
  double slope = 0.0;                    // ALiBi slope of the head (0 without)
  TensorF slopes;                        // (H) or (B, H), contiguous; undefined without ALiBi
  Variant(const SdpaOptions& o, const Dims& n) : off(n.Lk - n.Lq), left(o.window_left), right(o.window_right),
                                                 softcap(o.softcap) {
    if (o.alibi_slopes.defined()) slopes = o.alibi_slopes.contiguous();
  }
  void select(const Dims& n, int64_t b, int64_t h) {
    if (slopes.defined()) slope = static_cast<double>(slopes.rank() == 1 ? slopes[h] : slopes[b * n.H + h]);
  }
  bool in_window(int64_t i, int64_t j) const {
    return (left < 0 || j >= i + off - left) && (right < 0 || j <= i + off + right);
  }
};

// Scores of query row i of one head into s[0..Lk) (−inf where not visible): s_ij =
// cap(scale·q_i·k_j) − slope·|i + off − j| + bias_ij (sdpa.h); capd[j] (when given) gets the cap's
// derivative 1 − tanh² (1 without a cap). Returns the row maximum (NaN when any visible score is
// NaN, so NaN inputs give NaN outputs).
template <typename T>
double score_row(const T* qi, const T* kh, const MaskReader& reader, const Variant& var, int64_t i, const Dims& n,
                 double scale, std::vector<double>& s, std::vector<double>* capd = nullptr) {
  double m = kNegInf;
  for (int64_t j = 0; j < n.Lk; ++j) {
    if (capd) (*capd)[j] = 1.0;
    if (!reader.visible(i, j) || !var.in_window(i, j)) {
      s[j] = kNegInf;
      continue;
    }
    const T* kj = kh + j * n.d;
    double acc = 0;
    for (int64_t c = 0; c < n.d; ++c) acc += static_cast<double>(qi[c]) * static_cast<double>(kj[c]);
    double x = scale * acc;
    if (var.softcap > 0.0) {
      const double t = std::tanh(x / var.softcap);
      x = var.softcap * t;
      if (capd) (*capd)[j] = 1.0 - t * t;
    }
    x += -var.slope * static_cast<double>(std::abs(i + var.off - j)) + static_cast<double>(reader.bias(i, j));
    s[j] = x;
    if (x > m || std::isnan(x)) m = x;  // a NaN score sticks: the row becomes NaN, never silently zero
  }
  return m;
}

// Runs fn(reader, b, h) for every head, heads split across threads.
template <typename F>
void for_each_head(const AttentionMask& mask, const Dims& n, F&& fn) {
  // Heads per chunk: enough work per chunk that tiny problems stay on one thread.
  const int64_t work = std::max<int64_t>(1, n.Lq * n.Lk * (n.d + n.dv));
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / work);
  parallel_for(n.B * n.H, grain, [&](int64_t begin, int64_t end) {
    MaskReader reader(mask, n.B, n.H, n.Lq, n.Lk);
    for (int64_t bh = begin; bh < end; ++bh) {
      int64_t b = bh / n.H, h = bh % n.H;
      reader.select(b, h);
      fn(reader, b, h);
    }
  });
}

// Runs fn(reader, b, hk) for every key/value head (b, hk), split across threads; fn selects each
// query head of the group on the reader itself.
template <typename F>
void for_each_kv_head(const AttentionMask& mask, const Dims& n, F&& fn) {
  const int64_t work = std::max<int64_t>(1, n.G * n.Lq * n.Lk * (n.d + n.dv));
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / work);
  parallel_for(n.B * n.Hkv, grain, [&](int64_t begin, int64_t end) {
    MaskReader reader(mask, n.B, n.H, n.Lq, n.Lk);
    for (int64_t bk = begin; bk < end; ++bk) fn(reader, bk / n.Hkv, bk % n.Hkv);
  });
}

}  // namespace

template <typename T>
void sdpa_reference_forward_into(const Tensor<T>& q_in, const Tensor<T>& k_in, const Tensor<T>& v_in,
                                 const AttentionMask& mask, const SdpaOptions& options, SdpaForward<T>& fwd) {
  const Tensor<T> q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
  const Dims n(q.shape(), k.shape(), v.shape());
  const double scale = sdpa_scale(options, n.d);
  ensure_shape(fwd.out, {n.B, n.H, n.Lq, n.dv});
  ensure_shape(fwd.lse, {n.B, n.H, n.Lq});
  if (options.need_weights) {
    ensure_shape(fwd.weights, {n.B, n.H, n.Lq, n.Lk});
  } else {
    fwd.weights = Tensor<T>();
  }

  for_each_head(mask, n, [&](const MaskReader& reader, int64_t b, int64_t h) {
    const int64_t bh = b * n.H + h;
    Variant var(options, n);
    var.select(n, b, h);
    const T* qh = q.data() + bh * n.Lq * n.d;
    const T* kh = k.data() + n.kv_head(b, h) * n.Lk * n.d;
    const T* vh = v.data() + n.kv_head(b, h) * n.Lk * n.dv;
    std::vector<double> s(static_cast<size_t>(n.Lk)), acc(static_cast<size_t>(n.dv));
    for (int64_t i = 0; i < n.Lq; ++i) {
      T* out = fwd.out.data() + (bh * n.Lq + i) * n.dv;
      T* w = options.need_weights ? fwd.weights.data() + (bh * n.Lq + i) * n.Lk : nullptr;
      double m = score_row(qh + i * n.d, kh, reader, var, i, n, scale, s);
      if (m == kNegInf) {  // no visible key: zero weights and output, lse = −inf
        fwd.lse.data()[bh * n.Lq + i] = static_cast<T>(kNegInf);
        std::fill(out, out + n.dv, T(0));
        if (w) std::fill(w, w + n.Lk, T(0));
        continue;
      }
      double sum = 0;
      for (int64_t j = 0; j < n.Lk; ++j) sum += std::exp(s[j] - m);
      const double lse = m + std::log(sum);
      fwd.lse.data()[bh * n.Lq + i] = static_cast<T>(lse);
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j < n.Lk; ++j) {
        const double p = std::exp(s[j] - lse);
        if (w) w[j] = static_cast<T>(p);
        const double pz = p * dropout_factor(options, b, h, i, j, n.H, n.Lq, n.Lk);
        if (pz == 0.0) continue;
        const T* vj = vh + j * n.dv;
        for (int64_t c = 0; c < n.dv; ++c) acc[c] += pz * static_cast<double>(vj[c]);
      }
      for (int64_t c = 0; c < n.dv; ++c) out[c] = static_cast<T>(acc[c]);
    }
  });
}

template <typename T>
SdpaForward<T> sdpa_reference_forward(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                      const AttentionMask& mask, const SdpaOptions& options) {
  SdpaForward<T> fwd;
  sdpa_reference_forward_into(q, k, v, mask, options, fwd);
  return fwd;
}

template <typename T>
void sdpa_reference_backward_into(const Tensor<T>& dout_in, const Tensor<T>& q_in, const Tensor<T>& k_in,
                                  const Tensor<T>& v_in, const SdpaForward<T>& fwd, const AttentionMask& mask,
                                  const SdpaOptions& options, SdpaGrads<T>& g) {
  const Tensor<T> q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
  const Tensor<T> dout = dout_in.contiguous(), lse = fwd.lse.contiguous();
  const Dims n(q.shape(), k.shape(), v.shape());
  const double scale = sdpa_scale(options, n.d);
  ensure_shape(g.dq, {n.B, n.H, n.Lq, n.d});
  ensure_shape(g.dk, {n.B, n.Hkv, n.Lk, n.d});
  ensure_shape(g.dv, {n.B, n.Hkv, n.Lk, n.dv});

  for_each_kv_head(mask, n, [&](MaskReader& reader, int64_t b, int64_t hk) {
    const int64_t bk = b * n.Hkv + hk;
    const T* kh = k.data() + bk * n.Lk * n.d;
    const T* vh = v.data() + bk * n.Lk * n.dv;
    // Accumulate this key/value head's dK, dV over its query heads in double, then store.
    std::vector<double> dk(static_cast<size_t>(n.Lk * n.d), 0.0), dv(static_cast<size_t>(n.Lk * n.dv), 0.0);
    std::vector<double> s(static_cast<size_t>(n.Lk)), p(static_cast<size_t>(n.Lk)), dp(static_cast<size_t>(n.Lk));
    std::vector<double> capd(static_cast<size_t>(n.Lk)), dq(static_cast<size_t>(n.d));
    Variant var(options, n);
    for (int64_t h = hk * n.G; h < (hk + 1) * n.G; ++h) {
      reader.select(b, h);
      var.select(n, b, h);
      const int64_t bh = b * n.H + h;
      const T* qh = q.data() + bh * n.Lq * n.d;
      for (int64_t i = 0; i < n.Lq; ++i) {
        const double l = static_cast<double>(lse.data()[bh * n.Lq + i]);
        T* dqi = g.dq.data() + (bh * n.Lq + i) * n.d;
        if (l == kNegInf) {  // fully masked row: no gradient flows
          std::fill(dqi, dqi + n.d, T(0));
          continue;
        }
        const T* qi = qh + i * n.d;
        const T* doi = dout.data() + (bh * n.Lq + i) * n.dv;
        score_row(qi, kh, reader, var, i, n, scale, s, &capd);
        double rowsum = 0;
        for (int64_t j = 0; j < n.Lk; ++j) {
          p[j] = s[j] == kNegInf ? 0.0 : std::exp(s[j] - l);
          const double z = dropout_factor(options, b, h, i, j, n.H, n.Lq, n.Lk);
          double dpz = 0;  // dO_i · v_j
          const T* vj = vh + j * n.dv;
          for (int64_t c = 0; c < n.dv; ++c) dpz += static_cast<double>(doi[c]) * static_cast<double>(vj[c]);
          dp[j] = dpz * z;
          rowsum += p[j] * dp[j];
          const double pz = p[j] * z;
          if (pz != 0.0)
            for (int64_t c = 0; c < n.dv; ++c) dv[j * n.dv + c] += pz * static_cast<double>(doi[c]);
        }
        std::fill(dq.begin(), dq.end(), 0.0);
        for (int64_t j = 0; j < n.Lk; ++j) {
          const double ds = p[j] * (dp[j] - rowsum) * capd[j] * scale;  // through the cap: × (1 − tanh²)
          if (ds == 0.0) continue;
          const T* kj = kh + j * n.d;
          for (int64_t c = 0; c < n.d; ++c) {
            dq[c] += ds * static_cast<double>(kj[c]);
            dk[j * n.d + c] += ds * static_cast<double>(qi[c]);
          }
        }
        for (int64_t c = 0; c < n.d; ++c) dqi[c] = static_cast<T>(dq[c]);
      }
    }
    T* dkh = g.dk.data() + bk * n.Lk * n.d;
    T* dvh = g.dv.data() + bk * n.Lk * n.dv;
    for (int64_t x = 0; x < n.Lk * n.d; ++x) dkh[x] = static_cast<T>(dk[x]);
    for (int64_t x = 0; x < n.Lk * n.dv; ++x) dvh[x] = static_cast<T>(dv[x]);
  });
}

template <typename T>
SdpaGrads<T> sdpa_reference_backward(const Tensor<T>& dout, const Tensor<T>& q, const Tensor<T>& k,
                                     const Tensor<T>& v, const SdpaForward<T>& fwd, const AttentionMask& mask,
                                     const SdpaOptions& options) {
  SdpaGrads<T> g;
  sdpa_reference_backward_into(dout, q, k, v, fwd, mask, options, g);
  return g;
}

template <typename T>
Tensor<T> sdpa_reference_weights(const Tensor<T>& q_in, const Tensor<T>& k_in, const Tensor<T>& lse_in,
                                 const AttentionMask& mask, const SdpaOptions& options) {
  const Tensor<T> q = q_in.contiguous(), k = k_in.contiguous(), lse = lse_in.contiguous();
  check_shape("sdpa_reference_weights", "lse", lse, {q.dim(0), q.dim(1), q.dim(2)});
  const Shape v_shape{k.dim(0), k.dim(1), k.dim(2), 0};
  const Dims n(q.shape(), k.shape(), v_shape);
  const double scale = sdpa_scale(options, n.d);
  Tensor<T> weights({n.B, n.H, n.Lq, n.Lk});
  for_each_head(mask, n, [&](const MaskReader& reader, int64_t b, int64_t h) {
    const int64_t bh = b * n.H + h;
    Variant var(options, n);
    var.select(n, b, h);
    std::vector<double> s(static_cast<size_t>(n.Lk));
    for (int64_t i = 0; i < n.Lq; ++i) {
      const double l = static_cast<double>(lse.data()[bh * n.Lq + i]);
      if (l == kNegInf) continue;
      score_row(q.data() + (bh * n.Lq + i) * n.d, k.data() + n.kv_head(b, h) * n.Lk * n.d, reader, var, i, n, scale, s);
      T* w = weights.data() + (bh * n.Lq + i) * n.Lk;
      for (int64_t j = 0; j < n.Lk; ++j) w[j] = s[j] == kNegInf ? T(0) : static_cast<T>(std::exp(s[j] - l));
    }
  });
  return weights;
}

#define QKV_INSTANTIATE(T)                                                                                     \
  template void sdpa_reference_forward_into(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,             \
                                            const AttentionMask&, const SdpaOptions&, SdpaForward<T>&);       \
  template void sdpa_reference_backward_into(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,            \
                                             const Tensor<T>&, const SdpaForward<T>&, const AttentionMask&,   \
                                             const SdpaOptions&, SdpaGrads<T>&);                              \
  template SdpaForward<T> sdpa_reference_forward(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,        \
                                                 const AttentionMask&, const SdpaOptions&);                   \
  template SdpaGrads<T> sdpa_reference_backward(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,         \
                                                const Tensor<T>&, const SdpaForward<T>&, const AttentionMask&, \
                                                const SdpaOptions&);                                          \
  template Tensor<T> sdpa_reference_weights(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,             \
                                            const AttentionMask&, const SdpaOptions&);
QKV_INSTANTIATE(float)
QKV_INSTANTIATE(double)
#undef QKV_INSTANTIATE

}  // namespace qkv
