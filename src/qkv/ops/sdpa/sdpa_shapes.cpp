// Folding of leading dims and broadcasting of masks for sdpa (see sdpa_shapes.h).
#include "qkv/ops/sdpa/sdpa_shapes.h"

#include <algorithm>
#include <string>

namespace qkv {
namespace {

std::string dims_str(const Shape& lead, const std::string& tail) {
  std::string s = "(";
  for (int64_t x : lead) s += std::to_string(x) + ", ";
  return s + tail + ")";
}

// One mask part (allowed or bias) broadcastable to (..., Lq, Lk) as a (B or 1, H or 1, Lq or 1,
// Lk or 1) tensor that broadcasts to (B, H, Lq, Lk).
template <typename T>
Tensor<T> fold_mask_part(const char* where, const Tensor<T>& part, const SdpaLayout& l, const std::string& arg) {
  const Shape full = l.unfolded({l.Lq, l.Lk});
  const size_t r = full.size();
  Shape m = part.shape();
  bool ok = m.size() <= r;
  for (size_t i = 0; ok && i < m.size(); ++i) ok = m[i] == 1 || m[i] == full[r - m.size() + i];
  QKV_CHECK(ok, where, ": argument ", arg, " has shape ", shape_str(m), "; expected a shape broadcastable to ",
            shape_str(full));
  m.insert(m.begin(), r - m.size(), 1);
  Tensor<T> t = part.reshape(m);
  if (r == 2) return t.view({1, 1, m[0], m[1]});
  if (r == 3) return t.view({m[0], 1, m[1], m[2]});
  bool ones = true, same = true;
  for (size_t i = 0; i + 3 < r; ++i) {
    ones = ones && m[i] == 1;
    same = same && m[i] == full[i];
  }
  if (!ones && !same) {  // broadcast over some batch dims but not all: materialise them
    Shape target(full.begin(), full.end() - 3);
    target.insert(target.end(), m.end() - 3, m.end());
    t = t.expand(target).contiguous();
  }
  return t.view({ones ? 1 : l.B, m[r - 3], m[r - 2], m[r - 1]});
}

}  // namespace

Shape SdpaLayout::unfolded(std::initializer_list<int64_t> tail) const {
  Shape s = lead;
  s.insert(s.end(), tail.begin(), tail.end());
  return s;
}

SdpaLayout SdpaLayout::kv() const {
  SdpaLayout l = *this;
  l.H = Hkv;
  if (lead.size() >= 2) l.lead.back() = Hkv;
  return l;
}

Shape SdpaLayout::batch() const { return lead.size() >= 2 ? Shape(lead.begin(), lead.end() - 1) : lead; }

SdpaLayout sdpa_layout(const char* where, const Shape& qs, const Shape& ks, const Shape& vs, bool gqa) {
  const size_t r = qs.size();
  QKV_CHECK(r >= 2, where, ": argument 'q' has shape ", shape_str(qs), "; expected (..., L, E) with at least 2 dims");
  SdpaLayout l;
  l.lead.assign(qs.begin(), qs.end() - 2);
  l.Lq = qs[r - 2];
  l.d = qs[r - 1];
  Shape kv_lead = l.lead;  // k's and v's leading dims: q's, or with Hkv heads (gqa)
  if (gqa && r >= 4 && ks.size() == r) {
    const int64_t hk = ks[r - 3], hq = qs[r - 3];
    QKV_CHECK(hk >= 1 && hq % hk == 0, where, ": argument 'k' has shape ", shape_str(ks), "; expected ", hq,
              " heads or a divisor of it (dim ", r - 3, "; enable_gqa)");
    kv_lead.back() = hk;
  }
  QKV_CHECK(ks.size() == r && std::equal(kv_lead.begin(), kv_lead.end(), ks.begin()) && ks[r - 1] == l.d, where,
            ": argument 'k' has shape ", shape_str(ks), "; expected ", dims_str(kv_lead, "Lk, " + std::to_string(l.d)),
            " (the leading dims and head dim of 'q')");
  l.Lk = ks[r - 2];
  QKV_CHECK(vs.size() == r && std::equal(kv_lead.begin(), kv_lead.end(), vs.begin()) && vs[r - 2] == l.Lk, where,
            ": argument 'v' has shape ", shape_str(vs), "; expected ", dims_str(kv_lead, std::to_string(l.Lk) + ", dv"),
            " (the leading dims of 'k' and its length)");
  l.dv = vs[r - 1];
  if (r == 3) l.B = l.lead[0];
  if (r >= 4) {
    l.H = l.lead.back();
    l.B = numel_of(Shape(l.lead.begin(), l.lead.end() - 1));
  }
  l.Hkv = r >= 4 ? kv_lead.back() : l.H;
  return l;
}

AttentionMask fold_mask(const char* where, const AttentionMask& mask, const SdpaLayout& l, const char* mask_name) {
  AttentionMask out;
  out.causal = mask.causal;
  const std::string named = mask_name ? str("'", mask_name, "'") : std::string();
  if (mask.allowed.defined())
    out.allowed = fold_mask_part(where, mask.allowed, l, mask_name ? named : "'allowed' (boolean mask)");
  if (mask.bias.defined()) out.bias = fold_mask_part(where, mask.bias, l, mask_name ? named : "'bias' (float mask)");
  if (mask.valid_lens.defined()) {
    const Shape batch = l.batch();
    Shape per_query = batch;
    per_query.push_back(l.Lq);
    const Shape& s = mask.valid_lens.shape();
    QKV_CHECK(s == batch || s == per_query, where, ": argument 'valid_lens' has shape ", shape_str(s), "; expected ",
              shape_str(batch), " (one length per batch entry) or ", shape_str(per_query), " (one per query)");
    out.valid_lens = s == batch ? mask.valid_lens.reshape({l.B}) : mask.valid_lens.reshape({l.B, l.Lq});
  }
  return out;
}

SdpaOptions fold_options(const SdpaOptions& options, const SdpaLayout& l) {
  SdpaOptions o = options;
  const TensorF& a = options.alibi_slopes;
  if (a.defined() && a.rank() >= 2 && numel_of(a.shape()) == l.B * l.H) {
    Shape per_batch = l.batch();
    per_batch.push_back(l.H);
    if (a.shape() == per_batch) o.alibi_slopes = a.reshape({l.B, l.H});
  }
  return o;
}

template <typename T>
Tensor<T> fold(const Tensor<T>& t, const SdpaLayout& l) {
  Shape s{l.B, l.H};
  s.insert(s.end(), t.shape().begin() + static_cast<std::ptrdiff_t>(l.lead.size()), t.shape().end());
  return t.reshape(s);
}

template <typename T>
Tensor<T> unfold(const Tensor<T>& t, const SdpaLayout& l) {
  Shape s = l.lead;
  s.insert(s.end(), t.shape().begin() + 2, t.shape().end());
  return t.reshape(s);
}

template <typename T>
SdpaForward<sdpa_result_t<T>> sdpa_forward_nd(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                              const AttentionMask& mask, const SdpaOptions& options,
                                              AttentionBackend backend) {
  const char* where = "scaled_dot_product_attention";
  const SdpaLayout l = sdpa_layout(where, q.shape(), k.shape(), v.shape(), options.enable_gqa);
  SdpaForward<sdpa_result_t<T>> f =
      sdpa_forward(fold(q, l), fold(k, l.kv()), fold(v, l.kv()), fold_mask(where, mask, l), fold_options(options, l), backend);
  f.out = unfold(f.out, l);
  f.lse = unfold(f.lse, l);
  if (f.weights.defined()) f.weights = unfold(f.weights, l);
  return f;
}

template <typename T>
SdpaGrads<sdpa_result_t<T>> sdpa_backward_nd(const Tensor<sdpa_result_t<T>>& dout, const Tensor<T>& q,
                                             const Tensor<T>& k, const Tensor<T>& v,
                                             const SdpaForward<sdpa_result_t<T>>& fwd, const AttentionMask& mask,
                                             const SdpaOptions& options, AttentionBackend backend) {
  const char* where = "scaled_dot_product_attention_backward";
  const SdpaLayout l = sdpa_layout(where, q.shape(), k.shape(), v.shape(), options.enable_gqa);
  const AttentionMask m = fold_mask(where, mask, l);
  const Shape out_shape = l.unfolded({l.Lq, l.dv});
  QKV_CHECK(dout.shape() == out_shape, where, ": argument 'dout' has shape ", shape_str(dout.shape()), "; expected ",
            shape_str(out_shape), " (the shape of the output)");
  SdpaForward<sdpa_result_t<T>> f;
  if (fwd.out.defined()) {
    check_shape(where, "fwd.out", fwd.out, out_shape);
    f.out = fold(fwd.out, l);
  }
  if (fwd.lse.defined()) {
    check_shape(where, "fwd.lse", fwd.lse, l.unfolded({l.Lq}));
    f.lse = fold(fwd.lse, l);
  }
  SdpaGrads<sdpa_result_t<T>> g =
      sdpa_backward(fold(dout, l), fold(q, l), fold(k, l.kv()), fold(v, l.kv()), f, m, fold_options(options, l), backend);
  g.dq = unfold(g.dq, l);
  g.dk = unfold(g.dk, l.kv());
  g.dv = unfold(g.dv, l.kv());
  return g;
}

#define QKV_INSTANTIATE(T)                                                                                        \
  template Tensor<T> fold(const Tensor<T>&, const SdpaLayout&);                                                   \
  template Tensor<T> unfold(const Tensor<T>&, const SdpaLayout&);                                                 \
  template SdpaForward<sdpa_result_t<T>> sdpa_forward_nd(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,   \
                                                         const AttentionMask&, const SdpaOptions&,               \
                                                         AttentionBackend);                                      \
  template SdpaGrads<sdpa_result_t<T>> sdpa_backward_nd(const Tensor<sdpa_result_t<T>>&, const Tensor<T>&,       \
                                                        const Tensor<T>&, const Tensor<T>&,                      \
                                                        const SdpaForward<sdpa_result_t<T>>&,                    \
                                                        const AttentionMask&, const SdpaOptions&, AttentionBackend);
QKV_INSTANTIATE(float)
QKV_INSTANTIATE(double)
QKV_INSTANTIATE(bf16)
#undef QKV_INSTANTIATE

}  // namespace qkv
