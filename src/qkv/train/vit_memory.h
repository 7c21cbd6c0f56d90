// Memory a ViT asks for, estimated from its config before anything is allocated, and checked
// against the budget (core/memory_budget.h): `--dim 1e5` or `--depth 1e6` end in a message
// naming the options instead of std::bad_alloc after gigabytes.
//
// Parameters P (weights and biases of every layer). Training: the master copy holds value,
// gradient and AdamW's two moments (4P), each further data-parallel replica value and gradient
// (2P); activations per image and block ~ 2 × L × (11E + 2·mlp + heads·L) floats (what forward
// saves, and as much again in the backward). Inference: P plus one block's working set per image.
#pragma once

#include <cstdint>
#include <string>

#include "qkv/models/vit.h"

namespace qkv::train {

double vit_parameter_count(const models::VitConfig& c);
double vit_training_bytes(const models::VitConfig& c, int64_t batch, int replicas);
double vit_inference_bytes(const models::VitConfig& c, int64_t batch);

// Throws qkv::Error "<where>: needs about ... (sized by the model options --dim, --depth,
// --mlp-hidden, --heads, --patch and <batch_option>); the limit is ...".
void check_vit_memory(const std::string& where, const models::VitConfig& c, int64_t batch, int replicas,
                      bool training, const std::string& batch_option);

}  // namespace qkv::train
