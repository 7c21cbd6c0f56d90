// qkv.load_vit(path) → a ViT whose call on a NumPy batch of images returns the logits, so a
// checkpoint written by `qkv train` can be compared with a PyTorch model given the same weights.
//
//   vit = qkv.load_vit("runs/vit/model.safetensors")
//   logits = vit(images)      # images (N, S, S) or (N, C, S, S), already normalised
//   vit.config                # dict: image_size, channels, patch, dim, depth, heads, mlp_hidden, ...
//   vit.state_dict()          # {name: float32 array} with PyTorch's names
//   vit.gradients(images, dlogits)  # {name: float32 array}: the parameters' gradients of
//                             # Σ dlogits·logits (evaluation mode), for parity with torch's autograd
#include <pybind11/stl.h>

#include <memory>

#include "arrays.h"
#include "bindings.h"
#include "module_state.h"
#include "qkv/models/vit.h"

namespace qkv::python {
namespace {

struct PyVit {
  std::unique_ptr<models::Vit<float>> model;

  // images (N, S, S) or (N, C, S, S), checked; `keep` holds the memory the tensor borrows.
  TensorF checked_images(py::handle images, const char* fn, FloatArray& a) {
    a = float_array(images, fn, "images");
    const auto& c = model->config();
    TensorF x = a.t;
    if (x.rank() == 3) x = x.view({x.dim(0), 1, x.dim(1), x.dim(2)});
    QKV_CHECK(x.rank() == 4, fn, ": argument 'images' has shape ", shape_str(a.t.shape()), "; expected (N, ",
              c.image_size, ", ", c.image_size, ") or (N, ", c.channels, ", ", c.image_size, ", ", c.image_size, ")");
    check_shape(fn, "images", x, {-1, c.channels, c.image_size, c.image_size});
    QKV_CHECK(x.dim(0) > 0, fn, ": argument 'images' is an empty batch");
    check_values(fn, "images", x);
    return x;
  }

  py::array_t<float> call(py::handle images) {
    FloatArray a;
    const TensorF x = checked_images(images, "Vit.__call__", a);
    TensorF logits;
    {
      py::gil_scoped_release release;
      logits = model->forward(x, false).clone();
    }
    return to_numpy(logits);
  }

  py::dict config() const {
    const auto& c = model->config();
    py::dict d;
    d["image_size"] = c.image_size;
    d["channels"] = c.channels;
    d["patch"] = c.patch;
    d["dim"] = c.dim;
    d["depth"] = c.depth;
    d["heads"] = c.heads;
    d["mlp_hidden"] = c.mlp_hidden;
    d["classes"] = c.classes;
    d["dropout"] = c.dropout;
    d["attn_dropout"] = c.attn_dropout;
    d["stem"] = c.stem;
    d["stem_channels"] = c.stem_channels;
    d["pool"] = c.pool;
    d["drop_path"] = c.drop_path;
    return d;
  }

  py::dict state_dict() { return state_dict_of(*model); }

  py::dict gradients(py::handle images, py::handle dlogits) {
    const char* fn = "Vit.gradients";
    FloatArray a, g;
    const TensorF x = checked_images(images, fn, a);
    g = float_array(dlogits, fn, "dlogits");
    check_shape(fn, "dlogits", g.t, {x.dim(0), model->config().classes});
    check_values(fn, "dlogits", g.t);
    {
      py::gil_scoped_release release;
      model->forward(x, false);
      model->zero_grad();
      model->backward(g.t);
    }
    return state_dict_of(*model, true);
  }
};

Binding reg("vit", [](py::module_& m) {
  py::class_<PyVit>(m, "Vit", "A Vision Transformer loaded from a qkv safetensors checkpoint")
      .def("__call__", &PyVit::call, py::arg("images"),
           "Logits (N, classes) for images (N, S, S) or (N, C, S, S) of normalised pixels "
           "((x/255 - 0.2860)/0.3530 for Fashion-MNIST)")
      .def_property_readonly("config", &PyVit::config)
      .def("state_dict", &PyVit::state_dict, "Parameters under PyTorch's state_dict names (float32 copies)")
      .def("gradients", &PyVit::gradients, py::arg("images"), py::arg("dlogits"),
           "Gradients of sum(dlogits * logits) with respect to every parameter (evaluation mode), "
           "by state_dict name");
  m.def(
      "load_vit",
      [](const std::string& path) {
        PyVit v;
        v.model = models::load_vit(path);
        return v;
      },
      py::arg("path"), "Load a ViT from model.safetensors / checkpoint.safetensors written by `qkv train`");
});

}  // namespace
}  // namespace qkv::python
