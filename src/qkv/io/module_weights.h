// A module's weights from a safetensors file: every parameter from the F32 tensor of its name.
//
// The caller has checked the file first (each model's checked_*_config: present, F32, shape,
// finite); load_state_dict checks the shapes again. Extra tensors (e.g. "optim.*") are ignored.
#pragma once

#include <map>
#include <string>

#include "qkv/io/safetensors.h"
#include "qkv/nn/parameter.h"

namespace qkv::io {

inline void load_module_weights(nn::Module<float>& model, const SafeTensors& file) {
  std::map<std::string, TensorF> dict;
  for (auto& [name, p] : model.named_parameters()) dict[name] = file.get_f32(name);
  model.load_state_dict(dict);
}

}  // namespace qkv::io
