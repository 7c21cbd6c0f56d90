// Registry of the Python module's binding files. Each python/bind_*.cpp registers itself:
//   static qkv::python::Binding reg("attention", [](pybind11::module_& m) { m.def(...); });
// The module only translates NumPy arrays and arguments and calls the library.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <functional>
#include <string>
#include <vector>

namespace qkv::python {

namespace py = pybind11;

struct BindingSpec {
  std::string name;
  std::function<void(py::module_&)> bind;
};

std::vector<BindingSpec>& binding_registry();

struct Binding {
  Binding(std::string name, std::function<void(py::module_&)> bind) {
    binding_registry().push_back({std::move(name), std::move(bind)});
  }
};

}  // namespace qkv::python
