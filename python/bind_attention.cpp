// Python: the attention functions, on float32 NumPy arrays with PyTorch's names and polarity.
//
//   scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
//                                valid_lens=None, return_weights=False) → out or (out, weights)
//   scaled_dot_product_attention_backward(q, k, v, dout, attn_mask=None, is_causal=False, scale=None,
//                                         valid_lens=None) → (dq, dk, dv)
//   masked_softmax(x, valid_lens=None)
//   additive_attention(queries, keys, values, W_q, W_k, w_v, valid_lens=None, return_weights=False)
//   nadaraya_watson(queries, keys, values, w=1.0, exclude_self=False, return_weights=False)
//   manual_seed(seed)
// SDPA shapes: q (..., Lq, d), k (..., Lk, d), v (..., Lk, dv) with the same leading dims (at least
// (L, d)); leading dims map to (B, H): (L, d) → (1, 1); (B, L, d) → (B, 1); (b1, ..., H, L, d) →
// (b1·…, H). attn_mask broadcasts to (..., Lq, Lk); bool True = may attend (F.scaled_dot_product_attention),
// float is added to the scaled scores. valid_lens has the batch dims (q's dims before (H, L, d), or
// before (L, d) for 3-d q), optionally followed by Lq. is_causal is top-left aligned (as torch).
// Dropout draws its seed from the module's generator (manual_seed); the backward has no dropout.
#include <pybind11/stl.h>

#include <optional>

#include "arrays.h"
#include "bindings.h"
#include "qkv/nn/additive_attention.h"
#include "qkv/ops/masked_softmax/masked_softmax.h"
#include "qkv/nn/nadaraya_watson.h"
#include "qkv/ops/sdpa/sdpa.h"

namespace qkv::python {
namespace {

// The arguments of one SDPA call, converted; the arrays stay alive as long as this does.
struct SdpaCall {
  FloatArray q, k, v;
  BoolArray allowed;
  FloatArray bias;
  IntArray lens;
  py::object keep_mask;
  Shape lead;
  int64_t B = 1, H = 1, Lq = 0, Lk = 0, d = 0, dv = 0;
  AttentionMask mask;
  SdpaOptions options;

  Shape out_shape(int64_t last) const {
    Shape s = lead;
    s.push_back(Lq);
    s.push_back(last);
    return s;
  }
};

std::string dims_str(const Shape& lead, const std::string& tail) {
  std::string s = "(";
  for (int64_t x : lead) s += std::to_string(x) + ", ";
  return s + tail + ")";
}

void convert_attn_mask(const char* fn, py::handle obj, SdpaCall& c) {
  py::array a = as_array(obj, fn, "attn_mask");
  char kind = a.dtype().kind();
  if (kind != 'b' && kind != 'f')
    throw py::type_error(str(fn, ": argument 'attn_mask' has dtype ", dtype_name(a),
                             "; expected bool (True = may attend) or a floating additive mask"));
  Shape full = c.lead;
  full.push_back(c.Lq);
  full.push_back(c.Lk);
  const size_t r = full.size();
  Shape m(a.shape(), a.shape() + a.ndim());
  bool ok = m.size() <= r;
  for (size_t i = 0; ok && i < m.size(); ++i) ok = m[i] == 1 || m[i] == full[r - m.size() + i];
  QKV_CHECK(ok, fn, ": argument 'attn_mask' has shape ", shape_str(m), "; expected a shape broadcastable to ",
            shape_str(full));
  m.insert(m.begin(), r - m.size(), 1);
  Shape shape4;
  if (r == 2) {
    shape4 = {1, 1, m[0], m[1]};
  } else if (r == 3) {
    shape4 = {m[0], 1, m[1], m[2]};
  } else {
    bool ones = true, same = true;
    for (size_t i = 0; i + 3 < r; ++i) {
      ones = ones && m[i] == 1;
      same = same && m[i] == full[i];
    }
    if (!ones && !same) {  // mixed broadcast over several batch dims: materialise them
      py::module_ np = py::module_::import("numpy");
      Shape target(full.begin(), full.end() - 3);
      target.insert(target.end(), m.end() - 3, m.end());
      a = np.attr("ascontiguousarray")(np.attr("broadcast_to")(a.reshape(std::vector<py::ssize_t>(m.begin(), m.end())),
                                                                py::tuple(py::cast(target))));
    }
    shape4 = {ones ? 1 : c.B, m[r - 3], m[r - 2], m[r - 1]};
  }
  if (kind == 'b') {
    c.allowed = bool_array(a, fn, "attn_mask");
    c.mask.allowed = c.allowed.t.view(shape4);
  } else {
    c.bias = float_array(a, fn, "attn_mask");
    check_values(fn, "attn_mask", c.bias.t, /*allow_neg_inf=*/true);
    c.mask.bias = c.bias.t.view(shape4);
  }
}

void convert_valid_lens(const char* fn, py::handle obj, SdpaCall& c, size_t rank) {
  c.lens = int_array(obj, fn, "valid_lens");
  Shape batch(c.lead.begin(), c.lead.end() - (rank >= 4 ? 1 : 0));
  Shape per_query = batch;
  per_query.push_back(c.Lq);
  const Shape& s = c.lens.t.shape();
  QKV_CHECK(s == batch || s == per_query, fn, ": argument 'valid_lens' has shape ", shape_str(s), "; expected ",
            shape_str(batch), " (one length per batch entry) or ", shape_str(per_query), " (one per query)");
  c.mask.valid_lens = s == batch ? c.lens.t.view({c.B}) : c.lens.t.view({c.B, c.Lq});
}

void parse_sdpa(const char* fn, SdpaCall& c, ArrayArg q, ArrayArg k, ArrayArg v, ArrayArg attn_mask,
                bool is_causal, std::optional<double> scale, ArrayArg valid_lens) {
  c.q = float_array(q, fn, "q");
  c.k = float_array(k, fn, "k");
  c.v = float_array(v, fn, "v");
  const Shape &qs = c.q.t.shape(), &ks = c.k.t.shape(), &vs = c.v.t.shape();
  const size_t r = qs.size();
  QKV_CHECK(r >= 2, fn, ": argument 'q' has shape ", shape_str(qs), "; expected (..., L, E) with at least 2 dims");
  c.lead.assign(qs.begin(), qs.end() - 2);
  c.Lq = qs[r - 2];
  c.d = qs[r - 1];
  QKV_CHECK(ks.size() == r && std::equal(c.lead.begin(), c.lead.end(), ks.begin()) && ks[r - 1] == c.d, fn,
            ": argument 'k' has shape ", shape_str(ks), "; expected ", dims_str(c.lead, "Lk, " + std::to_string(c.d)),
            " (the leading dims and head dim of 'q')");
  c.Lk = ks[r - 2];
  QKV_CHECK(vs.size() == r && std::equal(c.lead.begin(), c.lead.end(), vs.begin()) && vs[r - 2] == c.Lk, fn,
            ": argument 'v' has shape ", shape_str(vs), "; expected ", dims_str(c.lead, std::to_string(c.Lk) + ", dv"),
            " (the leading dims of 'q' and the length of 'k')");
  c.dv = vs[r - 1];
  QKV_CHECK(c.Lq > 0 && c.Lk > 0 && c.d > 0 && c.dv > 0, fn, ": empty sequence or feature dimension: q ",
            shape_str(qs), ", k ", shape_str(ks), ", v ", shape_str(vs));
  for (size_t i = 0; i < c.lead.size(); ++i)
    QKV_CHECK(c.lead[i] > 0, fn, ": argument 'q' has shape ", shape_str(qs), "; leading dims must be positive");
  check_values(fn, "q", c.q.t);
  check_values(fn, "k", c.k.t);
  check_values(fn, "v", c.v.t);
  if (r == 3) c.B = c.lead[0];
  if (r >= 4) {
    c.H = c.lead.back();
    c.B = numel_of(Shape(c.lead.begin(), c.lead.end() - 1));
  }
  if (!attn_mask.is_none()) convert_attn_mask(fn, attn_mask, c);
  if (!valid_lens.is_none()) convert_valid_lens(fn, valid_lens, c, r);
  c.mask.causal = is_causal ? Causal::top_left : Causal::none;
  c.options.scale = scale;
}

py::object sdpa(ArrayArg q, ArrayArg k, ArrayArg v, ArrayArg attn_mask, double dropout_p, bool is_causal,
                std::optional<double> scale, ArrayArg valid_lens, bool return_weights) {
  const char* fn = "scaled_dot_product_attention";
  SdpaCall c;
  parse_sdpa(fn, c, q, k, v, attn_mask, is_causal, scale, valid_lens);
  c.options.dropout_p = dropout_p;
  c.options.dropout_seed = dropout_p > 0 ? python_rng().next_u64() : 0;
  c.options.need_weights = return_weights;
  SdpaForward<float> fwd;
  {
    py::gil_scoped_release nogil;
    fwd = sdpa_forward(c.q.t.view({c.B, c.H, c.Lq, c.d}), c.k.t.view({c.B, c.H, c.Lk, c.d}),
                       c.v.t.view({c.B, c.H, c.Lk, c.dv}), c.mask, c.options);
  }
  py::array_t<float> out = adopt_numpy(fwd.out, c.out_shape(c.dv));
  if (!return_weights) return std::move(out);
  return py::make_tuple(out, adopt_numpy(fwd.weights, c.out_shape(c.Lk)));
}

py::tuple sdpa_backward(ArrayArg q, ArrayArg k, ArrayArg v, ArrayArg dout, ArrayArg attn_mask,
                        bool is_causal, std::optional<double> scale, ArrayArg valid_lens) {
  const char* fn = "scaled_dot_product_attention_backward";
  SdpaCall c;
  parse_sdpa(fn, c, q, k, v, attn_mask, is_causal, scale, valid_lens);
  FloatArray g = float_array(dout, fn, "dout");
  QKV_CHECK(g.t.shape() == c.out_shape(c.dv), fn, ": argument 'dout' has shape ", shape_str(g.t.shape()),
            "; expected ", shape_str(c.out_shape(c.dv)), " (the shape of the output)");
  check_values(fn, "dout", g.t);
  SdpaGrads<float> grads;
  {
    py::gil_scoped_release nogil;
    TensorF q4 = c.q.t.view({c.B, c.H, c.Lq, c.d}), k4 = c.k.t.view({c.B, c.H, c.Lk, c.d}),
            v4 = c.v.t.view({c.B, c.H, c.Lk, c.dv});
    SdpaForward<float> fwd = sdpa_forward(q4, k4, v4, c.mask, c.options);
    grads = sdpa_backward(g.t.view({c.B, c.H, c.Lq, c.dv}), q4, k4, v4, fwd, c.mask, c.options);
  }
  return py::make_tuple(adopt_numpy(grads.dq, c.q.t.shape()), adopt_numpy(grads.dk, c.k.t.shape()),
                        adopt_numpy(grads.dv, c.v.t.shape()));
}

py::array_t<float> masked_softmax_py(ArrayArg x, ArrayArg valid_lens) {
  const char* fn = "masked_softmax";
  FloatArray a = float_array(x, fn, "x");
  check_values(fn, "x", a.t, /*allow_neg_inf=*/true);
  IntArray lens;
  if (!valid_lens.is_none()) lens = int_array(valid_lens, fn, "valid_lens");
  TensorF y;
  {
    py::gil_scoped_release nogil;
    y = masked_softmax(a.t, lens.t);
  }
  return adopt_numpy(y, y.shape());
}

py::object additive_attention_py(ArrayArg queries, ArrayArg keys, ArrayArg values, ArrayArg W_q,
                                 ArrayArg W_k, ArrayArg w_v, ArrayArg valid_lens, bool return_weights) {
  const char* fn = "additive_attention";
  FloatArray q = float_array(queries, fn, "queries"), k = float_array(keys, fn, "keys"),
             v = float_array(values, fn, "values");
  FloatArray wq = float_array(W_q, fn, "W_q"), wk = float_array(W_k, fn, "W_k"), wv = float_array(w_v, fn, "w_v");
  for (auto [name, t] : {std::pair<const char*, TensorF*>{"queries", &q.t}, {"keys", &k.t}, {"values", &v.t},
                         {"W_q", &wq.t}, {"W_k", &wk.t}, {"w_v", &wv.t}})
    check_values(fn, name, *t);
  check_rank(fn, "queries", q.t, 3);
  check_rank(fn, "keys", k.t, 3);
  check_rank(fn, "W_q", wq.t, 2);
  const int64_t h = wq.t.dim(0);
  check_shape(fn, "W_q", wq.t, {h, q.t.dim(2)});
  check_shape(fn, "W_k", wk.t, {h, k.t.dim(2)});
  if (wv.t.rank() == 1) wv.t = wv.t.view({1, wv.t.dim(0)});
  check_shape(fn, "w_v", wv.t, {1, h});
  IntArray lens;
  if (!valid_lens.is_none()) lens = int_array(valid_lens, fn, "valid_lens");
  Rng rng(0);
  AdditiveAttention<float> attn(k.t.dim(2), q.t.dim(2), h, rng);
  attn.W_q.value.copy_from(wq.t);
  attn.W_k.value.copy_from(wk.t);
  attn.w_v.value.copy_from(wv.t);
  AdditiveForward<float> fwd;
  {
    py::gil_scoped_release nogil;
    fwd = attn.forward(q.t, k.t, v.t, lens.t);
  }
  py::array_t<float> out = to_numpy(fwd.out());
  if (!return_weights) return std::move(out);
  return py::make_tuple(out, to_numpy(fwd.weights()));
}

py::object nadaraya_watson_py(ArrayArg queries, ArrayArg keys, ArrayArg values, double w, bool exclude_self,
                              bool return_weights) {
  const char* fn = "nadaraya_watson";
  FloatArray q = float_array(queries, fn, "queries"), k = float_array(keys, fn, "keys"),
             v = float_array(values, fn, "values");
  check_values(fn, "queries", q.t);
  check_values(fn, "keys", k.t);
  check_values(fn, "values", v.t);
  NWForward<float> fwd;
  {
    py::gil_scoped_release nogil;
    fwd = nadaraya_watson(q.t, k.t, v.t, w, exclude_self);
  }
  py::array_t<float> pred = to_numpy(fwd.predictions);
  if (!return_weights) return std::move(pred);
  return py::make_tuple(pred, to_numpy(fwd.weights));
}

Binding reg("attention", [](py::module_& m) {
  m.def("manual_seed", [](uint64_t seed) { python_rng() = Rng(seed); }, py::arg("seed"),
        "Seeds qkv's generator (dropout masks and module initialisation).");
  m.def("scaled_dot_product_attention", &sdpa, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("attn_mask") = py::none(), py::arg("dropout_p") = 0.0, py::arg("is_causal") = false,
        py::arg("scale") = py::none(), py::arg("valid_lens") = py::none(), py::arg("return_weights") = false,
        "softmax(q kᵀ · scale + mask) v over the last two dims, torch.nn.functional's semantics (bool mask "
        "True = may attend); a query with no visible key gives zeros. Returns out, or (out, weights).");
  m.def("scaled_dot_product_attention_backward", &sdpa_backward, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("dout"), py::arg("attn_mask") = py::none(), py::arg("is_causal") = false,
        py::arg("scale") = py::none(), py::arg("valid_lens") = py::none(),
        "Gradients (dq, dk, dv) of scaled_dot_product_attention (without dropout) for the upstream dout.");
  m.def("masked_softmax", &masked_softmax_py, py::arg("x"), py::arg("valid_lens") = py::none(),
        "Softmax over the last axis of x (B, Lq, Lk); keys at positions >= valid_lens ((B,) or (B, Lq)) get 0.");
  m.def("additive_attention", &additive_attention_py, py::arg("queries"), py::arg("keys"), py::arg("values"),
        py::arg("W_q"), py::arg("W_k"), py::arg("w_v"), py::arg("valid_lens") = py::none(),
        py::arg("return_weights") = false,
        "Bahdanau attention: weights = masked_softmax(w_v · tanh(W_q q + W_k k)), out = weights · values. "
        "W_q (h, q_size), W_k (h, k_size), w_v (1, h): d2l's AdditiveAttention weights.");
  m.def("nadaraya_watson", &nadaraya_watson_py, py::arg("queries"), py::arg("keys"), py::arg("values"),
        py::arg("w") = 1.0, py::arg("exclude_self") = false, py::arg("return_weights") = false,
        "Nadaraya–Watson regression: softmax(−((x − x_i)·w)²/2) pooling of the values y_i.");
});

}  // namespace
}  // namespace qkv::python
