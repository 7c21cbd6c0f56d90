// Variable-length packed attention (see sdpa_varlen.h): per-sequence views of the packed tensors.
#include "qkv/ops/sdpa/sdpa_varlen.h"

namespace qkv {
namespace {

// Checks one cumulative-length tensor: (S + 1) entries from 0, nondecreasing, ending at total.
void check_cu(const char* where, const char* name, const TensorI& cu, int64_t S, int64_t total) {
  QKV_CHECK(cu.rank() == 1 && cu.dim(0) == S + 1, where, ": argument '", name, "' has shape ", shape_str(cu.shape()),
            "; expected ", shape_str({S + 1}), " (the number of sequences + 1, as 'cu_seqlens_q')");
  const TensorI c = cu.contiguous();
  QKV_CHECK(c[0] == 0, where, ": argument '", name, "' starts at ", c[0], "; expected 0");
  for (int64_t s = 0; s < S; ++s)
    QKV_CHECK(c[s + 1] >= c[s], where, ": argument '", name, "' decreases at entry ", s + 1, " (", c[s], " then ",
              c[s + 1], "); expected cumulative lengths");
  QKV_CHECK(c[S] == total, where, ": argument '", name, "' ends at ", c[S], "; expected ", total,
            " (the total length of the packed tensor)");
}

// Validates the packed shapes and the lengths; returns the number of sequences S.
int64_t check_varlen(const char* where, const Shape& q, const Shape& k, const Shape& v, const SdpaVarlen& vl,
                     const SdpaOptions& options) {
  QKV_CHECK(q.size() == 3, where, ": argument 'q' has shape ", shape_str(q), "; expected (total_q, H, d)");
  QKV_CHECK(k.size() == 3, where, ": argument 'k' has shape ", shape_str(k), "; expected (total_k, H_kv, d)");
  QKV_CHECK(v.size() == 3 && v[0] == k[0] && v[1] == k[1], where, ": argument 'v' has shape ", shape_str(v),
            "; expected (", k[0], ", ", k[1], ", dv) (the tokens and heads of 'k')");
  QKV_CHECK(vl.cu_seqlens_q.defined() && vl.cu_seqlens_k.defined(), where,
            ": arguments 'cu_seqlens_q' and 'cu_seqlens_k' are required");
  const int64_t S = vl.cu_seqlens_q.numel() - 1;
  QKV_CHECK(S >= 0, where, ": argument 'cu_seqlens_q' is empty; expected (S + 1) entries");
  check_cu(where, "cu_seqlens_q", vl.cu_seqlens_q, S, q[0]);
  check_cu(where, "cu_seqlens_k", vl.cu_seqlens_k, S, k[0]);
  QKV_CHECK(!options.need_weights, where, ": need_weights is not supported for packed sequences");
  QKV_CHECK(!options.alibi_slopes.defined() || options.alibi_slopes.rank() == 1, where,
            ": argument 'alibi_slopes' has shape ", shape_str(options.alibi_slopes.shape()),
            "; expected (H,) for packed sequences");
  return S;
}

// Rows [a, b) of a packed (total, heads, w) tensor as a (1, heads, b − a, w) strided view.
template <typename T>
Tensor<T> seq_view(const Tensor<T>& packed, int64_t a, int64_t b) {
  const Tensor<T> c = packed.contiguous();
  return c.view({1, c.dim(0), c.dim(1), c.dim(2)}).slice(1, a, b).permute({0, 2, 1, 3});
}

// Rows [a, b) of a (total, heads) tensor as (1, heads, b − a).
template <typename T>
Tensor<T> seq_rows(const Tensor<T>& packed, int64_t a, int64_t b) {
  return packed.view({1, packed.dim(0), packed.dim(1)}).slice(1, a, b).permute({0, 2, 1});
}

SdpaOptions seq_options(const SdpaOptions& options, int64_t s) {
  SdpaOptions o = options;
  o.dropout_seed = options.dropout_seed + static_cast<uint64_t>(s);
  return o;
}

}  // namespace

template <typename T>
SdpaForward<T> sdpa_varlen_forward(const Tensor<T>& q_in, const Tensor<T>& k_in, const Tensor<T>& v_in,
                                   const SdpaVarlen& vl, const SdpaOptions& options, AttentionBackend backend) {
  const char* where = "scaled_dot_product_attention_varlen";
  const int64_t S = check_varlen(where, q_in.shape(), k_in.shape(), v_in.shape(), vl, options);
  const Tensor<T> q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
  const TensorI cq = vl.cu_seqlens_q.contiguous(), ck = vl.cu_seqlens_k.contiguous();
  SdpaForward<T> f;
  f.out = Tensor<T>({q.dim(0), q.dim(1), v.dim(2)});
  f.lse = Tensor<T>({q.dim(0), q.dim(1)});
  AttentionMask mask;
  mask.causal = vl.causal;
  for (int64_t s = 0; s < S; ++s) {
    if (cq[s + 1] == cq[s]) continue;
    const SdpaForward<T> fs = sdpa_forward(seq_view(q, cq[s], cq[s + 1]), seq_view(k, ck[s], ck[s + 1]),
                                           seq_view(v, ck[s], ck[s + 1]), mask, seq_options(options, s), backend);
    seq_view(f.out, cq[s], cq[s + 1]).copy_from(fs.out);
    seq_rows(f.lse, cq[s], cq[s + 1]).copy_from(fs.lse);
  }
  return f;
}

template <typename T>
SdpaGrads<T> sdpa_varlen_backward(const Tensor<T>& dout_in, const Tensor<T>& q_in, const Tensor<T>& k_in,
                                  const Tensor<T>& v_in, const SdpaForward<T>& fwd, const SdpaVarlen& vl,
                                  const SdpaOptions& options, AttentionBackend backend) {
  const char* where = "scaled_dot_product_attention_varlen_backward";
  const int64_t S = check_varlen(where, q_in.shape(), k_in.shape(), v_in.shape(), vl, options);
  const Shape out_shape{q_in.dim(0), q_in.dim(1), v_in.dim(2)};
  check_shape(where, "dout", dout_in, out_shape);
  check_shape(where, "fwd.out", fwd.out, out_shape);
  check_shape(where, "fwd.lse", fwd.lse, {q_in.dim(0), q_in.dim(1)});
  const Tensor<T> q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous(), dout = dout_in.contiguous();
  const Tensor<T> out = fwd.out.contiguous(), lse = fwd.lse.contiguous();
  const TensorI cq = vl.cu_seqlens_q.contiguous(), ck = vl.cu_seqlens_k.contiguous();
  SdpaGrads<T> g;
  g.dq = Tensor<T>(q.shape());
  g.dk = Tensor<T>(k.shape());
  g.dv = Tensor<T>(v.shape());
  g.dq.fill(T(0));
  g.dk.fill(T(0));
  g.dv.fill(T(0));
  AttentionMask mask;
  mask.causal = vl.causal;
  for (int64_t s = 0; s < S; ++s) {
    if (cq[s + 1] == cq[s] || ck[s + 1] == ck[s]) continue;  // no query, or no key: no gradient
    SdpaForward<T> fs;
    fs.out = seq_view(out, cq[s], cq[s + 1]);
    fs.lse = seq_rows(lse, cq[s], cq[s + 1]);
    const SdpaGrads<T> gs = sdpa_backward(seq_view(dout, cq[s], cq[s + 1]), seq_view(q, cq[s], cq[s + 1]),
                                          seq_view(k, ck[s], ck[s + 1]), seq_view(v, ck[s], ck[s + 1]), fs, mask,
                                          seq_options(options, s), backend);
    seq_view(g.dq, cq[s], cq[s + 1]).copy_from(gs.dq);
    seq_view(g.dk, ck[s], ck[s + 1]).copy_from(gs.dk);
    seq_view(g.dv, ck[s], ck[s + 1]).copy_from(gs.dv);
  }
  return g;
}

#define QKV_INSTANTIATE(T)                                                                                       \
  template SdpaForward<T> sdpa_varlen_forward(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,             \
                                              const SdpaVarlen&, const SdpaOptions&, AttentionBackend);         \
  template SdpaGrads<T> sdpa_varlen_backward(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,              \
                                             const Tensor<T>&, const SdpaForward<T>&, const SdpaVarlen&,       \
                                             const SdpaOptions&, AttentionBackend);
QKV_INSTANTIATE(float)
QKV_INSTANTIATE(double)
#undef QKV_INSTANTIATE

}  // namespace qkv
