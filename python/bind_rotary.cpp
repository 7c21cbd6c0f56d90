// Python: rotary position embeddings on float32 NumPy arrays.
//
//   rotary_embedding(x, base=10000.0, rotary_dim=None, interleaved=False, position_offset=0) → y
//   rotary_embedding_backward(dy, base=10000.0, rotary_dim=None, interleaved=False, position_offset=0) → dx
// x: (L, d), (B, L, d) or (B, H, L, d). position_offset: an int (the position of token 0) or an
// integer array (B,) with one offset per batch (x of rank 3 or 4). interleaved=False is the
// half-split layout of Hugging Face's rotate_half; True pairs channels (2p, 2p+1) as RoFormer.
#include <pybind11/stl.h>

#include "arrays.h"
#include "bindings.h"
#include "qkv/ops/rotary/rotary.h"

namespace qkv::python {
namespace {

py::array_t<float> rotary_py(const char* fn, bool backward, const ArrayArg& x_arg, double base,
                             std::optional<int64_t> rotary_dim, bool interleaved, const py::object& offset) {
  FloatArray x = float_array(x_arg, fn, backward ? "dy" : "x");
  const Shape shape = x.t.shape();
  QKV_CHECK(shape.size() >= 2 && shape.size() <= 4, fn, ": argument '", backward ? "dy" : "x", "' has shape ",
            shape_str(shape), "; expected (L, d), (B, L, d) or (B, H, L, d)");
  check_values(fn, backward ? "dy" : "x", x.t);
  const int64_t B = shape.size() >= 3 ? shape[0] : 1, H = shape.size() == 4 ? shape[1] : 1;
  const int64_t L = shape[shape.size() - 2], d = shape.back();
  RotaryOptions options;
  options.base = base;
  options.rotary_dim = rotary_dim.value_or(0);
  QKV_CHECK(!rotary_dim || *rotary_dim > 0, fn, ": rotary_dim=", *rotary_dim,
            "; expected None (all of d) or an even number from 2 to d");
  options.interleaved = interleaved;
  if (py::isinstance<py::int_>(offset)) {
    options.position_offsets = {offset.cast<int64_t>()};
  } else {
    IntArray offsets = int_array(offset, fn, "position_offset");
    QKV_CHECK(offsets.t.rank() == 1 && offsets.t.dim(0) == B && shape.size() >= 3, fn,
              ": argument 'position_offset' has shape ", shape_str(offsets.t.shape()),
              "; expected an int, or one offset per batch (", B, ",) for x of rank 3 or 4");
    options.position_offsets.assign(offsets.t.data(), offsets.t.data() + B);
  }
  const TensorF x4 = x.t.view({B, H, L, d});
  TensorF y;
  {
    py::gil_scoped_release release;
    y = backward ? rotary_backward(x4, options) : rotary_forward(x4, options);
  }
  return adopt_numpy(y, shape);
}

Binding reg("rotary", [](py::module_& m) {
  m.def("rotary_embedding",
        [](const ArrayArg& x, double base, std::optional<int64_t> rotary_dim, bool interleaved,
           const py::object& position_offset) {
          return rotary_py("rotary_embedding", false, x, base, rotary_dim, interleaved, position_offset);
        },
        py::arg("x"), py::arg("base") = 10000.0, py::arg("rotary_dim") = py::none(), py::arg("interleaved") = false,
        py::arg("position_offset") = 0,
        "Rotary position embeddings (RoPE) of x (L, d), (B, L, d) or (B, H, L, d): channel pairs turned by "
        "(position_offset + l) * base**(-2p/rotary_dim). interleaved=False pairs (p, p + r/2) as Hugging Face's "
        "rotate_half; True pairs (2p, 2p + 1).");
  m.def("rotary_embedding_backward",
        [](const ArrayArg& dy, double base, std::optional<int64_t> rotary_dim, bool interleaved,
           const py::object& position_offset) {
          return rotary_py("rotary_embedding_backward", true, dy, base, rotary_dim, interleaved, position_offset);
        },
        py::arg("dy"), py::arg("base") = 10000.0, py::arg("rotary_dim") = py::none(), py::arg("interleaved") = false,
        py::arg("position_offset") = 0, "The gradient of rotary_embedding with respect to x, given dy.");
});

}  // namespace
}  // namespace qkv::python
