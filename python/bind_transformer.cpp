// Python: qkv.Transformer, torch.nn.Transformer's (1.13) arguments, masks and state_dict.
//
//   Transformer(d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
//               dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
//               batch_first=False, norm_first=False)
//   m(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
//     tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=False) → out
//   m.backward(dout) → (dsrc, dtgt)
//   m.state_dict() / m.load_state_dict(d) / m.grads() / m.zero_grad() / m.train(mode) / m.eval()
// Layouts: (S, B, E), (T, B, E) or with batch_first (B, S, E), (B, T, E). Masks use
// nn.MultiheadAttention's polarity (bool True = do not attend, floats added); tgt_is_causal
// applies the causal mask in the fused kernel (torch 1.13 has no tgt_is_causal: give it
// generate_square_subsequent_mask). Starts in training mode like torch; dropout seeds come
// from the module's generator.
#include <pybind11/stl.h>

#include <string>

#include "arrays.h"
#include "bindings.h"
#include "masks.h"
#include "module_state.h"
#include "qkv/nn/transformer.h"

namespace qkv::python {
namespace {

class PyTransformer {
 public:
  explicit PyTransformer(const nn::TransformerOptions& o) : m_(o, python_rng()) {}
  PyTransformer(const PyTransformer&) = delete;  // the layers are owned once
  PyTransformer& operator=(const PyTransformer&) = delete;

  py::array_t<float> call(ArrayArg src, ArrayArg tgt, ArrayArg src_mask, ArrayArg tgt_mask, ArrayArg memory_mask,
                          ArrayArg src_key_padding_mask, ArrayArg tgt_key_padding_mask,
                          ArrayArg memory_key_padding_mask, bool tgt_is_causal) {
    const char* fn = "Transformer";
    src_ = float_array(src, fn, "src");
    tgt_ = float_array(tgt, fn, "tgt");
    check_values(fn, "src", src_.t);
    check_values(fn, "tgt", tgt_.t);
    nn::TransformerCall c;
    masks_.clear();
    masks_.set(fn, "src_mask", src_mask, c.src.attn_mask, c.src.attn_bias);
    masks_.set(fn, "src_key_padding_mask", src_key_padding_mask, c.src.key_padding_mask, c.src.key_padding_bias);
    masks_.set(fn, "tgt_mask", tgt_mask, c.tgt.attn_mask, c.tgt.attn_bias);
    masks_.set(fn, "tgt_key_padding_mask", tgt_key_padding_mask, c.tgt.key_padding_mask, c.tgt.key_padding_bias);
    masks_.set(fn, "memory_mask", memory_mask, c.memory.attn_mask, c.memory.attn_bias);
    masks_.set(fn, "memory_key_padding_mask", memory_key_padding_mask, c.memory.key_padding_mask,
               c.memory.key_padding_bias);
    c.tgt.is_causal = tgt_is_causal;
    const uint64_t seed = training_ && m_.options().dropout > 0 ? python_rng().next_u64() : 0;
    TensorF out;
    {
      py::gil_scoped_release nogil;
      out = m_.forward(src_.t, tgt_.t, c, training_, seed);
    }
    have_forward_ = true;
    return to_numpy(out);
  }

  py::tuple backward(ArrayArg dout) {
    const char* fn = "Transformer.backward";
    QKV_CHECK(have_forward_, fn, ": called before a forward call");
    FloatArray g = float_array(dout, fn, "dout");
    check_values(fn, "dout", g.t);
    nn::TransformerGrads<float> grads;
    {
      py::gil_scoped_release nogil;
      grads = m_.backward(g.t);
    }
    return py::make_tuple(to_numpy(grads.dsrc), to_numpy(grads.dtgt));
  }

  nn::Transformer<float>& module() { return m_; }
  PyTransformer& train(bool mode) {
    training_ = mode;
    return *this;
  }
  bool training() const { return training_; }

 private:
  nn::Transformer<float> m_;
  bool training_ = true;
  bool have_forward_ = false;
  FloatArray src_, tgt_;  // inputs of the last forward, kept alive for backward
  MaskKeeper masks_;      // masks of the last forward
};

Binding reg("transformer", [](py::module_& m) {
  py::class_<PyTransformer>(m, "Transformer",
                            "Encoder-decoder Transformer with torch.nn.Transformer's (1.13) options, masks and "
                            "state_dict names (encoder.layers.i.self_attn.in_proj_weight, .linear1.weight, "
                            ".norm1.weight, encoder.norm.weight, decoder.layers.i.multihead_attn.*, ...).")
      .def(py::init([](int64_t d_model, int64_t nhead, int64_t num_encoder_layers, int64_t num_decoder_layers,
                       int64_t dim_feedforward, double dropout, const std::string& activation, double layer_norm_eps,
                       bool batch_first, bool norm_first) {
             nn::TransformerOptions o;
             o.d_model = d_model;
             o.nhead = nhead;
             o.num_encoder_layers = num_encoder_layers;
             o.num_decoder_layers = num_decoder_layers;
             o.dim_feedforward = dim_feedforward;
             o.dropout = dropout;
             o.activation = nn::parse_activation(activation);
             o.layer_norm_eps = layer_norm_eps;
             o.batch_first = batch_first;
             o.norm_first = norm_first;
             return new PyTransformer(o);
           }),
           py::arg("d_model") = 512, py::arg("nhead") = 8, py::arg("num_encoder_layers") = 6,
           py::arg("num_decoder_layers") = 6, py::arg("dim_feedforward") = 2048, py::arg("dropout") = 0.1,
           py::arg("activation") = "relu", py::arg("layer_norm_eps") = 1e-5, py::arg("batch_first") = false,
           py::arg("norm_first") = false)
      .def("__call__", &PyTransformer::call, py::arg("src"), py::arg("tgt"), py::arg("src_mask") = py::none(),
           py::arg("tgt_mask") = py::none(), py::arg("memory_mask") = py::none(),
           py::arg("src_key_padding_mask") = py::none(), py::arg("tgt_key_padding_mask") = py::none(),
           py::arg("memory_key_padding_mask") = py::none(), py::arg("tgt_is_causal") = false)
      .def("forward", &PyTransformer::call, py::arg("src"), py::arg("tgt"), py::arg("src_mask") = py::none(),
           py::arg("tgt_mask") = py::none(), py::arg("memory_mask") = py::none(),
           py::arg("src_key_padding_mask") = py::none(), py::arg("tgt_key_padding_mask") = py::none(),
           py::arg("memory_key_padding_mask") = py::none(), py::arg("tgt_is_causal") = false)
      .def("backward", &PyTransformer::backward, py::arg("dout"),
           "Input gradients (dsrc, dtgt) of the last call for the upstream dout; parameter gradients accumulate.")
      .def("state_dict", [](PyTransformer& s) { return state_dict_of(s.module()); })
      .def("load_state_dict",
           [](PyTransformer& s, const py::dict& d) { load_state_dict_into(s.module(), d, "Transformer.load_state_dict"); },
           py::arg("state_dict"))
      .def("grads", [](PyTransformer& s) { return state_dict_of(s.module(), /*grads=*/true); },
           "Parameter gradients keyed by the state_dict names.")
      .def("zero_grad", [](PyTransformer& s) { s.module().zero_grad(); })
      .def("train", &PyTransformer::train, py::arg("mode") = true, py::return_value_policy::reference)
      .def("eval", [](PyTransformer& self) -> PyTransformer& { return self.train(false); },
           py::return_value_policy::reference)
      .def_property_readonly("training", &PyTransformer::training)
      .def_property_readonly("d_model", [](PyTransformer& s) { return s.module().options().d_model; })
      .def_property_readonly("nhead", [](PyTransformer& s) { return s.module().options().nhead; })
      .def_property_readonly("batch_first", [](PyTransformer& s) { return s.module().options().batch_first; })
      .def_property_readonly("norm_first", [](PyTransformer& s) { return s.module().options().norm_first; });
});

}  // namespace
}  // namespace qkv::python
