// qkv.cross_entropy(logits, target, label_smoothing=0.0) → (loss, dlogits): the training loss
// of train/cross_entropy.h, as torch.nn.functional.cross_entropy (reduction "mean") takes it:
// target an integer array (N,) of classes (ignore_index −100), or a floating array (N, C) of
// probabilities (soft targets, as mixup and cutmix make them). dlogits (N, C) is the gradient of
// the loss.
#include "arrays.h"
#include "bindings.h"
#include "qkv/train/cross_entropy.h"

namespace qkv::python {
namespace {

py::tuple cross_entropy(py::handle logits, py::handle target, double label_smoothing) {
  const char* fn = "cross_entropy";
  FloatArray z = float_array(logits, fn, "logits");
  check_rank(fn, "logits", z.t, 2);
  py::array t = as_array(target, fn, "target");
  TensorF dlogits;
  train::CrossEntropyResult r;
  if (t.dtype().kind() == 'f') {
    FloatArray q = float_array(target, fn, "target");
    py::gil_scoped_release release;
    r = train::soft_cross_entropy(z.t, q.t, &dlogits, label_smoothing);
  } else {
    IntArray y = int_array(target, fn, "target");
    py::gil_scoped_release release;
    r = train::cross_entropy(z.t, y.t, &dlogits, -100, label_smoothing);
  }
  return py::make_tuple(r.loss, adopt_numpy(dlogits, dlogits.shape()));
}

Binding reg("train", [](py::module_& m) {
  m.def("cross_entropy", &cross_entropy, py::arg("logits"), py::arg("target"), py::arg("label_smoothing") = 0.0,
        "(loss, dlogits): mean cross-entropy of logits (N, C) against class indices (N,) or probabilities (N, C), "
        "as torch.nn.functional.cross_entropy, and its gradient");
});

}  // namespace
}  // namespace qkv::python
