// The qkv Python module: NumPy in, NumPy out, PyTorch's names and semantics.
#include <algorithm>

#include "bindings.h"
#include "qkv/core/error.h"
#include "qkv/core/parallel.h"

namespace qkv::python {
std::vector<BindingSpec>& binding_registry() {
  static std::vector<BindingSpec> registry;
  return registry;
}
}  // namespace qkv::python

PYBIND11_MODULE(qkv, m) {
  namespace py = pybind11;
  m.doc() = "qkv: Query/Key/Value attention, exact, differentiable and fast on a CPU";
  // qkv::Error (bad shapes, masks, arguments) surfaces as ValueError; never an abort. Its text
  // may quote bytes from a file or a path that are not UTF-8: they decode as U+FFFD instead of
  // leaving an empty message.
  static py::exception<qkv::Error>& error_type = py::register_exception<qkv::Error>(m, "Error", PyExc_ValueError);
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const qkv::Error& e) {
      const std::string what = e.what();
      PyObject* text = PyUnicode_DecodeUTF8(what.data(), static_cast<Py_ssize_t>(what.size()), "replace");
      PyErr_SetObject(error_type.ptr(), text);
      Py_XDECREF(text);
    }
  });
  m.def(
      "set_num_threads",
      [](const py::int_& n) {
        // Any Python int, so that one beyond 64 bits gets qkv's message instead of pybind11's.
        const long long value = PyLong_AsLongLong(n.ptr());
        if (value == -1 && PyErr_Occurred()) {
          PyErr_Clear();
          const std::string text = py::repr(n).cast<std::string>();
          qkv::fail("set_num_threads: argument 'n' is ", text,
                    "; expected an integer in [1, ", qkv::kMaxThreads, "]");
        }
        qkv::set_num_threads(value);
      },
      py::arg("n"), "Threads used by qkv's kernels.");
  m.def("get_num_threads", &qkv::num_threads);
  auto& registry = qkv::python::binding_registry();
  std::sort(registry.begin(), registry.end(), [](auto& a, auto& b) { return a.name < b.name; });
  for (auto& b : registry) b.bind(m);
}
