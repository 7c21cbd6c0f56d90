// A module's parameters at the Python boundary (header-only): state_dict, grads and
// load_state_dict keyed by PyTorch's names, shared by the module bindings.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "arrays.h"
#include "qkv/nn/parameter.h"

namespace qkv::python {

// {name: float32 copy of the value} (or of the gradient with grads = true).
inline py::dict state_dict_of(nn::Module<float>& m, bool grads = false) {
  py::dict d;
  for (auto& [name, p] : m.named_parameters()) d[py::str(name)] = to_numpy(grads ? p->grad : p->value);
  return d;
}

// Every key present with its exact shape and finite values; errors name the key.
inline void load_state_dict_into(nn::Module<float>& m, const py::dict& d, const char* fn) {
  std::map<std::string, TensorF> dict;
  std::vector<FloatArray> keep;
  for (auto item : d) {
    std::string name = py::str(item.first);
    keep.push_back(float_array(item.second, fn, name.c_str()));
    check_values(fn, name.c_str(), keep.back().t);
    dict[name] = keep.back().t;
  }
  m.load_state_dict(dict);
}

}  // namespace qkv::python
