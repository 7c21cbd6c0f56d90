#include "qkv/nn/additive_attention.h"

#include <cmath>

#include "qkv/ops/masked_softmax/masked_softmax.h"
#include "qkv/nn/scoring.h"

namespace qkv {

namespace {

template <typename T>
void init_uniform(nn::Parameter<T>& p, Shape shape, Rng& rng) {
  p = nn::Parameter<T>(shape);
  const double bound = 1.0 / std::sqrt(static_cast<double>(shape[1]));
  for (int64_t i = 0; i < p.value.numel(); ++i) p.value[i] = static_cast<T>(rng.uniform(-bound, bound));
}

// dst += src (same shape, both contiguous).
template <typename T>
void accumulate(Tensor<T>& dst, const Tensor<T>& src) {
  T* __restrict d = dst.data();
  const T* __restrict s = src.data();
  const int64_t n = dst.numel();
  for (int64_t x = 0; x < n; ++x) d[x] += s[x];
}

// Dropout multiplier of weight x = (b·Lq + i)·Lk + j of a step: 0 or 1/(1−p).
template <typename T>
T dropout_factor(const AdditiveStep<T>& s, int64_t x) {
  if (counter_uniform(s.dropout_seed, static_cast<uint64_t>(x)) < s.dropout_p) return T(0);
  return static_cast<T>(1.0 / (1.0 - s.dropout_p));
}

}  // namespace

template <typename T>
AdditiveAttention<T>::AdditiveAttention(int64_t key_size, int64_t query_size, int64_t num_hiddens, Rng& rng) {
  QKV_CHECK(key_size > 0 && query_size > 0 && num_hiddens > 0, "AdditiveAttention: key_size=", key_size,
            ", query_size=", query_size, " and num_hiddens=", num_hiddens, " must all be positive");
  init_uniform(W_q, {num_hiddens, query_size}, rng);
  init_uniform(W_k, {num_hiddens, key_size}, rng);
  init_uniform(w_v, {1, num_hiddens}, rng);
}

template <typename T>
AdditiveMemory<T> AdditiveAttention<T>::prepare(const Tensor<T>& keys, const Tensor<T>& values,
                                                const TensorI& valid_lens) {
  constexpr const char* where = "AdditiveAttention";
  QKV_CHECK(W_k.value.defined(), where, ": module is not initialised (use the constructor with sizes)");
  check_rank(where, "keys", keys, 3);
  check_rank(where, "values", values, 3);
  check_shape(where, "keys", keys, {-1, -1, key_size()});
  check_shape(where, "values", values, {keys.dim(0), keys.dim(1), -1});
  if (valid_lens.defined()) {
    // Full check against the queries happens per step; here the batch and the range.
    AttentionMask m;
    m.valid_lens = valid_lens;
    validate_mask(where, m, keys.dim(0), 1, valid_lens.rank() == 2 ? valid_lens.dim(1) : 1, keys.dim(1));
  }
  AdditiveMemory<T> mem;
  mem.keys = keys;
  mem.values = values;
  mem.valid_lens = valid_lens;
  mem.keys_proj = project(keys, W_k.value);
  mem.dkeys_proj = Tensor<T>(mem.keys_proj.shape());
  mem.dvalues = Tensor<T>(values.shape());
  return mem;
}

template <typename T>
AdditiveStep<T> AdditiveAttention<T>::step(const AdditiveMemory<T>& mem, const Tensor<T>& query, double dropout_p,
                                           uint64_t dropout_seed) {
  constexpr const char* where = "AdditiveAttention";
  QKV_CHECK(mem.keys_proj.defined(), where, ": argument 'memory' is empty; create it with prepare()");
  check_rank(where, "queries", query, 3);
  check_shape(where, "queries", query, {mem.keys.dim(0), -1, query_size()});
  QKV_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, where, ": argument 'dropout_p' is ", dropout_p,
            "; expected 0 <= dropout_p <= 1");
  AttentionMask mask;
  mask.valid_lens = mem.valid_lens;
  AdditiveStep<T> s;
  s.query = query;
  auto scores = additive_scores(project(query, W_q.value), mem.keys_proj, w_v.value);
  s.features = scores.features;
  s.weights = masked_softmax(scores.scores, mask);
  s.dropout_p = dropout_p;
  s.dropout_seed = dropout_seed;
  if (dropout_p > 0.0) {
    s.dropped = s.weights.clone();
    for (int64_t x = 0; x < s.dropped.numel(); ++x) s.dropped[x] *= dropout_factor<T>(s, x);
  }
  s.out = weighted_sum(s.dropped.defined() ? s.dropped : s.weights, mem.values);
  return s;
}

template <typename T>
Tensor<T> AdditiveAttention<T>::step_backward(AdditiveMemory<T>& mem, const AdditiveStep<T>& s,
                                              const Tensor<T>& dout) {
  constexpr const char* where = "AdditiveAttention.backward";
  QKV_CHECK(s.weights.defined(), where, ": argument 'step' is empty; pass what step() or forward() returned");
  check_shape(where, "dout", dout, s.out.shape());
  auto ws = weighted_sum_backward(dout, s.dropped.defined() ? s.dropped : s.weights, mem.values);
  if (s.dropped.defined())  // d(weights) = d(dropped) · the same factors
    for (int64_t x = 0; x < ws.dweights.numel(); ++x) ws.dweights[x] *= dropout_factor<T>(s, x);
  auto sg = additive_scores_backward(masked_softmax_backward(ws.dweights, s.weights), s.features, w_v.value);
  accumulate(mem.dvalues, ws.dv);
  accumulate(mem.dkeys_proj, sg.dk);
  accumulate(w_v.grad, sg.dw_v);
  return project_backward(sg.dq, s.query, W_q.value, W_q.grad);
}

template <typename T>
AdditiveGrads<T> AdditiveAttention<T>::memory_backward(AdditiveMemory<T>& mem) {
  QKV_CHECK(mem.keys_proj.defined(), "AdditiveAttention.backward: argument 'memory' is empty");
  AdditiveGrads<T> g;
  g.dk = project_backward(mem.dkeys_proj, mem.keys, W_k.value, W_k.grad);
  g.dv = mem.dvalues;
  mem.dkeys_proj = Tensor<T>(mem.keys_proj.shape());
  mem.dvalues = Tensor<T>(mem.values.shape());
  return g;
}

template <typename T>
const AdditiveForward<T>& AdditiveAttention<T>::forward(const Tensor<T>& queries, const Tensor<T>& keys,
                                                        const Tensor<T>& values, const TensorI& valid_lens,
                                                        double dropout_p, uint64_t dropout_seed) {
  AdditiveForward<T> f;
  f.memory = prepare(keys, values, valid_lens);
  f.step = step(f.memory, queries, dropout_p, dropout_seed);
  fwd_ = std::move(f);
  return fwd_;
}

template <typename T>
AdditiveGrads<T> AdditiveAttention<T>::backward(const Tensor<T>& dout) {
  QKV_CHECK(fwd_.step.weights.defined(), "AdditiveAttention.backward: called before forward");
  Tensor<T> dq = step_backward(fwd_.memory, fwd_.step, dout);
  AdditiveGrads<T> g = memory_backward(fwd_.memory);
  g.dq = dq;
  return g;
}

template <typename T>
void AdditiveAttention<T>::collect_parameters(const std::string& prefix, nn::NamedParameters<T>& out) {
  out.emplace_back(prefix + "W_q.weight", &W_q);
  out.emplace_back(prefix + "W_k.weight", &W_k);
  out.emplace_back(prefix + "w_v.weight", &w_v);
}

template class AdditiveAttention<float>;
template class AdditiveAttention<double>;

}  // namespace qkv
