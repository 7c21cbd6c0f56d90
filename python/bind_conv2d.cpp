// qkv.conv2d / qkv.conv2d_backward: the 2-D convolution op (ops/conv2d/conv2d.h, float backend:
// oneDNN's convolution) on NumPy arrays, for parity with torch.nn.functional.conv2d.
//
//   y = qkv.conv2d(x, weight, bias=None, stride=1, padding=0)      x (B, C, H, W), weight (O, C, k, k)
//   dx, dweight, dbias = qkv.conv2d_backward(dy, x, weight, bias=True, stride=1, padding=0)
#include "arrays.h"
#include "bindings.h"
#include "qkv/ops/conv2d/conv2d.h"

namespace qkv::python {
namespace {

struct ConvArgs {
  FloatArray x, w;
  Conv2dShape s;
};

ConvArgs conv_args(const char* fn, py::handle x, py::handle weight, int64_t stride, int64_t padding) {
  ConvArgs a{float_array(x, fn, "x"), float_array(weight, fn, "weight"), {}};
  QKV_CHECK(a.x.t.rank() == 4, fn, ": argument 'x' has shape ", shape_str(a.x.t.shape()), "; expected (B, C, H, W)");
  QKV_CHECK(a.w.t.rank() == 4 && a.w.t.dim(2) == a.w.t.dim(3) && a.w.t.dim(1) == a.x.t.dim(1), fn,
            ": argument 'weight' has shape ", shape_str(a.w.t.shape()), "; expected (O, ", a.x.t.dim(1), ", k, k)");
  check_values(fn, "x", a.x.t);
  check_values(fn, "weight", a.w.t);
  a.s = Conv2dShape{a.x.t.dim(0), a.x.t.dim(1), a.x.t.dim(2), a.x.t.dim(3), a.w.t.dim(0), a.w.t.dim(2), stride, padding};
  a.s.validate(fn);
  return a;
}

Binding reg("conv2d", [](py::module_& m) {
  m.def(
      "conv2d",
      [](py::handle x, py::handle weight, py::handle bias, int64_t stride, int64_t padding) {
        const char* fn = "conv2d";
        ConvArgs a = conv_args(fn, x, weight, stride, padding);
        FloatArray b;
        if (!bias.is_none()) {
          b = float_array(bias, fn, "bias");
          check_shape(fn, "bias", b.t, {a.s.out_channels});
          check_values(fn, "bias", b.t);
        }
        TensorF y({a.s.batch, a.s.out_channels, a.s.out_height(), a.s.out_width()});
        {
          py::gil_scoped_release release;
          conv2d_forward<float>(a.s, a.x.t.data(), a.w.t.data(), bias.is_none() ? nullptr : b.t.data(), y.data());
        }
        return to_numpy(y);
      },
      py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
      "2-D convolution as torch.nn.functional.conv2d (square kernel, no dilation or groups)");
  m.def(
      "conv2d_backward",
      [](py::handle dy, py::handle x, py::handle weight, bool bias, int64_t stride, int64_t padding) {
        const char* fn = "conv2d_backward";
        ConvArgs a = conv_args(fn, x, weight, stride, padding);
        FloatArray g = float_array(dy, fn, "dy");
        check_shape(fn, "dy", g.t, {a.s.batch, a.s.out_channels, a.s.out_height(), a.s.out_width()});
        check_values(fn, "dy", g.t);
        TensorF dx(a.x.t.shape()), dw(a.w.t.shape()), db({a.s.out_channels});
        dw.fill(0.0f);
        db.fill(0.0f);
        {
          py::gil_scoped_release release;
          conv2d_backward<float>(a.s, g.t.data(), a.x.t.data(), a.w.t.data(), dx.data(), dw.data(),
                                 bias ? db.data() : nullptr);
        }
        return py::make_tuple(to_numpy(dx), to_numpy(dw), bias ? py::object(to_numpy(db)) : py::object(py::none()));
      },
      py::arg("dy"), py::arg("x"), py::arg("weight"), py::arg("bias") = true, py::arg("stride") = 1,
      py::arg("padding") = 0, "Gradients (dx, dweight, dbias or None) of sum(dy * conv2d(x, weight, bias))");
});

}  // namespace
}  // namespace qkv::python
