#include "qkv/train/vit_memory.h"

#include <algorithm>
#include <cmath>

#include "qkv/core/memory_budget.h"

namespace qkv::train {
namespace {

double d(int64_t v) { return static_cast<double>(v); }

// Floats one image keeps per block: what forward saves for the backward.
double per_image_block(const models::VitConfig& c) {
  const double L = d(c.tokens()), E = d(c.dim), M = d(c.mlp_hidden), H = d(c.heads);
  return L * (11 * E + 2 * M + H * L);
}

// Floats one image keeps in the conv stem: each convolution's output and GELU's, and the float
// backend's copies in oneDNN's layouts (channels padded to blocks of 16) of the input, the output
// and the output gradient of the largest convolution.
double per_image_stem(const models::VitConfig& c) {
  if (!c.conv_stem()) return 0;
  const auto blocks = [](double channels) { return 16 * std::ceil(channels / 16); };
  double total = 0, scratch = 0, in = d(c.channels), side = d(c.image_size);
  for (size_t i = 0; i <= c.stem_channels.size(); ++i) {
    const double out = i < c.stem_channels.size() ? d(c.stem_channels[i]) : d(c.dim);
    const double in_side = side;
    if (i > 0) side = std::ceil(side / 2);
    total += 2 * out * side * side;
    scratch = std::max(scratch, in_side * in_side * blocks(in) + 2 * side * side * blocks(out));
    in = out;
  }
  return total + scratch;
}

}  // namespace

double vit_parameter_count(const models::VitConfig& c) {
  const double E = d(c.dim), M = d(c.mlp_hidden), patch_dim = d(c.channels) * d(c.patch) * d(c.patch);
  double stem = patch_dim * E + E;
  if (c.conv_stem()) {
    stem = 0;
    double in = d(c.channels);
    for (size_t i = 0; i <= c.stem_channels.size(); ++i) {
      const double out = i < c.stem_channels.size() ? d(c.stem_channels[i]) : E;
      stem += out * in * 9 + out;
      in = out;
    }
  }
  const double embed = stem + (c.class_token() ? E : 0) + d(c.tokens()) * E;
  const double block = 4 * E * E + 4 * E + 2 * E * M + M + E + 4 * E;
  const double head = 2 * E + E * d(c.classes) + d(c.classes);
  return embed + d(c.depth) * block + head;
}

double vit_training_bytes(const models::VitConfig& c, int64_t batch, int replicas) {
  const double P = vit_parameter_count(c);
  const double r = std::max(1, replicas);
  const double activations = 2 * d(batch) * (d(c.depth) * per_image_block(c) + per_image_stem(c) +
                                             d(c.channels) * d(c.image_size) * d(c.image_size));
  return 4.0 * ((4 + 2 * (r - 1)) * P + activations);
}

double vit_inference_bytes(const models::VitConfig& c, int64_t batch) {
  const double images = d(batch) * d(c.channels) * d(c.image_size) * d(c.image_size);
  return 4.0 * (vit_parameter_count(c) + 2 * d(batch) * (per_image_block(c) + per_image_stem(c)) + images);
}

void check_vit_memory(const std::string& where, const models::VitConfig& c, int64_t batch, int replicas,
                      bool training, const std::string& batch_option) {
  const double bytes = training ? vit_training_bytes(c, batch, replicas) : vit_inference_bytes(c, batch);
  check_memory(where, bytes, "the model options --dim, --depth, --mlp-hidden, --heads, --patch and " + batch_option);
}

}  // namespace qkv::train
