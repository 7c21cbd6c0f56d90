// Parameters and the Module base: named, preallocated value/gradient pairs.
//
// Names follow PyTorch's state_dict ("in_proj_weight", "out_proj.bias", ...), so weights move
// between qkv and PyTorch unchanged. Gradients accumulate (+=) in backward(); zero_grad() clears.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "qkv/core/tensor.h"

namespace qkv::nn {

template <typename T>
struct Parameter {
  Tensor<T> value;
  Tensor<T> grad;          // same shape as value
  bool weight_decay = true;  // false for biases, norms, embeddings and tokens

  Parameter() = default;
  explicit Parameter(Shape shape, bool decay = true) : value(shape), grad(shape), weight_decay(decay) {}
};

template <typename T>
using NamedParameters = std::vector<std::pair<std::string, Parameter<T>*>>;

template <typename T>
class Module {
 public:
  virtual ~Module() = default;

  // Appends every parameter, its name prefixed by `prefix` ("" or "blocks.0.attn.").
  virtual void collect_parameters(const std::string& prefix, NamedParameters<T>& out) = 0;

  NamedParameters<T> named_parameters() {
    NamedParameters<T> out;
    collect_parameters("", out);
    return out;
  }
  void zero_grad() {
    for (auto& [name, p] : named_parameters()) p->grad.fill(T(0));
  }
  std::map<std::string, Tensor<T>> state_dict() {
    std::map<std::string, Tensor<T>> out;
    for (auto& [name, p] : named_parameters()) out[name] = p->value.clone();
    return out;
  }
  // Every parameter must be present with its exact shape; unknown keys are an error too.
  void load_state_dict(const std::map<std::string, Tensor<T>>& dict) {
    auto params = named_parameters();
    for (auto& [name, p] : params) {
      auto it = dict.find(name);
      QKV_CHECK(it != dict.end(), "load_state_dict: missing key '", name, "' (expected shape ",
                shape_str(p->value.shape()), ")");
      QKV_CHECK(it->second.shape() == p->value.shape(), "load_state_dict: key '", name, "' has shape ",
                shape_str(it->second.shape()), "; expected ", shape_str(p->value.shape()));
      p->value.copy_from(it->second);
    }
    for (auto& [key, value] : dict) {
      bool known = false;
      for (auto& [name, p] : params) known = known || name == key;
      QKV_CHECK(known, "load_state_dict: unexpected key '", key, "'");
    }
  }
};

}  // namespace qkv::nn
