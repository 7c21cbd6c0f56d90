#include "qkv/nn/nadaraya_watson.h"

#include <cmath>

#include "qkv/ops/masked_softmax/masked_softmax.h"
#include "qkv/nn/scoring.h"

namespace qkv {

namespace {

// Checks queries (n,)/(B, n), keys and values (m,)/(B, m) of the same rank and batch.
template <typename T>
void check_nw(const char* where, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, bool exclude_self) {
  QKV_CHECK(q.rank() == 1 || q.rank() == 2, where, ": argument 'queries' has shape ", shape_str(q.shape()),
            "; expected (n,) or (B, n)");
  if (q.rank() == 1) {
    check_shape(where, "keys", k, {-1});
    check_shape(where, "values", v, {k.dim(0)});
  } else {
    check_shape(where, "keys", k, {q.dim(0), -1});
    check_shape(where, "values", v, {q.dim(0), k.dim(1)});
  }
  if (exclude_self)
    QKV_CHECK(q.dim(-1) == k.dim(-1), where, ": exclude_self needs as many queries as keys; got ", q.dim(-1),
              " queries and ", k.dim(-1), " keys");
}

// (n,) → (1, n, 1); (B, n) → (B, n, 1).
template <typename T>
Tensor<T> as_column(const Tensor<T>& x) {
  Tensor<T> c = x.contiguous();
  return c.rank() == 1 ? c.view({1, c.dim(0), 1}) : c.view({c.dim(0), c.dim(1), 1});
}

AttentionMask leave_one_out_mask(bool exclude_self, int64_t n) {
  AttentionMask mask;
  if (!exclude_self) return mask;
  mask.allowed = TensorB::full({n, n}, 1);
  for (int64_t i = 0; i < n; ++i) mask.allowed.at({i, i}) = 0;
  return mask;
}

}  // namespace

template <typename T>
Tensor<T> average_pooling(const Tensor<T>& values, int64_t num_queries) {
  constexpr const char* where = "average_pooling";
  QKV_CHECK(values.rank() == 1 || values.rank() == 2, where, ": argument 'values' has shape ",
            shape_str(values.shape()), "; expected (m,) or (B, m)");
  QKV_CHECK(num_queries >= 0, where, ": argument 'num_queries' is ", num_queries, "; expected >= 0");
  const Tensor<T> v = values.rank() == 1 ? values.contiguous().view({1, values.dim(0)}) : values.contiguous();
  const int64_t B = v.dim(0), m = v.dim(1);
  Tensor<T> out({B, num_queries});
  for (int64_t b = 0; b < B; ++b) {
    double sum = 0;
    for (int64_t j = 0; j < m; ++j) sum += static_cast<double>(v.data()[b * m + j]);
    const T mean = m ? static_cast<T>(sum / m) : T(0);
    for (int64_t i = 0; i < num_queries; ++i) out.data()[b * num_queries + i] = mean;
  }
  return values.rank() == 1 ? out.view({num_queries}) : out;
}

template <typename T>
Tensor<T> average_pooling_backward(const Tensor<T>& dpred, int64_t num_keys) {
  constexpr const char* where = "average_pooling_backward";
  QKV_CHECK(dpred.rank() == 1 || dpred.rank() == 2, where, ": argument 'dpred' has shape ",
            shape_str(dpred.shape()), "; expected (n,) or (B, n)");
  QKV_CHECK(num_keys >= 0, where, ": argument 'num_keys' is ", num_keys, "; expected >= 0");
  const Tensor<T> g = dpred.rank() == 1 ? dpred.contiguous().view({1, dpred.dim(0)}) : dpred.contiguous();
  const int64_t B = g.dim(0), n = g.dim(1);
  Tensor<T> dv({B, num_keys});
  for (int64_t b = 0; b < B; ++b) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(g.data()[b * n + i]);
    for (int64_t j = 0; j < num_keys; ++j) dv.data()[b * num_keys + j] = static_cast<T>(sum / num_keys);
  }
  return dpred.rank() == 1 ? dv.view({num_keys}) : dv;
}

template <typename T>
NWForward<T> nadaraya_watson(const Tensor<T>& queries, const Tensor<T>& keys, const Tensor<T>& values, double w,
                             bool exclude_self) {
  constexpr const char* where = "nadaraya_watson";
  check_nw(where, queries, keys, values, exclude_self);
  QKV_CHECK(std::isfinite(w), where, ": argument 'w' is ", w, "; expected a finite width");
  const Tensor<T> q = as_column(queries), k = as_column(keys), v = as_column(values);
  const Tensor<T> p = masked_softmax(gaussian_scores(q, k, w), leave_one_out_mask(exclude_self, q.dim(1)));
  NWForward<T> f;
  f.predictions = weighted_sum(p, v).view(queries.shape());
  f.weights = queries.rank() == 1 ? p.view({q.dim(1), k.dim(1)}) : p;
  return f;
}

template <typename T>
NWGrads<T> nadaraya_watson_backward(const Tensor<T>& dpred, const Tensor<T>& queries, const Tensor<T>& keys,
                                    const Tensor<T>& values, const NWForward<T>& fwd, double w, bool exclude_self) {
  constexpr const char* where = "nadaraya_watson_backward";
  check_nw(where, queries, keys, values, exclude_self);
  check_shape(where, "dpred", dpred, queries.shape());
  QKV_CHECK(fwd.weights.defined(), where, ": argument 'fwd' is empty; pass what nadaraya_watson returned");
  const Tensor<T> q = as_column(queries), k = as_column(keys), v = as_column(values), g = as_column(dpred);
  const Tensor<T> p = fwd.weights.contiguous().view({q.dim(0), q.dim(1), k.dim(1)});
  auto ws = weighted_sum_backward(g, p, v);
  auto sg = gaussian_scores_backward(masked_softmax_backward(ws.dweights, p), q, k, w);
  NWGrads<T> r;
  r.dq = sg.dq.view(queries.shape());
  r.dk = sg.dk.view(keys.shape());
  r.dv = ws.dv.view(values.shape());
  r.dw = sg.dw;
  return r;
}

template <typename T>
NadarayaWatson<T>::NadarayaWatson(double w_init) : w({1}, /*decay=*/false) {
  QKV_CHECK(std::isfinite(w_init), "NadarayaWatson: argument 'w_init' is ", w_init, "; expected a finite width");
  w.value[0] = static_cast<T>(w_init);
}

template <typename T>
NadarayaWatson<T>::NadarayaWatson(Rng& rng) : NadarayaWatson(rng.uniform()) {}

template <typename T>
const NWForward<T>& NadarayaWatson<T>::forward(const Tensor<T>& queries, const Tensor<T>& keys,
                                               const Tensor<T>& values, bool exclude_self) {
  fwd_ = nadaraya_watson(queries, keys, values, width(), exclude_self);
  queries_ = queries;
  keys_ = keys;
  values_ = values;
  exclude_self_ = exclude_self;
  return fwd_;
}

template <typename T>
NWGrads<T> NadarayaWatson<T>::backward(const Tensor<T>& dpred) {
  QKV_CHECK(fwd_.weights.defined(), "NadarayaWatson.backward: called before forward");
  NWGrads<T> g = nadaraya_watson_backward(dpred, queries_, keys_, values_, fwd_, width(), exclude_self_);
  w.grad[0] += static_cast<T>(g.dw);
  return g;
}

template <typename T>
void NadarayaWatson<T>::collect_parameters(const std::string& prefix, nn::NamedParameters<T>& out) {
  out.emplace_back(prefix + "w", &w);
}

#define QKV_INSTANTIATE(T)                                                                                    \
  template Tensor<T> average_pooling(const Tensor<T>&, int64_t);                                             \
  template Tensor<T> average_pooling_backward(const Tensor<T>&, int64_t);                                    \
  template NWForward<T> nadaraya_watson(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, double, bool); \
  template NWGrads<T> nadaraya_watson_backward(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,         \
                                               const Tensor<T>&, const NWForward<T>&, double, bool);         \
  template class NadarayaWatson<T>;
QKV_INSTANTIATE(float)
QKV_INSTANTIATE(double)
#undef QKV_INSTANTIATE

}  // namespace qkv
