// Python: qkv.MultiheadAttention, nn.MultiheadAttention's arguments, masks and state_dict.
//
//   MultiheadAttention(embed_dim, num_heads, bias=True, kdim=None, vdim=None, batch_first=True,
//                      dropout=0.0, head_dim=None, num_kv_heads=None)
//   m(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
//     average_attn_weights=True, is_causal=False) → (out, weights or None)
//   m.backward(dout) → (dquery, dkey, dvalue); self-attention (query is key is value): (dx, None, None)
//   m.state_dict() / m.load_state_dict(d) / m.grads() / m.zero_grad() / m.train(mode) / m.eval()
// Layouts: batch_first=True (B, L, E); batch_first=False (L, B, E); unbatched (L, E). Weights
// are (B, Lq, Lk) averaged or (B, H, Lq, Lk) per head, (Lq, Lk) / (H, Lq, Lk) when unbatched.
// Masks use nn.MultiheadAttention's polarity: bool True = do not attend; float masks are added.
// key_padding_mask (B, Lk); attn_mask (Lq, Lk) or (B·H, Lq, Lk). is_causal adds a top-left causal
// mask (torch 1.13 has no is_causal: pass it an explicit mask). num_kv_heads (not in torch; a divisor
// of num_heads) gives grouped-query attention: k_proj_weight and v_proj_weight project to
// num_kv_heads·head_dim, and query head h attends with key/value head h / (num_heads / num_kv_heads).
// Modules start in training mode like torch; dropout (training only) draws its seed from
// qkv.manual_seed's generator.
#include <pybind11/stl.h>

#include <map>
#include <optional>

#include "arrays.h"
#include "bindings.h"
#include "masks.h"
#include "module_state.h"
#include "qkv/nn/multihead_attention.h"

namespace qkv::python {
namespace {

class PyMha {
 public:
  PyMha(int64_t embed_dim, int64_t num_heads, py::object bias_arg, std::optional<int64_t> kdim,
        std::optional<int64_t> vdim, bool batch_first, double dropout, std::optional<int64_t> head_dim,
        std::optional<int64_t> num_kv_heads)
      : batch_first_(batch_first) {
    const char* fn = "MultiheadAttention";
    // torch's third positional argument is dropout; a float here would silently mean bias=True.
    if (!py::isinstance<py::bool_>(bias_arg) && !py::isinstance(bias_arg, py::module_::import("numpy").attr("bool_")))
      throw py::type_error(str(fn, ": argument 'bias' must be a bool, got ",
                               py::str(py::type::of(bias_arg)).cast<std::string>(),
                               " (unlike torch, the third argument is bias; pass dropout=... by keyword)"));
    const bool bias = bias_arg.cast<bool>();
    QKV_CHECK(!kdim || *kdim > 0, fn, ": argument 'kdim' must be positive, got ", kdim.value_or(0));
    QKV_CHECK(!vdim || *vdim > 0, fn, ": argument 'vdim' must be positive, got ", vdim.value_or(0));
    QKV_CHECK(!head_dim || *head_dim > 0, fn, ": argument 'head_dim' must be positive, got ", head_dim.value_or(0));
    QKV_CHECK(!num_kv_heads || *num_kv_heads > 0, fn, ": argument 'num_kv_heads' must be positive, got ",
              num_kv_heads.value_or(0));
    nn::MhaOptions o;
    o.embed_dim = embed_dim;
    o.num_heads = num_heads;
    o.bias = bias;
    o.kdim = kdim.value_or(0);
    o.vdim = vdim.value_or(0);
    o.head_dim = head_dim.value_or(0);
    o.dropout = dropout;
    o.num_kv_heads = num_kv_heads.value_or(0);
    m_ = nn::MultiheadAttention<float>(o, python_rng());
  }

  py::tuple call(ArrayArg query, ArrayArg key, ArrayArg value, ArrayArg key_padding_mask, bool need_weights,
                 ArrayArg attn_mask, bool average_attn_weights, bool is_causal) {
    const char* fn = "MultiheadAttention";
    FloatArray q = float_array(query, fn, "query");
    const bool same_k = key.is(query), same_v = value.is(query);
    FloatArray k = same_k ? q : float_array(key, fn, "key");
    FloatArray v = same_v ? q : float_array(value, fn, "value");
    check_values(fn, "query", q.t);
    if (!same_k) check_values(fn, "key", k.t);
    if (!same_v) check_values(fn, "value", v.t);
    const int rank = q.t.rank();
    QKV_CHECK(rank == 2 || rank == 3, fn, ": argument 'query' has shape ", shape_str(q.t.shape()), "; expected ",
              batch_first_ ? "(B, L, E)" : "(L, B, E)", " or unbatched (L, E)");
    QKV_CHECK(k.t.rank() == rank, fn, ": argument 'key' has shape ", shape_str(k.t.shape()), "; expected rank ", rank,
              " like 'query'");
    QKV_CHECK(v.t.rank() == rank, fn, ": argument 'value' has shape ", shape_str(v.t.shape()),
              "; expected rank ", rank, " like 'query'");
    unbatched_ = rank == 2;
    q_ = to_batch_first(q);
    k_ = same_k ? q_ : to_batch_first(k);
    v_ = same_v ? q_ : to_batch_first(v);

    nn::MhaCall c;
    masks_.clear();
    masks_.set(fn, "key_padding_mask", key_padding_mask, c.key_padding_mask, c.key_padding_bias, unbatched_);
    masks_.set(fn, "attn_mask", attn_mask, c.attn_mask, c.attn_bias);
    c.is_causal = is_causal;
    c.need_weights = need_weights;
    c.average_attn_weights = average_attn_weights;
    c.training = training_;
    c.dropout_seed = training_ && m_.options().dropout > 0 ? python_rng().next_u64() : 0;

    TensorF out;
    {
      py::gil_scoped_release nogil;
      out = same_k && same_v ? m_.self_attention(q_.t, c) : m_.forward(q_.t, k_.t, v_.t, c);
    }
    have_forward_ = true;
    py::object weights = py::none();
    if (need_weights) {
      const TensorF& w = m_.weights();
      Shape ws = w.shape();
      if (unbatched_) ws.erase(ws.begin());
      weights = to_numpy(w, ws);
    }
    return py::make_tuple(from_batch_first(out), weights);
  }

  py::tuple backward(ArrayArg dout) {
    const char* fn = "MultiheadAttention.backward";
    QKV_CHECK(have_forward_, fn, ": called before a forward call");
    FloatArray g = float_array(dout, fn, "dout");
    check_values(fn, "dout", g.t);
    FloatArray gb = to_batch_first(g);
    nn::MhaGrads<float> grads;
    {
      py::gil_scoped_release nogil;
      grads = m_.backward(gb.t);
    }
    auto wrap = [&](const TensorF& t) -> py::object {
      if (!t.defined()) return py::none();
      return from_batch_first(t);
    };
    return py::make_tuple(wrap(grads.dquery), wrap(grads.dkey), wrap(grads.dvalue));
  }

  py::dict state_dict() { return state_dict_of(m_); }
  py::dict grads() { return state_dict_of(m_, /*grads=*/true); }
  void load_state_dict(const py::dict& d) { load_state_dict_into(m_, d, "MultiheadAttention.load_state_dict"); }
  void zero_grad() { m_.zero_grad(); }
  PyMha& train(bool mode) {
    training_ = mode;
    return *this;
  }
  bool training() const { return training_; }
  const nn::MultiheadAttention<float>& module() const { return m_; }
  bool batch_first() const { return batch_first_; }

 private:
  // (B, L, E) as given, (L, B, E) transposed to (B, L, E), (L, E) as (1, L, E); contiguous float32.
  FloatArray to_batch_first(const FloatArray& a) const {
    if (a.t.rank() == 2) {
      FloatArray out = a;
      out.t = a.t.view({1, a.t.dim(0), a.t.dim(1)});
      return out;
    }
    if (batch_first_) return a;
    py::module_ np = py::module_::import("numpy");
    py::array t = np.attr("ascontiguousarray")(a.keep.attr("transpose")(1, 0, 2));
    return float_array(t, "MultiheadAttention", "input");
  }
  py::array_t<float> from_batch_first(const TensorF& t) const {
    if (unbatched_) return to_numpy(t, {t.dim(1), t.dim(2)});
    if (batch_first_) return to_numpy(t);
    return to_numpy(t.transpose(0, 1));
  }

  nn::MultiheadAttention<float> m_;
  bool batch_first_ = true;
  bool training_ = true;
  bool unbatched_ = false;
  bool have_forward_ = false;
  FloatArray q_, k_, v_;                 // inputs of the last forward, kept alive for backward
  MaskKeeper masks_;                     // masks of the last forward
};

Binding reg("nn", [](py::module_& m) {
  py::class_<PyMha>(m, "MultiheadAttention",
                    "Multi-head attention with torch.nn.MultiheadAttention's options, masks and state_dict names "
                    "(in_proj_weight, in_proj_bias, q/k/v_proj_weight, out_proj.weight, out_proj.bias).")
      .def(py::init<int64_t, int64_t, py::object, std::optional<int64_t>, std::optional<int64_t>, bool, double,
                    std::optional<int64_t>, std::optional<int64_t>>(),
           py::arg("embed_dim"), py::arg("num_heads"), py::arg("bias") = true, py::arg("kdim") = py::none(),
           py::arg("vdim") = py::none(), py::arg("batch_first") = true, py::arg("dropout") = 0.0,
           py::arg("head_dim") = py::none(), py::arg("num_kv_heads") = py::none())
      .def("__call__", &PyMha::call, py::arg("query"), py::arg("key"), py::arg("value"),
           py::arg("key_padding_mask") = py::none(), py::arg("need_weights") = true,
           py::arg("attn_mask") = py::none(), py::arg("average_attn_weights") = true, py::arg("is_causal") = false)
      .def("backward", &PyMha::backward, py::arg("dout"),
           "Input gradients (dquery, dkey, dvalue) of the last call for the upstream dout; parameter "
           "gradients accumulate (see grads()). Self-attention (query is key is value) returns (dx, None, None).")
      .def("state_dict", &PyMha::state_dict)
      .def("load_state_dict", &PyMha::load_state_dict, py::arg("state_dict"))
      .def("grads", &PyMha::grads, "Parameter gradients keyed by the state_dict names.")
      .def("zero_grad", &PyMha::zero_grad)
      .def("train", &PyMha::train, py::arg("mode") = true, py::return_value_policy::reference)
      .def("eval", [](PyMha& self) -> PyMha& { return self.train(false); }, py::return_value_policy::reference)
      .def_property_readonly("training", &PyMha::training)
      .def_property_readonly("embed_dim", [](const PyMha& s) { return s.module().options().embed_dim; })
      .def_property_readonly("num_heads", [](const PyMha& s) { return s.module().options().num_heads; })
      .def_property_readonly("head_dim", [](const PyMha& s) { return s.module().head_dim(); })
      .def_property_readonly("kdim", [](const PyMha& s) { return s.module().options().kdim; })
      .def_property_readonly("vdim", [](const PyMha& s) { return s.module().options().vdim; })
      .def_property_readonly("num_kv_heads", [](const PyMha& s) { return s.module().options().num_kv_heads; })
      .def_property_readonly("dropout", [](const PyMha& s) { return s.module().options().dropout; })
      .def_property_readonly("batch_first", &PyMha::batch_first);
});

}  // namespace
}  // namespace qkv::python
