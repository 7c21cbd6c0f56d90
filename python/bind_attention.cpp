// Python: the attention functions, on float32 NumPy arrays with PyTorch's names and polarity.
//
//   scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
//                                valid_lens=None, return_weights=False, enable_gqa=False,
//                                window_size=(-1, -1), alibi_slopes=None, softcap=0.0) → out or (out, weights)
//   scaled_dot_product_attention_backward(q, k, v, dout, attn_mask=None, is_causal=False, scale=None,
//                                         valid_lens=None, enable_gqa=False, window_size=(-1, -1),
//                                         alibi_slopes=None, softcap=0.0) → (dq, dk, dv)
//   scaled_dot_product_attention_varlen(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, scale=None,
//                                       enable_gqa=False, window_size=(-1, -1), alibi_slopes=None,
//                                       softcap=0.0) → out   (q (total_q, H, d), …; sdpa_varlen.h)
//   scaled_dot_product_attention_varlen_backward(q, k, v, dout, cu_seqlens_q, cu_seqlens_k, …) → (dq, dk, dv)
//   masked_softmax(x, valid_lens=None)
//   additive_attention(queries, keys, values, W_q, W_k, w_v, valid_lens=None, return_weights=False)
//   nadaraya_watson(queries, keys, values, w=1.0, exclude_self=False, return_weights=False)
//   manual_seed(seed)
// SDPA shapes (the library's rules, sdpa_shapes.h): q (..., Lq, d), k (..., Lk, d), v (..., Lk, dv)
// with the same leading dims (at least (L, d)); leading dims map to (B, H): (L, d) → (1, 1);
// (B, L, d) → (B, 1); (b1, ..., H, L, d) → (b1·…, H). attn_mask broadcasts to (..., Lq, Lk); bool
// True = may attend (F.scaled_dot_product_attention), float is added to the scaled scores.
// valid_lens has the batch dims (q's dims before (H, L, d), or before (L, d) for 3-d q), optionally
// followed by Lq. is_causal is top-left aligned (as torch). Empty sequences are refused here.
// The variants (sdpa.h's SdpaOptions): enable_gqa as torch 2.5 (k, v with fewer heads, query heads
// repeat-interleaved onto them); window_size (left, right) as FlashAttention's, −1 unbounded;
// alibi_slopes (H,) or (batch dims..., H), bias −slope·|i + Lk − Lq − j|; softcap c > 0 caps the
// scaled scores to c·tanh(s/c). The window and ALiBi are aligned bottom-right (FlashAttention's
// convention) even though is_causal is top-left; they coincide when Lq == Lk.
// Dropout draws its seed from the module's generator (manual_seed); the backward has no dropout.
#include <pybind11/stl.h>

#include <optional>

#include "arrays.h"
#include "bindings.h"
#include "qkv/nn/additive_attention.h"
#include "qkv/ops/masked_softmax/masked_softmax.h"
#include "qkv/nn/nadaraya_watson.h"
#include "qkv/ops/sdpa/sdpa_shapes.h"
#include "qkv/ops/sdpa/sdpa_varlen.h"

namespace qkv::python {
namespace {

// The arguments of one SDPA call, converted; the arrays stay alive as long as this does. The
// folding of leading dims and the broadcasting of attn_mask are the library's (sdpa_shapes.h).
struct SdpaCall {
  FloatArray q, k, v;
  BoolArray allowed;
  FloatArray bias;
  IntArray lens;
  FloatArray slopes;
  SdpaLayout layout;
  AttentionMask mask;  // folded to (B, H, Lq, Lk)
  SdpaOptions options;
};

// The variant keyword arguments, as Python passed them.
struct VariantArgs {
  bool enable_gqa = false;
  std::pair<int64_t, int64_t> window_size{-1, -1};
  ArrayArg alibi_slopes{py::none()};
  double softcap = 0.0;
};

// Sets the variant fields of `options` from `var`; slopes keeps the converted alibi_slopes alive.
void apply_variants(const char* fn, const VariantArgs& var, SdpaOptions& options, FloatArray& slopes) {
  options.enable_gqa = var.enable_gqa;
  options.window_left = var.window_size.first;
  options.window_right = var.window_size.second;
  options.softcap = var.softcap;
  if (!var.alibi_slopes.is_none()) {
    slopes = float_array(var.alibi_slopes, fn, "alibi_slopes");
    check_values(fn, "alibi_slopes", slopes.t);
    options.alibi_slopes = slopes.t;
  }
}

void parse_sdpa(const char* fn, SdpaCall& c, ArrayArg q, ArrayArg k, ArrayArg v, ArrayArg attn_mask,
                bool is_causal, std::optional<double> scale, ArrayArg valid_lens, const VariantArgs& var) {
  c.q = float_array(q, fn, "q");
  c.k = float_array(k, fn, "k");
  c.v = float_array(v, fn, "v");
  c.layout = sdpa_layout(fn, c.q.t.shape(), c.k.t.shape(), c.v.t.shape(), var.enable_gqa);
  const SdpaLayout& l = c.layout;
  QKV_CHECK(l.Lq > 0 && l.Lk > 0 && l.d > 0 && l.dv > 0, fn, ": empty sequence or feature dimension: q ",
            shape_str(c.q.t.shape()), ", k ", shape_str(c.k.t.shape()), ", v ", shape_str(c.v.t.shape()));
  for (int64_t x : l.lead)
    QKV_CHECK(x > 0, fn, ": argument 'q' has shape ", shape_str(c.q.t.shape()), "; leading dims must be positive");
  check_values(fn, "q", c.q.t);
  check_values(fn, "k", c.k.t);
  check_values(fn, "v", c.v.t);
  AttentionMask mask;
  if (!attn_mask.is_none()) {
    py::array a = as_array(attn_mask, fn, "attn_mask");
    const char kind = a.dtype().kind();
    if (kind != 'b' && kind != 'f')
      throw py::type_error(str(fn, ": argument 'attn_mask' has dtype ", dtype_name(a),
                               "; expected bool (True = may attend) or a floating additive mask"));
    if (kind == 'b') {
      c.allowed = bool_array(a, fn, "attn_mask");
      mask.allowed = c.allowed.t;
    } else {
      c.bias = float_array(a, fn, "attn_mask");
      check_values(fn, "attn_mask", c.bias.t, /*allow_neg_inf=*/true);
      mask.bias = c.bias.t;
    }
  }
  if (!valid_lens.is_none()) {
    c.lens = int_array(valid_lens, fn, "valid_lens");
    mask.valid_lens = c.lens.t;
  }
  mask.causal = is_causal ? Causal::top_left : Causal::none;
  c.mask = fold_mask(fn, mask, l, "attn_mask");
  c.options.scale = scale;
  apply_variants(fn, var, c.options, c.slopes);
  c.options = fold_options(c.options, l);
  validate_sdpa_variants(fn, l.B, l.H, c.options);
}

py::object sdpa(ArrayArg q, ArrayArg k, ArrayArg v, ArrayArg attn_mask, double dropout_p, bool is_causal,
                std::optional<double> scale, ArrayArg valid_lens, bool return_weights, bool enable_gqa,
                std::pair<int64_t, int64_t> window_size, ArrayArg alibi_slopes, double softcap) {
  const char* fn = "scaled_dot_product_attention";
  SdpaCall c;
  parse_sdpa(fn, c, q, k, v, attn_mask, is_causal, scale, valid_lens, {enable_gqa, window_size, alibi_slopes, softcap});
  c.options.dropout_p = dropout_p;
  c.options.dropout_seed = dropout_p > 0 ? python_rng().next_u64() : 0;
  c.options.need_weights = return_weights;
  const SdpaLayout& l = c.layout;
  SdpaForward<float> fwd;
  {
    py::gil_scoped_release nogil;
    fwd = sdpa_forward(fold(c.q.t, l), fold(c.k.t, l.kv()), fold(c.v.t, l.kv()), c.mask, c.options);
  }
  py::array_t<float> out = adopt_numpy(fwd.out, l.unfolded({l.Lq, l.dv}));
  if (!return_weights) return std::move(out);
  return py::make_tuple(out, adopt_numpy(fwd.weights, l.unfolded({l.Lq, l.Lk})));
}

py::tuple sdpa_backward(ArrayArg q, ArrayArg k, ArrayArg v, ArrayArg dout, ArrayArg attn_mask,
                        bool is_causal, std::optional<double> scale, ArrayArg valid_lens, bool enable_gqa,
                        std::pair<int64_t, int64_t> window_size, ArrayArg alibi_slopes, double softcap) {
  const char* fn = "scaled_dot_product_attention_backward";
  SdpaCall c;
  parse_sdpa(fn, c, q, k, v, attn_mask, is_causal, scale, valid_lens, {enable_gqa, window_size, alibi_slopes, softcap});
  const SdpaLayout& l = c.layout;
  FloatArray g = float_array(dout, fn, "dout");
  const Shape out_shape = l.unfolded({l.Lq, l.dv});
  QKV_CHECK(g.t.shape() == out_shape, fn, ": argument 'dout' has shape ", shape_str(g.t.shape()), "; expected ",
            shape_str(out_shape), " (the shape of the output)");
  check_values(fn, "dout", g.t);
  SdpaGrads<float> grads;
  {
    py::gil_scoped_release nogil;
    const TensorF q4 = fold(c.q.t, l), k4 = fold(c.k.t, l.kv()), v4 = fold(c.v.t, l.kv());
    const SdpaForward<float> fwd = sdpa_forward(q4, k4, v4, c.mask, c.options);
    grads = sdpa_backward(fold(g.t, l), q4, k4, v4, fwd, c.mask, c.options);
  }
  return py::make_tuple(adopt_numpy(grads.dq, c.q.t.shape()), adopt_numpy(grads.dk, c.k.t.shape()),
                        adopt_numpy(grads.dv, c.v.t.shape()));
}

// The arguments of one packed (varlen) call, converted; causal is FlashAttention's (bottom-right).
struct VarlenCall {
  FloatArray q, k, v, slopes;
  IntArray cu_q, cu_k;
  SdpaVarlen varlen;
  SdpaOptions options;
};

void parse_varlen(const char* fn, VarlenCall& c, ArrayArg q, ArrayArg k, ArrayArg v, ArrayArg cu_seqlens_q,
                  ArrayArg cu_seqlens_k, bool causal, std::optional<double> scale, const VariantArgs& var) {
  c.q = float_array(q, fn, "q");
  c.k = float_array(k, fn, "k");
  c.v = float_array(v, fn, "v");
  check_values(fn, "q", c.q.t);
  check_values(fn, "k", c.k.t);
  check_values(fn, "v", c.v.t);
  c.cu_q = int_array(cu_seqlens_q, fn, "cu_seqlens_q");
  c.cu_k = int_array(cu_seqlens_k, fn, "cu_seqlens_k");
  c.varlen = {c.cu_q.t, c.cu_k.t, causal ? Causal::bottom_right : Causal::none};
  c.options.scale = scale;
  apply_variants(fn, var, c.options, c.slopes);
}

py::array_t<float> sdpa_varlen_py(ArrayArg q, ArrayArg k, ArrayArg v, ArrayArg cu_seqlens_q, ArrayArg cu_seqlens_k,
                                  bool causal, std::optional<double> scale, bool enable_gqa,
                                  std::pair<int64_t, int64_t> window_size, ArrayArg alibi_slopes, double softcap) {
  VarlenCall c;
  parse_varlen("scaled_dot_product_attention_varlen", c, q, k, v, cu_seqlens_q, cu_seqlens_k, causal, scale,
               {enable_gqa, window_size, alibi_slopes, softcap});
  SdpaForward<float> fwd;
  {
    py::gil_scoped_release nogil;
    fwd = sdpa_varlen_forward(c.q.t, c.k.t, c.v.t, c.varlen, c.options);
  }
  return adopt_numpy(fwd.out, fwd.out.shape());
}

py::tuple sdpa_varlen_backward_py(ArrayArg q, ArrayArg k, ArrayArg v, ArrayArg dout, ArrayArg cu_seqlens_q,
                                  ArrayArg cu_seqlens_k, bool causal, std::optional<double> scale, bool enable_gqa,
                                  std::pair<int64_t, int64_t> window_size, ArrayArg alibi_slopes, double softcap) {
  const char* fn = "scaled_dot_product_attention_varlen_backward";
  VarlenCall c;
  parse_varlen(fn, c, q, k, v, cu_seqlens_q, cu_seqlens_k, causal, scale,
               {enable_gqa, window_size, alibi_slopes, softcap});
  FloatArray g = float_array(dout, fn, "dout");
  check_values(fn, "dout", g.t);
  SdpaGrads<float> grads;
  {
    py::gil_scoped_release nogil;
    const SdpaForward<float> fwd = sdpa_varlen_forward(c.q.t, c.k.t, c.v.t, c.varlen, c.options);
    grads = sdpa_varlen_backward(g.t, c.q.t, c.k.t, c.v.t, fwd, c.varlen, c.options);
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
        py::arg("enable_gqa") = false, py::arg("window_size") = std::pair<int64_t, int64_t>{-1, -1},
        py::arg("alibi_slopes") = py::none(), py::arg("softcap") = 0.0,
        "softmax(q kᵀ · scale + mask) v over the last two dims, torch.nn.functional's semantics (bool mask "
        "True = may attend); a query with no visible key gives zeros. Returns out, or (out, weights). "
        "Variants: enable_gqa (k, v with fewer heads, as torch 2.5), window_size=(left, right) "
        "(FlashAttention's, -1 unbounded), alibi_slopes (H,) or (batch..., H), softcap (c·tanh(s/c)); the "
        "window and ALiBi are aligned bottom-right (query i's diagonal key is i + Lk - Lq).");
  m.def("scaled_dot_product_attention_backward", &sdpa_backward, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("dout"), py::arg("attn_mask") = py::none(), py::arg("is_causal") = false,
        py::arg("scale") = py::none(), py::arg("valid_lens") = py::none(), py::arg("enable_gqa") = false,
        py::arg("window_size") = std::pair<int64_t, int64_t>{-1, -1}, py::arg("alibi_slopes") = py::none(),
        py::arg("softcap") = 0.0,
        "Gradients (dq, dk, dv) of scaled_dot_product_attention (without dropout) for the upstream dout.");
  m.def("scaled_dot_product_attention_varlen", &sdpa_varlen_py, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("cu_seqlens_q"), py::arg("cu_seqlens_k"), py::arg("causal") = false, py::arg("scale") = py::none(),
        py::arg("enable_gqa") = false, py::arg("window_size") = std::pair<int64_t, int64_t>{-1, -1},
        py::arg("alibi_slopes") = py::none(), py::arg("softcap") = 0.0,
        "Attention over sequences packed without padding, FlashAttention's varlen API: q (total_q, H, d), "
        "k (total_k, H_kv, d), v (total_k, H_kv, dv), cumulative lengths cu_seqlens_q/k (S + 1). causal is "
        "per sequence and bottom-right aligned (FlashAttention's). Returns out (total_q, H, dv).");
  m.def("scaled_dot_product_attention_varlen_backward", &sdpa_varlen_backward_py, py::arg("q"), py::arg("k"),
        py::arg("v"), py::arg("dout"), py::arg("cu_seqlens_q"), py::arg("cu_seqlens_k"), py::arg("causal") = false,
        py::arg("scale") = py::none(), py::arg("enable_gqa") = false,
        py::arg("window_size") = std::pair<int64_t, int64_t>{-1, -1}, py::arg("alibi_slopes") = py::none(),
        py::arg("softcap") = 0.0, "Gradients (dq, dk, dv) of scaled_dot_product_attention_varlen for dout.");
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
